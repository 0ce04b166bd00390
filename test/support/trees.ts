import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A directory tree as relative path → what it holds: a file's SHA-256 and mode, a symlink's
 * target, or `dir` for a directory. Equal maps mean equal trees.
 */
export function treeOf(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      const at = relative(root, path);
      if (stat.isSymbolicLink()) entries.set(at, `-> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        entries.set(at, `dir ${(stat.mode & 0o7777).toString(8)}`);
        walk(path);
      } else entries.set(at, `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${(stat.mode & 0o7777).toString(8)}`);
    }
  };
  walk(root);
  return entries;
}
