import * as z from './zod';

/**
 * The manifest the backup scripts write beside each backup, last and only on success
 * (`<key>.manifest.json`). A backup without one is incomplete by definition. The scripts
 * write exactly this shape; the verifier, restores and drills read it through this schema.
 */
export const BACKUP_KINDS = ['postgres', 'mysql', 'sqlite', 'files'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

/** Dump format inside the compressed stream, by kind. */
export const FORMAT_BY_KIND = {
  postgres: 'pg_custom',
  mysql: 'mysql_sql',
  sqlite: 'sqlite',
  files: 'tar',
} as const satisfies Record<BackupKind, string>;

/** Object key extension by kind (all gzip-compressed). */
export const EXTENSION_BY_KIND = {
  postgres: 'pgdump.gz',
  mysql: 'sql.gz',
  sqlite: 'sqlite.gz',
  files: 'tar.gz',
} as const satisfies Record<BackupKind, string>;

export const MANIFEST_SUFFIX = '.manifest.json';

/**
 * Verdicts live apart from the backups, under a prefix that no instance role can write (they may
 * write only `<tier>/<target>/`): `verdicts/<backup key>/<verified at>.json`, a new key for every
 * verification, so that verdicts too are written once. The newest one is the verdict.
 */
export const VERDICT_PREFIX = 'verdicts/';

/**
 * When the kit began to expect backups of a target in a tier: `expected-since/<tier>/<target>.json`,
 * written once by the verification planner the first time it sees the configured pair without a
 * backup. Until the tier's first backup is verified, the age alarms count from this time, so a new
 * deployment (or a newly added target) is quiet until its first run is due, and a redeploy does not
 * restart the clock.
 */
export const EXPECTED_SINCE_PREFIX = 'expected-since/';
export function expectedSinceKey(tier: string, target: string): string {
  return `${EXPECTED_SINCE_PREFIX}${tier}/${target}.json`;
}

export const manifestSchema = z.object({
  manifestVersion: z.literal(1),
  target: z.string().check(z.minLength(1)),
  kind: z.enum(BACKUP_KINDS),
  tier: z.string().check(z.minLength(1)),
  /** EC2 instance ID (or host name outside EC2) that took the backup. */
  instance: z.string().check(z.minLength(1)),
  bucket: z.string().check(z.minLength(1)),
  /** Key of the backup object this manifest describes. */
  key: z.string().check(z.minLength(1)),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** Bytes of the stored (compressed) object. */
  bytes: z.int().check(z.nonnegative()),
  /** SHA-256 (hex) of the stored (compressed) object. */
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  compression: z.literal('gzip'),
  format: z.enum(['pg_custom', 'mysql_sql', 'sqlite', 'tar']),
  /** Object Lock retain-until date set on the object. */
  retainUntil: z.iso.datetime(),
  /** Versions of the tools that made the backup (pg_dump, mysqldump, sqlite3, tar, gzip, aws). */
  tools: z.record(z.string(), z.string()),
  /** Databases: table count and per-table row counts (as counted when the dump started). */
  database: z.optional(z.object({
      tableCount: z.int().check(z.nonnegative()),
      rowCounts: z.record(z.string(), z.int().check(z.nonnegative())),
    })),
  /** Files: regular files in the archive and their total size; directories, symlinks and hard links (newer scripts). */
  files: z.optional(z.object({
      fileCount: z.int().check(z.nonnegative()),
      totalBytes: z.int().check(z.nonnegative()),
      directoryCount: z.optional(z.int().check(z.nonnegative())),
      symlinkCount: z.optional(z.int().check(z.nonnegative())),
      hardLinkCount: z.optional(z.int().check(z.nonnegative())),
      /**
       * The per-file index (newer scripts, where the instance has python3): a record
       * `<sha256> <size> <path>\0` per regular file (a hard link under each name), paths relative to
       * the directory, sorted by path bytes; their number and the SHA-256 of the records.
       */
      index: z.optional(z.object({
          count: z.int().check(z.nonnegative()),
          sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
        })),
      /** Several paths (a files target with `paths`): the absolute paths archived, each as `./<path>` from `/`. */
      paths: z.optional(z.array(z.string())),
    })),
  /**
   * The content digest: byte count and SHA-256 (hex) of the dump itself, as the dump tool wrote it,
   * taken by the script before compression (newer scripts). The verifier and restores recompute it
   * from the stored object: damage done between reading the data and storing it shows there even
   * when the stored object and its own SHA-256 agree.
   */
  content: z.optional(z.object({
      bytes: z.int().check(z.nonnegative()),
      sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
    })),
});
export type BackupManifest = z.infer<typeof manifestSchema>;

/** `<tier>/<target>/YYYY/MM/DD/<target>_<YYYYMMDDTHHMMSSZ>.<ext>` */
export function backupKey(tier: string, target: string, kind: BackupKind, at: Date): string {
  const iso = at.toISOString();
  const [yyyy, mm, dd] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  const stamp = iso.replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${tier}/${target}/${yyyy}/${mm}/${dd}/${target}_${stamp}.${EXTENSION_BY_KIND[kind]}`;
}

export function manifestKeyFor(backupObjectKey: string): string {
  return `${backupObjectKey}${MANIFEST_SUFFIX}`;
}

/** The prefix of every verdict of one backup. */
export function verdictPrefixFor(backupObjectKey: string): string {
  return `${VERDICT_PREFIX}${backupObjectKey}/`;
}

/** The prefix of every verdict of a target's backups in a tier. */
export function verdictPrefixOf(tier: string, target: string): string {
  return `${VERDICT_PREFIX}${tier}/${target}/`;
}

/** `verdicts/<backup key>/<YYYYMMDDTHHMMSS.sssZ>.json`: sorts by time within a backup's prefix. */
export function verdictKeyFor(backupObjectKey: string, verifiedAt: Date): string {
  const stamp = verifiedAt.toISOString().replace(/[-:]/g, '');
  return `${verdictPrefixFor(backupObjectKey)}${stamp}.json`;
}

const VERDICT_KEY_PATTERN = /^verdicts\/(.+)\/(\d{8}T\d{6}\.\d{3}Z)\.json$/;

/** The backup a verdict key belongs to; undefined for any other key. */
export function backupKeyOfVerdict(verdictKey: string): string | undefined {
  const match = VERDICT_KEY_PATTERN.exec(verdictKey);
  return match?.[1] !== undefined && parseBackupKey(match[1]) ? match[1] : undefined;
}

/** True for the backup objects themselves (not their manifests or verdicts). */
export function isBackupObjectKey(key: string): boolean {
  return Object.values(EXTENSION_BY_KIND).some((ext) => key.endsWith(`.${ext}`));
}

export interface ParsedBackupKey {
  readonly tier: string;
  readonly target: string;
  readonly kind: BackupKind;
  /** When the backup started, from the key's UTC timestamp. */
  readonly at: Date;
}

const BACKUP_KEY_PATTERN = /^([^/]+)\/([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/([^/]+)_(\d{8}T\d{6}Z)\.([a-z.]+)$/;

/** Reads tier, target, kind and time back from a backup key; undefined when the key does not follow the layout. */
export function parseBackupKey(key: string): ParsedBackupKey | undefined {
  const match = BACKUP_KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const [, tier = '', target = '', yyyy, mm, dd, fileTarget, stamp = '', ext] = match;
  if (fileTarget !== target) return undefined;
  const kind = BACKUP_KINDS.find((candidate) => EXTENSION_BY_KIND[candidate] === ext);
  if (!kind) return undefined;
  const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime()) || iso.slice(0, 4) !== yyyy || iso.slice(5, 7) !== mm || iso.slice(8, 10) !== dd) return undefined;
  return { tier, target, kind, at };
}
