import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXPECTED_SECONDS, SHARED_MODULES } from '../support/test-plan';

/**
 * The test plan stays true: the files that share modules cannot leak state into each other, and
 * the queue order names files that exist.
 */

const ROOT = resolve(__dirname, '../..');

/** What a file that shares its worker's modules must not do: each would outlive the file. */
const LEAKS: readonly [RegExp, string][] = [
  [/\bmockClient\(/, 'mocks an SDK client'],
  [/\bvi\.(mock|stubEnv|stubGlobal|spyOn)\(/, 'mocks a module or a global'],
  [/\bprocess\.env(\.[A-Za-z_]+|\[[^\]]+\])?\s*=[^=]|delete process\.env/, 'changes process.env'],
  [/\bMotoServer\b|\bPostgresServer\b|\bMariaDbServer\b/, 'starts a server'],
];

describe('the test plan', () => {
  it.each(SHARED_MODULES.map((file) => [file]))('%s exists and leaves nothing behind for the next file', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    expect(LEAKS.filter(([pattern]) => pattern.test(text)).map(([, what]) => `${file} ${what}`)).toEqual([]);
  });

  it('orders only files that exist', () => {
    expect(Object.keys(EXPECTED_SECONDS).filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });

  it('finds what it looks for: a file with a class-wide mock is caught', () => {
    // Put together here so that this file's own text does not match.
    const sample = ['const mock = mock', 'Client(S3Client);\nprocess', ".env.BUCKET = 'x';"].join('');
    expect(LEAKS.filter(([pattern]) => pattern.test(sample)).map(([, what]) => what)).toEqual(['mocks an SDK client', 'changes process.env']);
  });
});
