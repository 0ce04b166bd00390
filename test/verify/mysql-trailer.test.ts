import { describe, expect, it } from 'vitest';
import { MysqlSqlInspector } from '../../lambda/verify/formats/mysql-sql';

const dumpEndingWith = (trailer: string): Buffer =>
  Buffer.from(`-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n\nCREATE TABLE \`orders\` (id int);\nINSERT INTO \`orders\` VALUES (1);\n${trailer}\n`);

describe('MySQL dump trailer', () => {
  it.each([
    ['a two-digit hour', '-- Dump completed on 2026-11-22 14:10:45', '2026-11-22 14:10:45'],
    ['a one-digit hour, which the dump pads with a space', '-- Dump completed on 2026-11-22  0:10:45', '2026-11-22 0:10:45'],
    ['no date (--skip-dump-date)', '-- Dump completed', ''],
  ])('GIVEN a finished dump with %s THEN the format check passes', async (_case, trailer, completedAt) => {
    const inspector = new MysqlSqlInspector();
    inspector.write(dumpEndingWith(trailer));
    const report = await inspector.finish();
    expect(report.problems).toEqual([]);
    expect(report.figures.completedAt).toBe(completedAt);
  });

  it('GIVEN a dump cut before its trailer THEN the format check fails saying so', async () => {
    const inspector = new MysqlSqlInspector();
    inspector.write(dumpEndingWith('INSERT INTO `orders` VALUES (2);'));
    expect((await inspector.finish()).problems).toEqual([expect.stringMatching(/the last line is not "-- Dump completed on \.\.\."/)]);
  });
});
