import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PgCustomInspector } from '../../lambda/verify/formats/pg-custom';
import { pgArchive } from '../support/pg-archive';

/**
 * The row count of a table's COPY data, read from ranges of the pushed buffers without copying
 * them: every newline of every payload counts once, wherever the pieces are cut, and none of the
 * bytes between payloads (length fields, block headers) counts, even when a length byte is a
 * newline (a row of 10, 266 or 2,570 bytes).
 */

const COPY_END = Buffer.from('\\.\n\n\n', 'latin1');

function row(length: number, fill = 'x'): Buffer {
  return Buffer.from(`${fill.repeat(length - 1)}\n`, 'latin1');
}

function newlinesIn(chunks: readonly Buffer[]): number {
  return chunks.reduce((sum, chunk) => sum + chunk.filter((byte) => byte === 0x0a).length, 0);
}

async function countedRows(tables: readonly (readonly Buffer[])[], expected: number[], pieceSize: number): Promise<{ problems: readonly string[]; rows: unknown }> {
  const rowCounts = Object.fromEntries(expected.map((count, table) => [`public.t${table}`, count]));
  const inspector = new PgCustomInspector({ database: { tableCount: tables.length, rowCounts } } as never);
  const archive = pgArchive(tables);
  for (let at = 0; at < archive.length; at += pieceSize) inspector.write(archive.subarray(at, at + pieceSize));
  const report = await inspector.finish();
  return { problems: report.problems, rows: report.figures.rowsInArchive };
}

describe('counting COPY rows in a PostgreSQL archive', () => {
  const awkward = [row(10), row(266), row(2570), row(10), Buffer.from('a\tb\nc\td\n'), Buffer.from('no newline yet'), Buffer.from(' and now\n'), COPY_END];
  const expected = newlinesIn(awkward) - 3;

  it('GIVEN rows whose length bytes are newlines, two rows in one chunk and one row over two chunks WHEN read whole THEN each row counts once and the end-of-data lines not at all', async () => {
    expect(expected).toBe(7);
    expect(await countedRows([awkward, [row(10), COPY_END]], [expected, 1], Number.MAX_SAFE_INTEGER)).toEqual({ problems: [], rows: expected + 1 });
  });

  it('GIVEN the same archive pushed in pieces of any size WHEN read THEN the counts are the same', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), async (size) => {
        expect(await countedRows([awkward, [row(10), COPY_END]], [expected, 1], size)).toEqual({ problems: [], rows: expected + 1 });
      }),
      { numRuns: 60 },
    );
  });

  it('GIVEN arbitrary chunk contents and piece sizes WHEN read THEN the count is the number of newlines in the payloads, less the end-of-data lines when the data ends with them', async () => {
    const chunk = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes.map((byte) => (byte % 4 === 0 ? 0x0a : byte))));
    await fc.assert(
      fc.asyncProperty(fc.array(chunk, { maxLength: 30 }), fc.boolean(), fc.integer({ min: 1, max: 64 }), async (chunks, ended, size) => {
        const data = ended ? [...chunks, COPY_END] : chunks;
        const whole = Buffer.concat(data);
        const rows = newlinesIn(data) - (whole.subarray(-COPY_END.length).equals(COPY_END) ? 3 : 0);
        expect(await countedRows([data], [rows], size)).toEqual({ problems: [], rows });
      }),
      { numRuns: 150 },
    );
  });
});
