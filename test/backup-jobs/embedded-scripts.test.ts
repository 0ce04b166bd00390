import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withoutCommentLines } from '../../lib/constructs/instance-command-document';
import { RESTORE_SCRIPT_FILES } from '../../lib/constructs/restore-command-document';
import { INSTANCE_SCRIPTS_DIR } from '../support/backup-script';

/**
 * The documents embed the instance scripts without their comment lines. bash parses a script as
 * the body of a function and prints what it parsed (`declare -f`, which keeps no comment): the
 * same print for the file and for its embedded copy means the same code, line for line.
 */
function parsedByBash(script: string): string {
  const result = spawnSync('bash', ['-c', 'body=$(cat); eval "__embedded() {\n$body\n}" && declare -f __embedded'], { input: script, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

describe('instance scripts as the documents embed them', () => {
  it.each(RESTORE_SCRIPT_FILES.map((file) => [file]))('%s: bash parses the embedded copy to the same code as the file', (file) => {
    const text = readFileSync(join(INSTANCE_SCRIPTS_DIR, file), 'utf8');
    const embedded = withoutCommentLines(text);
    expect(parsedByBash(embedded)).toBe(parsedByBash(text));
    expect(embedded.split('\n')[0]).toBe(text.split('\n')[0]);
    expect(embedded.length).toBeLessThan(text.length);
  });

  it('keeps what only looks like a comment: inside quotes, here-documents (<< and <<-), ${#…}, $# and after a backslash-newline', () => {
    // Each line, and whether the embedded copy keeps it.
    const lines: [string, boolean][] = [
      ['#!/usr/bin/env bash', true],
      ['# a comment line', false],
      ['', false],
      ["python3 -c '", true],
      ['# a Python comment, inside the quotes', true],
      ['print(1 << 20)', true],
      ["'", true],
      ["cat <<'END'", true],
      ['# a line of a here-document', true],
      ['', true],
      ['END', true],
      ['cat <<-END', true],
      ['\t# indented here-document line', true],
      ['\tEND', true],
      ['echo "${#1} $# \'#\' \\" # still in the string', true],
      ['# and out of it"', true],
      ["echo $'it\\'s' # a trailing comment stays", true],
      ['  # an indented comment', false],
      ['echo continued \\', true],
      ['# joined to the line above: left out, the next line would be joined instead', true],
      ['exit 0', true],
    ];
    const script = lines.map(([line]) => line).join('\n');
    const embedded = withoutCommentLines(script);
    expect(embedded).toBe(`${lines.filter(([, kept]) => kept).map(([line]) => line).join('\n')}\n`);
    expect(parsedByBash(embedded)).toBe(parsedByBash(script));
  });
});
