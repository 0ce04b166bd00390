import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/**
 * Reads a config selected by name or path: `prod` finds `config/prod.json` or
 * `config/prod.ts` (default export, or an export named `config`); a path is read as is.
 */
export function readConfigSource(selection: string, baseDir: string): unknown {
  const candidates = /[\\/]|\.(json|ts|js)$/.test(selection)
    ? [isAbsolute(selection) ? selection : resolve(baseDir, selection)]
    : ['json', 'ts', 'js'].map((ext) => resolve(baseDir, 'config', `${selection}.${ext}`));
  const file = candidates.find((candidate) => existsSync(candidate));
  if (!file) {
    throw new Error(`config: no config file for '${selection}' (looked for ${candidates.join(', ')})`);
  }
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (error) {
      throw new Error(`config: ${file} is not valid JSON: ${(error as Error).message}`);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(file) as { default?: unknown; config?: unknown };
  const value = loaded.default ?? loaded.config;
  if (value === undefined) {
    throw new Error(`config: ${file} must export the config as default or as 'config'`);
  }
  return value;
}
