import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout the code keeps: contracts/ is pure (no SDK, no CDK) and both sides import it;
 * lib/ never reaches into a function's code or an SDK client; a function never imports another
 * function's modules (what two jobs share lives in lambda/shared/ or contracts/); files stay
 * small enough to read, or say why not.
 */

const ROOT = resolve(__dirname, '../..');

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return /\.ts$/.test(entry.name) ? [path] : [];
  });
}

/** Every module a file imports: package names as written, relative ones as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)].map((match) => {
    const spec = match[1] ?? match[2] ?? '';
    return spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : spec;
  });
}

const jobOf = (path: string): string | undefined => /^lambda\/([^/]+)\//.exec(path)?.[1];

describe('the layout', () => {
  it('contracts/ imports only contracts/, zod and node: built-ins', () => {
    const problems = sourcesUnder('contracts').flatMap((file) =>
      importsOf(file)
        .filter((spec) => !(spec.startsWith('contracts/') || spec.startsWith('zod') || spec.startsWith('node:')))
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(problems).toEqual([]);
  });

  it('the functions and contracts/ take zod only from contracts/zod.ts (zod/mini; the classic zod is 430 KB of every bundle)', () => {
    const problems = [...sourcesUnder('contracts'), ...sourcesUnder('lambda')].flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('zod') && file !== 'contracts/zod.ts')
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(problems).toEqual([]);
  });

  it('lib/, bin/ and config/ import no function code and no SDK client (contracts/ is the shared ground)', () => {
    const files = [...sourcesUnder('lib'), ...sourcesUnder('bin'), ...sourcesUnder('config')];
    const problems = files.flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('lambda/') || spec.startsWith('@aws-sdk/'))
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(problems).toEqual([]);
  });

  it("no function imports another function's modules, and lambda/shared/ imports no function's", () => {
    const problems = sourcesUnder('lambda').flatMap((file) => {
      const own = jobOf(file);
      return importsOf(file)
        .filter((spec) => spec.startsWith('lambda/') && jobOf(spec) !== 'shared' && jobOf(spec) !== own)
        .map((spec) => `${file} imports ${spec}`);
    });
    expect(problems).toEqual([]);
  });

  /** Files allowed past 400 lines, and why. */
  const LONG_FILES: Record<string, string> = {
    'lambda/verify/formats/pg-custom.ts': "one parser of one format (pg_dump's custom archive: header, TOC, data blocks); split, its state would cross files",
    'lambda/verify/verify-backup.ts': 'the verifier: one pass over the object feeding every check in order; the checks themselves live in formats/ and stream-check.ts',
    'lib/constructs/monitoring.ts': 'the monitoring facade: metric factory, alarm factory, the segments per job and the dashboard layout that reads them',
  };

  it('no file in lib/, lambda/ or contracts/ is over 400 lines without a stated reason, and no instance script over 500', () => {
    const lengthOf = (file: string) => readFileSync(join(ROOT, file), 'utf8').split('\n').length;
    const long = [...sourcesUnder('lib'), ...sourcesUnder('lambda'), ...sourcesUnder('contracts')].filter((file) => lengthOf(file) > 400);
    expect(long.filter((file) => !(file in LONG_FILES))).toEqual([]);
    expect(Object.keys(LONG_FILES).filter((file) => !long.includes(file)), 'reasons for files no longer long').toEqual([]);
    const scripts = readdirSync(join(ROOT, 'scripts/instance')).map((name) => `scripts/instance/${name}`);
    expect(scripts.filter((file) => lengthOf(file) > 500)).toEqual([]);
  });
});
