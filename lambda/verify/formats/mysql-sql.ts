import type { BackupManifest } from '../../../contracts/manifest';
import type { FormatInspector, FormatReport } from './format-report';
import { MysqlRowCounter } from './mysql-rows';

/**
 * A plain-SQL dump from mysqldump or mariadb-dump: the tool's header near the start, the
 * `-- Dump completed on` trailer it writes only when it finished, exactly one of each (two mean
 * two dumps in one file), the CREATE TABLE count, and the rows of each table's INSERTs against
 * the manifest. Only a small head, a rolling tail and a few bytes of overlap are kept.
 *
 * MySQL cannot share a snapshot between sessions, so the backup script counts rows in a snapshot
 * taken just before the dump's own: writes in between make small differences that are not
 * damage. A table the manifest counted rows for that has none in the dump, or fewer than half,
 * fails; smaller differences are reported in the figures.
 */
const HEAD_BYTES = 4096;
const TAIL_BYTES = 4096;
const CREATE_TABLE = Buffer.from('\nCREATE TABLE `');
const HEADER_PATTERN = /^-- (MySQL|MariaDB) dump /m;
// The dump pads a one-digit hour with a space ("on 2026-11-22  0:10:45"), hence \s+.
const TRAILER_PATTERN = /-- Dump completed(?: on (\S+\s+\S+))?\s*$/;

export class MysqlSqlInspector implements FormatInspector {
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private carry = Buffer.alloc(0);
  private createTables = 0;
  private total = 0;
  private readonly counter = new MysqlRowCounter();

  constructor(private readonly manifest?: Pick<BackupManifest, 'database'>) {}

  write(chunk: Buffer): void {
    this.total += chunk.length;
    this.counter.write(chunk);
    if (this.head.length < HEAD_BYTES) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES - this.head.length)]);
    }
    // Count statements across chunk boundaries: search the overlap with the previous chunk too.
    const overlap = this.carry.length > 0 ? Buffer.concat([this.carry, chunk.subarray(0, CREATE_TABLE.length - 1)]) : undefined;
    if (overlap) this.createTables += count(overlap, CREATE_TABLE);
    this.createTables += count(chunk, CREATE_TABLE);
    this.carry = Buffer.from(chunk.subarray(Math.max(0, chunk.length - (CREATE_TABLE.length - 1))));
    this.tail =
      chunk.length >= TAIL_BYTES
        ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES))
        : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
  }

  async finish(): Promise<FormatReport> {
    const problems: string[] = [];
    const head = this.head.toString('utf8');
    const tail = this.tail.toString('utf8');
    const header = HEADER_PATTERN.exec(head);
    if (this.total === 0) problems.push('SQL dump: the decompressed dump is empty');
    else if (!header) problems.push('SQL dump: no "-- MySQL dump" or "-- MariaDB dump" header in the first 4 KiB: not a mysqldump/mariadb-dump file');
    const trailer = TRAILER_PATTERN.exec(tail);
    if (this.total > 0 && !trailer) {
      problems.push('SQL dump: the last line is not "-- Dump completed on ...": the dump stopped before it finished (or was made with --skip-comments)');
    }
    const { headers, completions } = this.counter;
    if (header && headers !== 1) problems.push(`SQL dump: ${headers} dump headers ("-- MySQL dump" / "-- MariaDB dump" lines): the file holds more than one dump, and restoring it would end in the state of the last one`);
    if (trailer && completions !== 1) problems.push(`SQL dump: ${completions} "-- Dump completed" lines: the file holds more than one dump, and restoring it would end in the state of the last one`);
    const expectedTables = this.manifest?.database?.tableCount;
    if (trailer && expectedTables !== undefined && this.createTables < expectedTables) {
      problems.push(`SQL dump: ${this.createTables} CREATE TABLE statements but the manifest counted ${expectedTables} tables: tables are missing from the dump`);
    }
    const skipped: string[] = [];
    const figures: Record<string, string | number | boolean> = {
      tool: header?.[1] ?? 'unknown',
      createTableStatements: this.createTables,
      completedAt: trailer?.[1]?.replace(/\s+/, ' ') ?? '',
      rowsInDump: [...this.counter.rows.values()].reduce((sum, count) => sum + count, 0),
    };
    const expectedRows = this.manifest?.database?.rowCounts;
    if (expectedRows === undefined) {
      skipped.push('row counts: the manifest has none');
    } else {
      const missing: string[] = [];
      const differences: string[] = [];
      for (const [table, counted] of Object.entries(expectedRows)) {
        const found = this.counter.rows.get(table) ?? 0;
        if (counted > 0 && found * 2 < counted) missing.push(`table ${table}: ${found} rows in the dump, the manifest counted ${counted}`);
        else if (found !== counted) differences.push(`${table} ${found} (counted ${counted})`);
      }
      if (missing.length > 0) {
        problems.push(`SQL dump: rows are missing from the dump: ${missing.slice(0, 5).join('; ')}${missing.length > 5 ? `; and ${missing.length - 5} more` : ''}`);
      }
      figures.tablesRowCounted = Object.keys(expectedRows).length;
      // Counted moments before the dump's own snapshot: small differences are writes, noted here.
      if (differences.length > 0) figures.rowCountDifferences = `${differences.slice(0, 5).join(', ')}${differences.length > 5 ? ', ...' : ''}`;
    }
    return { format: 'mysql_sql', problems, skipped, figures };
  }
}

function count(haystack: Buffer, needle: Buffer): number {
  let found = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + needle.length)) found++;
  return found;
}
