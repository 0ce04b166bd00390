import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MysqlRowCounter } from '../../lambda/verify/formats/mysql-rows';

/** Rows per table and dump markers, read from chunks cut anywhere: the counts must not depend on where. */
const DUMP = [
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  '/*!40101 SET NAMES utf8mb4 */;',
  "-- a comment with INSERT INTO `fake` VALUES (1);",
  'CREATE TABLE `products` (`id` int, `name` text);',
  '/*!40000 ALTER TABLE `products` DISABLE KEYS */;',
  'INSERT INTO `products` VALUES',
  "(1,'tea'),",
  "(2,'cof;fee)(\\'),(x'),",
  "(3,'it''s'),",
  "(4,'line\\nbreak \\\\'),",
  '(5,NULL);',
  'INSERT INTO `products` VALUES (6,0x7061726528),(7,\'\');',
  'INSERT INTO `we``ird ñame` (`a`, `b`) VALUES (1,2),(3,(4));',
  'INSERT INTO `empty_strings` VALUES (\'\'),(\'\'),(\'\');',
  '-- Dump completed on 2026-12-02  7:10:45',
  '',
].join('\n');
const EXPECTED = { products: 7, 'we`ird ñame': 2, empty_strings: 3 };

function countIn(pieces: Buffer[]): MysqlRowCounter {
  const counter = new MysqlRowCounter();
  for (const piece of pieces) counter.write(piece);
  return counter;
}

describe('MysqlRowCounter', () => {
  it('counts the rows of every INSERT per table, past quotes, escapes, doubled quotes and parentheses in strings', () => {
    const counter = countIn([Buffer.from(DUMP)]);
    expect(Object.fromEntries(counter.rows)).toEqual(EXPECTED);
    expect([counter.headers, counter.completions]).toEqual([1, 1]);
  });

  it('gives the same counts whatever the chunk boundaries', () => {
    const bytes = Buffer.from(DUMP);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const counter = countIn(points.slice(1).map((end, index) => bytes.subarray(points[index], end)));
        expect(Object.fromEntries(counter.rows)).toEqual(EXPECTED);
        expect([counter.headers, counter.completions]).toEqual([1, 1]);
      }),
      { numRuns: 300 },
    );
  });

  it('counts two dumps in one file as two headers and two completions', () => {
    const counter = countIn([Buffer.from(DUMP + DUMP)]);
    expect([counter.headers, counter.completions]).toEqual([2, 2]);
    expect(counter.rows.get('products')).toBe(14);
  });

  it("holds no more than a name's worth of bytes for an INSERT whose name never closes, and reads on", () => {
    const counter = new MysqlRowCounter();
    counter.write(Buffer.from('INSERT INTO `'));
    for (let i = 0; i < 64; i++) counter.write(Buffer.alloc(64 * 1024, 0x61));
    counter.write(Buffer.from("\nINSERT INTO `t` VALUES (1),(2);\n-- Dump completed\n"));
    expect((counter as unknown as { name: number[] }).name.length).toBe(0);
    expect(Object.fromEntries(counter.rows)).toEqual({ t: 2 });
    expect(counter.completions).toBe(1);
  });
});
