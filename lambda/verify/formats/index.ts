import type { BackupManifest } from '../../../contracts/manifest';
import type { FormatInspector } from './format-report';
import { MysqlSqlInspector } from './mysql-sql';
import { PgCustomInspector } from './pg-custom';
import { SqliteInspector } from './sqlite';
import { TarInspector } from './tar';

export type DumpFormat = BackupManifest['format'];

export interface InspectorOptions {
  /** Largest decompressed SQLite file that gets PRAGMA integrity_check. */
  readonly sqliteIntegrityCheckMaxBytes: number;
}

/** The inspector for a dump format, comparing what it reads with the manifest's counts where it has them. */
export function inspectorFor(format: DumpFormat, options: InspectorOptions, manifest?: Pick<BackupManifest, 'database' | 'files'>): FormatInspector {
  switch (format) {
    case 'pg_custom':
      return new PgCustomInspector(manifest);
    case 'mysql_sql':
      return new MysqlSqlInspector(manifest);
    case 'sqlite':
      return new SqliteInspector(options.sqliteIntegrityCheckMaxBytes, manifest);
    case 'tar':
      return new TarInspector(manifest);
  }
}

export type { FormatInspector, FormatReport } from './format-report';
