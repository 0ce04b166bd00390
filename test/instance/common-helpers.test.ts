import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INSTANCE_SCRIPTS_DIR } from '../support/backup-script';

/**
 * The helpers of common.sh that run inside the shell to spare a fork each (JSON quoting, the
 * clock), against what they stand for: JSON.parse, and the machine's clock; the clock also
 * through its date(1) fallback.
 */

function bash(script: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync('bash', ['-c', `set -euo pipefail; source "${join(INSTANCE_SCRIPTS_DIR, 'common.sh')}"; ${script}`, 'common-helpers', ...args], { encoding: 'utf8', env });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

describe('common.sh: JSON quoting in the shell', () => {
  it('quotes any string so that JSON.parse gives it back (quotes, backslashes, control characters, Unicode)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }).map((text) => text.replace(/\0/g, '')), { minLength: 1, maxLength: 12 }), (strings) => {
        const lines = bash('json_quote_each "$@"; printf "%s\\n" "${JSON_QUOTED[@]}"', strings).split('\n').slice(0, -1);
        expect(lines.map((line) => JSON.parse(line) as string)).toEqual(strings);
      }),
      { numRuns: 40 },
    );
  });

  it('json_str prints what json_quote sets', () => {
    expect(bash('json_str "$1"; json_quote quoted "$1"; printf "|%s" "$quoted"', ['say "hi"\\\n'])).toBe('"say \\"hi\\"\\\\\\n"|"say \\"hi\\"\\\\\\n"');
  });
});

describe('common.sh: the clock', () => {
  const near = (value: number, expected: number, slackMs: number) => expect(Math.abs(value - expected)).toBeLessThan(slackMs);

  it.each([
    ['from the shell (EPOCHREALTIME, printf %()T)', ''],
    ['through date(1) (EPOCHREALTIME unset, as before bash 5)', 'unset EPOCHREALTIME;'],
  ])('tells the time %s', (_how, prelude) => {
    const before = Date.now();
    const [ms = '', iso = ''] = bash(`${prelude} now_ms; utc_now now; echo "$now"`).split('\n');
    const after = Date.now();
    expect(ms).toMatch(/^\d{13}$/);
    expect(Number(ms)).toBeGreaterThanOrEqual(before - 1);
    expect(Number(ms)).toBeLessThanOrEqual(after + 1);
    expect(iso).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    near(Date.parse(iso), before, 2_000);
  });

  // A printf that cannot format times (%()T): common.sh then formats them with date(1).
  const withoutPrintfTimes = `printf() { if [[ "$*" == *'%('* ]]; then return 1; fi; builtin printf "$@"; };`;

  it.each([
    ['in the shell (printf %()T)', ''],
    ['through date(1)', withoutPrintfTimes],
  ])('formats any time in UTC %s, as JavaScript does', (_how, prelude) => {
    const epochs = [0, 951_782_400, 1_796_256_000, 4_102_444_799, 4_107_542_400];
    const script = `${prelude} source "${join(INSTANCE_SCRIPTS_DIR, 'common.sh')}"; for epoch in ${epochs.join(' ')}; do utc_format iso %Y-%m-%dT%H:%M:%SZ "$epoch"; utc_format day %Y/%m/%d "$epoch"; utc_format stamp %Y%m%dT%H%M%SZ "$epoch"; echo "$iso $day $stamp"; done; utc_format now %s -1; echo "$now"`;
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, TZ: 'America/St_Johns' } });
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    const expected = epochs.map((epoch) => {
      const iso = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
      return `${iso} ${iso.slice(0, 10).replace(/-/g, '/')} ${iso.replace(/[-:]/g, '')}`;
    });
    expect(lines.slice(0, -1)).toEqual(expected);
    expect(Math.abs(Number(lines.at(-1)) * 1000 - Date.now())).toBeLessThan(3_000);
  });

  it('stamps log lines in UTC whatever the machine time zone', () => {
    const result = spawnSync('bash', ['-c', `source "${join(INSTANCE_SCRIPTS_DIR, 'common.sh')}"; log_info 'hello'`], { encoding: 'utf8', env: { ...process.env, TZ: 'Pacific/Kiritimati' } });
    const [stamp = ''] = result.stderr.split(' ');
    expect(result.stderr).toMatch(/^\S+Z backup INFO: hello\n$/);
    expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(2_000);
  });
});
