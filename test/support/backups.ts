import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FORMAT_BY_KIND, manifestKeyFor, manifestSchema, type BackupKind, type BackupManifest } from '../../contracts/manifest';
import type { MariaDbServer } from './mariadb';
import type { PostgresServer } from './postgres';
import { run, scratchDir } from './processes';

/**
 * Good backups made with the same tools and options as the instance scripts (pg_dump -Fc -Z0
 * piped to gzip, mariadb-dump, sqlite3 .backup, tar), and manifests built through the manifest
 * schema, for tests that need real dumps without running the scripts.
 */
export interface MadeBackup {
  readonly kind: BackupKind;
  /** The stored object: gzip of the dump. */
  readonly body: Buffer;
  readonly database?: BackupManifest['database'];
  readonly files?: BackupManifest['files'];
  /** The content digest of the dump as it was made; computed from `body` when the field is absent (not when it is undefined: an older script). */
  readonly content?: BackupManifest['content'];
}

/** The content digest the backup script takes: bytes and SHA-256 of the dump before compression. */
export function contentOf(body: Buffer): NonNullable<BackupManifest['content']> {
  const dump = gunzipSync(body);
  return { bytes: dump.length, sha256: sha256(dump) };
}

function shell(script: string, env?: NodeJS.ProcessEnv): void {
  run('bash', ['-c', `set -euo pipefail; ${script}`], { env });
}

/** `pgDumpCompression`: pg_dump's own compression of the table data (0, as the kit dumps, unless a test needs another). */
export function postgresBackup(pg: PostgresServer, database: string, pgDumpCompression = 0): MadeBackup {
  const dir = scratchDir('pgdump');
  const out = join(dir, 'dump.gz');
  shell(`pg_dump -Fc -Z${pgDumpCompression} '${database}' | gzip > '${out}'`, pg.env(database));
  const tables = pg.psql(database, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").trim();
  const body = readFileSync(out);
  return { kind: 'postgres', body, content: contentOf(body), database: { tableCount: Number(tables), rowCounts: postgresRowCounts(pg, database) } };
}

/** Rows per user table (`schema.table`, partitions included, partitioned parents not), as the backup script counts them. */
export function postgresRowCounts(pg: PostgresServer, database: string): Record<string, number> {
  const lines = pg.psql(
    database,
    `SELECT n.nspname || '.' || c.relname, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`,
  );
  return Object.fromEntries(lines.trim().split('\n').filter(Boolean).map((line) => {
    const [table = '', count = '0'] = line.split('|');
    return [table, Number(count)];
  }));
}

export function mysqlBackup(my: MariaDbServer, database: string): MadeBackup {
  const dir = scratchDir('mydump');
  const out = join(dir, 'dump.gz');
  shell(`mariadb-dump --no-defaults -h 127.0.0.1 -P ${my.port} -u${my.user} --single-transaction '${database}' | gzip > '${out}'`, { ...process.env, MYSQL_PWD: my.password });
  const tables = my.sql(database, `SELECT count(*) FROM information_schema.tables WHERE table_schema = '${database}' AND table_type = 'BASE TABLE'`).trim();
  const body = readFileSync(out);
  return { kind: 'mysql', body, content: contentOf(body), database: { tableCount: Number(tables), rowCounts: mysqlRowCounts(my, database) } };
}

/** Rows per base table, by name, as the backup script counts them. */
export function mysqlRowCounts(my: MariaDbServer, database: string): Record<string, number> {
  const names = my.sql(database, `SELECT table_name FROM information_schema.tables WHERE table_schema = '${database}' AND table_type = 'BASE TABLE'`).trim().split('\n').filter(Boolean);
  return Object.fromEntries(names.map((name) => [name, Number(my.sql(database, `SELECT count(*) FROM \`${name.replace(/`/g, '``')}\``).trim())]));
}

/** A SQLite database with `rows` rows, backed up through the online backup API. */
export function sqliteBackup(rows = 200): MadeBackup {
  const dir = scratchDir('sqlite');
  const db = join(dir, 'app.db');
  const copy = join(dir, 'backup.db');
  run('sqlite3', [db, `CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE tags(name TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO notes(body) SELECT printf('note %d %s', i, hex(randomblob(16))) FROM n;`]);
  run('sqlite3', [db, `.backup '${copy}'`]);
  const body = gzipSync(readFileSync(copy));
  return { kind: 'sqlite', body, content: contentOf(body), database: { tableCount: 2, rowCounts: { notes: rows, tags: 0 } } };
}

/** A tar of a generated tree (with a long path, which needs GNU long-name headers). */
export function filesBackup(fileCount = 5, format: 'gnu' | 'pax' = 'gnu'): MadeBackup {
  const dir = scratchDir('files');
  const tree = join(dir, 'tree');
  const deep = join(tree, 'a'.repeat(90), 'b'.repeat(60));
  mkdirSync(deep, { recursive: true });
  let totalBytes = 0;
  for (let i = 0; i < fileCount; i++) {
    const content = Buffer.from(`file ${i} `.repeat(100 + i * 37));
    writeFileSync(join(i % 2 === 0 ? tree : deep, `f${i}.txt`), content);
    totalBytes += content.length;
  }
  const out = join(dir, 'files.tar.gz');
  shell(`tar --format=${format} -cf - -C '${tree}' . | gzip > '${out}'`);
  const body = readFileSync(out);
  return { kind: 'files', body, content: contentOf(body), files: { fileCount, totalBytes, index: filesIndexOf(tree) } };
}

/**
 * The per-file index of a directory, computed here from the tree (independently of the scripts'
 * and the verifier's code): a record `<sha256> <size> <path>\0` per regular file, paths relative
 * to `root`, sorted by path bytes; their number and the SHA-256 of the records.
 */
export function filesIndexOf(root: string): { count: number; sha256: string } {
  const records: { path: Buffer; record: Buffer }[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const stat = lstatSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        const path = Buffer.from(relative(root, full));
        records.push({ path, record: Buffer.concat([Buffer.from(`${sha256(readFileSync(full))} ${stat.size} `), path, Buffer.from([0])]) });
      }
    }
  };
  walk(root);
  records.sort((a, b) => Buffer.compare(a.path, b.path));
  return { count: records.length, sha256: sha256(Buffer.concat(records.map((entry) => entry.record))) };
}

/** The dump with the first occurrence of `from` replaced by `to`, of the same length (counts and structure stay as they were). */
export function replaceOnce(dump: Buffer, from: string | Buffer, to: string | Buffer): Buffer {
  const at = dump.indexOf(from);
  const replacement = Buffer.from(to);
  if (at < 0 || replacement.length !== Buffer.from(from).length) throw new Error(`cannot replace ${String(from)}: absent, or not of the same length`);
  return Buffer.concat([dump.subarray(0, at), replacement, dump.subarray(at + replacement.length)]);
}

export function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** A manifest exactly as the backup script writes it, validated by the schema. */
export function manifestFor(backup: MadeBackup, where: { bucket: string; key: string; target: string; tier: string; finishedAt: Date }, overrides: Partial<BackupManifest> = {}): BackupManifest {
  const started = new Date(where.finishedAt.getTime() - 60_000);
  return manifestSchema.parse({
    manifestVersion: 1,
    target: where.target,
    kind: backup.kind,
    tier: where.tier,
    instance: 'i-0123456789abcdef0',
    bucket: where.bucket,
    key: where.key,
    startedAt: started.toISOString(),
    finishedAt: where.finishedAt.toISOString(),
    bytes: backup.body.length,
    sha256: sha256(backup.body),
    compression: 'gzip',
    format: FORMAT_BY_KIND[backup.kind],
    retainUntil: new Date(where.finishedAt.getTime() + 30 * 86_400_000).toISOString(),
    tools: { gzip: '1.12' },
    ...(backup.database ? { database: backup.database } : {}),
    ...(backup.files ? { files: backup.files } : {}),
    content: 'content' in backup ? backup.content : contentOfOrNothing(backup.body),
    ...overrides,
  });
}

/** The content digest of a body that may not even be gzip (some tests store other bytes). */
function contentOfOrNothing(body: Buffer): BackupManifest['content'] {
  try {
    return contentOf(body);
  } catch {
    return undefined;
  }
}

/**
 * Uploads a backup object and, unless `manifest` is null, its manifest, each locked as the backup
 * script locks them: GOVERNANCE for 30 days from now, or until the manifest's retainUntil when that
 * is later (a fixture's backup may be dated in the past, but it is stored now).
 */
export async function putBackup(s3: S3Client, bucket: string, key: string, body: Buffer, manifest: BackupManifest | null, extra: { storageClass?: 'GLACIER' | 'STANDARD' } = {}): Promise<void> {
  const until = Math.max(Date.now() + 30 * 86_400_000, manifest ? Date.parse(manifest.retainUntil) : 0);
  const lock = { ObjectLockMode: 'GOVERNANCE' as const, ObjectLockRetainUntilDate: new Date(until) };
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...lock, ...(extra.storageClass ? { StorageClass: extra.storageClass } : {}) }));
  if (manifest) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), Body: JSON.stringify(manifest), ContentType: 'application/json', ...lock }));
  }
}
