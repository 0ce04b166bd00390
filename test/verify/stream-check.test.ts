import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { FormatInspector } from '../../lambda/verify/formats';
import { checkStream } from '../../lambda/verify/stream-check';

/** An inspector that only counts what it is fed. */
function countingInspector(): FormatInspector & { fed: number } {
  const inspector = {
    fed: 0,
    write(chunk: Buffer) {
      inspector.fed += chunk.length;
    },
    async finish() {
      return { format: 'count', problems: [], skipped: [], figures: { fed: inspector.fed } };
    },
  };
  return inspector;
}

const chunks = (body: Buffer, size = 16 * 1024) => Readable.from(Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size)));

describe('checkStream', () => {
  it('GIVEN gzip data corrupted in the middle WHEN checked THEN decompression fails as corrupt but the whole object is still hashed', async () => {
    const body = Buffer.from(gzipSync(randomBytes(4 * 1024 * 1024).toString('hex')));
    body.fill(0xff, Math.floor(body.length / 2), Math.floor(body.length / 2) + 64);
    const findings = await checkStream(chunks(body), countingInspector());
    expect(findings.decompressionError).toMatch(/gzip data is corrupt|gzip failed/);
    expect(findings.bytes).toBe(body.length);
    expect(findings.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(findings.format).toBeUndefined();
  });

  it('GIVEN one gzip stream, in chunks of any size WHEN checked THEN it passes', async () => {
    const body = gzipSync(randomBytes(20_000));
    for (const size of [1, 7, 8, 9, 100, 16 * 1024]) {
      const findings = await checkStream(chunks(body, size), countingInspector());
      expect(findings.decompressionError, `chunks of ${size}`).toBeUndefined();
    }
  });

  it('GIVEN a second gzip stream appended after the first (a second dump) WHEN checked THEN it fails: exactly one per backup', async () => {
    const body = Buffer.concat([gzipSync(Buffer.alloc(1000, 1)), gzipSync(Buffer.alloc(2000, 2))]);
    const findings = await checkStream(chunks(body, 100), countingInspector());
    expect(findings.decompressionError).toMatch(/not exactly one gzip stream.*a second gzip stream was appended/);
  });

  it.each([
    ['a NUL byte', Buffer.from([0])],
    ['NUL bytes then data', Buffer.from([0, 0, 0, 0, 0x41, 0x42, 0x43, 0x44, 0x45])],
    ['eight NUL bytes', Buffer.alloc(8)],
    ['512 NUL bytes (tar padding)', Buffer.alloc(512)],
  ])('GIVEN %s after the end of the gzip stream (Node ignores them, gzip -t does not) WHEN checked THEN it fails', async (_what, trailing) => {
    const body = Buffer.concat([gzipSync(Buffer.from('a dump\n')), trailing]);
    const findings = await checkStream(chunks(body, 5), countingInspector());
    expect(findings.decompressionError).toMatch(/not exactly one gzip stream|gzip/);
  });

  it('GIVEN an inspector that throws WHEN checked THEN the format report carries the failure instead of the pass crashing', async () => {
    const inspector = countingInspector();
    inspector.write = () => {
      throw new Error('boom');
    };
    const findings = await checkStream(chunks(gzipSync(Buffer.alloc(10))), inspector);
    expect(findings.format?.problems).toEqual(['format check failed: boom']);
  });
});

describe('checkStream where the runtime exposes gc() (as Lambda does)', () => {
  it('GIVEN 40 MiB to decompress WHEN checked THEN it collects the young generation every 16 MiB of output and finds what it finds without', () => {
    // A child started as Lambda starts node (--expose-gc), with gc() counted before the module loads.
    const script = `
      const calls = [];
      const realGc = globalThis.gc;
      globalThis.gc = (options) => { calls.push(options.type); realGc(options); };
      const { gzipSync } = require('node:zlib');
      const { Readable } = require('node:stream');
      const { checkStream } = require(${JSON.stringify(join(__dirname, '../../lambda/verify/stream-check.ts'))});
      const body = gzipSync(Buffer.alloc(40 * 2 ** 20, 'backup-kit '));
      const inspector = { write() {}, async finish() { return { format: 'none', problems: [], skipped: [], figures: {} }; } };
      checkStream(Readable.from([body]), inspector).then((findings) => console.log(JSON.stringify({ calls, decompressedBytes: findings.decompressedBytes, error: findings.decompressionError ?? null })));
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}')).toEqual({ calls: ['minor', 'minor'], decompressedBytes: 40 * 2 ** 20, error: null });
  });
});
