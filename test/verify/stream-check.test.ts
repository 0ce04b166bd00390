import { createHash, randomBytes } from 'node:crypto';
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

  it('GIVEN several gzip members one after another WHEN checked THEN all of them are decompressed', async () => {
    const body = Buffer.concat([gzipSync(Buffer.alloc(1000, 1)), gzipSync(Buffer.alloc(2000, 2))]);
    const inspector = countingInspector();
    const findings = await checkStream(chunks(body, 100), inspector);
    expect(findings.decompressionError).toBeUndefined();
    expect(inspector.fed).toBe(3000);
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
