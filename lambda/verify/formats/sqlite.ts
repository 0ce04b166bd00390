import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import initSqlJs from 'sql.js';
import type { BackupManifest } from '../../../contracts/manifest';
import type { FormatInspector, FormatReport } from './format-report';

/**
 * A SQLite database file (`sqlite3 DB ".backup FILE"`): the 100-byte header, the file size the
 * header promises, and, up to a size limit, `PRAGMA integrity_check` in sql.js (SQLite compiled
 * to WebAssembly; no native module). The check needs the whole file in memory, so above the
 * limit it is skipped and the verdict says so.
 */
const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_BYTES = 100;

type SqlJs = Awaited<ReturnType<typeof initSqlJs>>;
let sqlJs: Promise<SqlJs> | undefined;

/** The bundle carries sql-wasm.wasm beside the handler; tests and the bench load it from node_modules. */
function locateSqlJsFile(file: string): string {
  const bundled = join(__dirname, file);
  if (existsSync(bundled)) return bundled;
  return join(dirname(createRequire(__filename).resolve('sql.js')), file);
}

function loadSqlJs(): Promise<SqlJs> {
  sqlJs ??= initSqlJs({ locateFile: locateSqlJsFile });
  return sqlJs;
}

export class SqliteInspector implements FormatInspector {
  private header = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private held = 0;
  private total = 0;
  private overLimit = false;

  constructor(
    private readonly integrityCheckMaxBytes: number,
    private readonly manifest?: Pick<BackupManifest, 'database'>,
  ) {}

  write(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.header.length < HEADER_BYTES) {
      this.header = Buffer.concat([this.header, chunk.subarray(0, HEADER_BYTES - this.header.length)]);
    }
    if (this.overLimit) return;
    if (this.held + chunk.length > this.integrityCheckMaxBytes) {
      // Past the limit the file is not kept: memory stays bounded and the check is reported skipped.
      this.overLimit = true;
      this.parts = [];
      this.held = 0;
      return;
    }
    this.parts.push(chunk);
    this.held += chunk.length;
  }

  async finish(): Promise<FormatReport> {
    const problems: string[] = [];
    const skipped: string[] = [];
    const figures: Record<string, string | number | boolean> = { databaseBytes: this.total };
    if (this.header.length < HEADER_BYTES || !this.header.subarray(0, MAGIC.length).equals(MAGIC)) {
      problems.push(`SQLite: the file does not start with the "SQLite format 3" header (${this.total} bytes): not a SQLite database or truncated`);
      this.parts = [];
      return { format: 'sqlite', problems, skipped, figures };
    }
    const rawPageSize = this.header.readUInt16BE(16);
    const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
    const pageCount = this.header.readUInt32BE(28);
    const sizeValid = this.header.readUInt32BE(24) === this.header.readUInt32BE(92) && pageCount > 0;
    figures.pageSize = pageSize;
    figures.pageCount = pageCount;
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      problems.push(`SQLite: page size ${pageSize} in the header is not a power of two between 512 and 65536: corrupt header`);
    } else if (sizeValid && pageSize * pageCount !== this.total) {
      problems.push(`SQLite: the header says ${pageCount} pages of ${pageSize} bytes (${pageSize * pageCount} bytes) but the file has ${this.total} bytes: truncated or padded`);
    } else if (this.total % pageSize !== 0) {
      problems.push(`SQLite: ${this.total} bytes is not a whole number of ${pageSize}-byte pages: truncated`);
    }

    if (this.overLimit) {
      skipped.push(
        `SQLite integrity_check and row counts: the database is ${this.total} bytes, above the ${this.integrityCheckMaxBytes}-byte limit (verification.sqliteIntegrityCheckMaxMiB); header and size were checked, page contents and rows were not`,
      );
      figures.integrityCheck = 'skipped';
      return { format: 'sqlite', problems, skipped, figures };
    }
    const data = Buffer.concat(this.parts, this.held);
    this.parts = [];
    const SQL = await loadSqlJs();
    let db: InstanceType<SqlJs['Database']> | undefined;
    try {
      db = new SQL.Database(data);
      const rows = db.exec('PRAGMA integrity_check')[0]?.values.map((row) => String(row[0])) ?? [];
      figures.integrityCheck = rows.join('; ').slice(0, 500);
      if (rows.length !== 1 || rows[0] !== 'ok') {
        problems.push(`SQLite: PRAGMA integrity_check reports: ${rows.slice(0, 5).join('; ')}${rows.length > 5 ? ` (and ${rows.length - 5} more)` : ''}`);
      }
      // Counted as the backup script counts: not SQLite's own tables, not virtual ones.
      const tables = Number(
        db.exec("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%'")[0]?.values[0]?.[0] ?? 0,
      );
      figures.tables = tables;
      const expectedTables = this.manifest?.database?.tableCount;
      if (expectedTables !== undefined && tables !== expectedTables) {
        problems.push(`SQLite: ${tables} tables in the backup but the manifest counted ${expectedTables}`);
      }
      // The backup script counted in the very snapshot it copied: every count must match.
      const expectedRows = this.manifest?.database?.rowCounts;
      if (expectedRows === undefined) {
        skipped.push('row counts: the manifest has none');
      } else {
        const differences: string[] = [];
        for (const [table, count] of Object.entries(expectedRows)) {
          const known = db.exec('SELECT count(*) FROM sqlite_schema WHERE type = $type AND name = $name', { $type: 'table', $name: table })[0]?.values[0]?.[0];
          if (Number(known ?? 0) === 0) {
            differences.push(`table ${table}: the manifest counted ${count} rows, the backup has no such table`);
            continue;
          }
          const found = Number(db.exec(`SELECT count(*) FROM "${table.replace(/"/g, '""')}"`)[0]?.values[0]?.[0] ?? -1);
          if (found !== count) differences.push(`table ${table}: ${found} rows in the backup, the manifest counted ${count}`);
        }
        figures.tablesRowCounted = Object.keys(expectedRows).length;
        if (differences.length > 0) {
          problems.push(`SQLite: row counts differ from the manifest (counted in the snapshot that was copied): ${differences.slice(0, 5).join('; ')}${differences.length > 5 ? `; and ${differences.length - 5} more` : ''}`);
        }
      }
    } catch (error) {
      problems.push(`SQLite: the database cannot be read: ${(error as Error).message}`);
    } finally {
      db?.close();
    }
    return { format: 'sqlite', problems, skipped, figures };
  }
}
