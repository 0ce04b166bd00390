import * as z from './zod';
import {
  ABSOLUTE_PATH_PATTERN,
  DB_NAME_PATTERN,
  DB_USER_PATTERN,
  DOCUMENT_PARAMETERS,
  EXECUTION_TIMEOUT_PARAMETER,
  SECRET_ID_PATTERN,
  SSM_PARAMETER_NAME_PATTERN,
  TARGET_NAME_PATTERN,
  TIER_PARAMETER_PATTERN,
  instanceSelectorSchema,
  invalidParameters,
  passwordSourceSchema,
  targetPlanSchema,
  type DocumentParameterSpec,
  type ExitCodeMeaning,
  type TargetPlan,
} from './backup-command';
import { BACKUP_KINDS } from './manifest';
import { METRICS, SERVICES } from './metric-catalog';

/**
 * The contract of the instance restore command: the restore document's parameters (and the
 * BK_* / RS_* variables restore.sh reads from them), the lines it prints, what its exit codes
 * mean, the metrics, and how drills are named and recorded. The document construct, the
 * restore, drill and result functions all read it from here.
 */

const optional = (pattern: string): string => `^$|${pattern}`;

/** Backup keys of any kind: `<tier>/<target>/YYYY/MM/DD/<target>_<stamp>.<ext>`. */
export const BACKUP_KEY_PATTERN = '^[a-z][a-z0-9-]{0,23}/[a-z][a-z0-9-]{0,39}/[0-9]{4}/[0-9]{2}/[0-9]{2}/[a-z][a-z0-9-]{0,39}_[0-9]{8}T[0-9]{6}Z\\.(pgdump|sql|sqlite|tar)\\.gz$';
/** S3 version IDs (letters, digits and . _ + = / -, e.g. '3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY'), at most 1024 characters. */
const VERSION_ID_PATTERN = '^[A-Za-z0-9._+=/-]{1,1024}$';
const ISO_TIME_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})$';

/** The backup document's settings the restore needs too (restore.sh passes them to backup.sh for the safety backup). */
const SHARED = ['target', 'kind', 'bucket', 'kmsKeyId', 'region', 'dbHost', 'dbPort', 'dbName', 'dbUser', 'passwordSsmParameter', 'passwordSecretId', 'path', 'paths', 'excludes'] as const;

export const RESTORE_DOCUMENT_PARAMETERS = {
  ...Object.fromEntries(SHARED.map((name) => [name, DOCUMENT_PARAMETERS[name]])),
  mode: { env: 'RS_MODE', pattern: '^(scratch|replace|check)$', optional: false, description: 'scratch: into a new database or side path, live data untouched. replace: safety backup, then restore and swap. check: what the instance lacks for a restore; changes nothing.' },
  key: { env: 'RS_KEY', pattern: optional(BACKUP_KEY_PATTERN), optional: true, description: 'Object key of the backup to restore; empty for the newest verified one (or RS_BEFORE).' },
  keyVersionId: { env: 'RS_KEY_VERSION_ID', pattern: optional(VERSION_ID_PATTERN), optional: true, description: 'The version of the backup object to read (the verified one); empty: the first version.' },
  manifestVersionId: { env: 'RS_MANIFEST_VERSION_ID', pattern: optional(VERSION_ID_PATTERN), optional: true, description: "The version of the backup's manifest to read (the verified one); empty: the first version." },
  expectedSha256: { env: 'RS_EXPECTED_SHA256', pattern: optional('^[0-9a-f]{64}$'), optional: true, description: 'The SHA-256 the verifier confirmed: the manifest must state it and the download must have it.' },
  before: { env: 'RS_BEFORE', pattern: optional(ISO_TIME_PATTERN), optional: true, description: 'ISO 8601 time with zone: the newest backup that started at or before it.' },
  tiers: { env: 'RS_TIERS', pattern: optional('^[a-z][a-z0-9 -]{0,1023}$'), optional: true, description: 'Tiers to search for the backup, space separated.' },
  scratchName: { env: 'RS_SCRATCH_NAME', pattern: optional(DB_NAME_PATTERN), optional: true, description: 'Name of the scratch database (postgres, mysql).' },
  scratchPath: { env: 'RS_SCRATCH_PATH', pattern: optional(ABSOLUTE_PATH_PATTERN), optional: true, description: 'Scratch path (sqlite, files), inside scratchRoot.' },
  scratchRoot: { env: 'RS_SCRATCH_ROOT', pattern: optional(ABSOLUTE_PATH_PATTERN), optional: true, description: 'The only directory scratch copies go to (sqlite, files); root-only, made 0700.' },
  protectedDatabases: { env: 'RS_PROTECTED_DATABASES', pattern: optional('^[A-Za-z0-9_ -]{1,4096}$'), optional: true, description: "Other targets' databases, space separated: a scratch name never takes one." },
  confirm: { env: 'RS_CONFIRM', pattern: optional(TARGET_NAME_PATTERN), optional: true, description: 'replace only: the target name, as confirmation.' },
  safetyTier: { env: 'RS_SAFETY_TIER', pattern: TIER_PARAMETER_PATTERN, optional: false, description: 'Tier of the safety backup a replace takes first.' },
  safetyRetentionDays: { env: 'BK_RETENTION_DAYS', pattern: '^[1-9][0-9]{0,4}$', optional: false, description: 'Object Lock retention of the safety backup (its tier\'s retention).' },
  safetyObjectLockMode: { env: 'BK_OBJECT_LOCK_MODE', pattern: '^(GOVERNANCE|COMPLIANCE)$', optional: false, description: 'Object Lock mode of the safety backup (its tier\'s mode).' },
  drill: { env: 'RS_DRILL', pattern: '^[01]$', optional: false, description: '1: check the scratch copy against the manifest, remove it, print DRILL_RESULT.' },
  drillProbes: { env: 'RS_DRILL_PROBES', pattern: optional('^[A-Za-z0-9+/=]{1,16384}$'), optional: true, description: 'Base64 of a JSON list of SQL probes the drill runs on the copy.' },
  restoreDbUser: { env: 'RS_DB_USER', pattern: optional(DB_USER_PATTERN), optional: true, description: 'A database role that may create databases, when the backup user may not.' },
  restorePasswordSsmParameter: { env: 'RS_PASSWORD_SSM_PARAMETER', pattern: optional(SSM_PARAMETER_NAME_PATTERN), optional: true, description: "SSM SecureString parameter with the restore role's password (never the password)." },
  restorePasswordSecretId: { env: 'RS_PASSWORD_SECRET_ID', pattern: optional(SECRET_ID_PATTERN), optional: true, description: "Secrets Manager secret with the restore role's password (never the password)." },
  workDir: { env: 'RS_WORK_DIR', pattern: optional(ABSOLUTE_PATH_PATTERN), optional: true, description: 'Where the backup is downloaded and checked (default /var/tmp).' },
} as Readonly<Record<string, DocumentParameterSpec>>;

/** The one step of the restore document; GetCommandInvocation and the log streams are named by it. */
export const RESTORE_STEP_NAME = 'restore';

/** Parameters whose value fails the restore document's pattern (SSM would refuse the command). */
export function invalidRestoreParameters(parameters: Record<string, string[]>): string[] {
  return invalidParameters(parameters, RESTORE_DOCUMENT_PARAMETERS, 'restore');
}

// ------------------------------------------------------------------ targets as the restore jobs see them

export const targetRestoreSettingsSchema = z.strictObject({
  /** sqlite/files: the only directory scratch copies and drills go to. */
  scratchRoot: z.optional(z.string()),
  user: z.optional(z.string()),
  password: z.optional(passwordSourceSchema),
  workDirectory: z.optional(z.string()),
  /** Other instances the target may be restored onto (the event's `onto` names one). */
  onto: z.optional(instanceSelectorSchema),
  drill: z.boolean(),
  probes: z.array(z.string()),
});
export type TargetRestoreSettings = z.infer<typeof targetRestoreSettingsSchema>;

/** A target with its backup settings (the trigger's plan) and its restore settings. */
export const restoreTargetSchema = z.strictObject({
  backup: targetPlanSchema,
  restore: targetRestoreSettingsSchema,
});
export type RestoreTarget = z.infer<typeof restoreTargetSchema>;

/** Databases a scratch restore never takes the name of, by kind (restore.sh holds the same list). */
export const SYSTEM_DATABASES: Readonly<Record<string, readonly string[]>> = {
  postgres: ['postgres', 'template0', 'template1'],
  mysql: ['mysql', 'information_schema', 'performance_schema', 'sys'],
};

/** Where scratch copies of a sqlite or files target go unless the config names another root. */
export function defaultScratchRoot(target: string): string {
  return `/var/tmp/backup-kit-restore/${target}`;
}

/**
 * Why a scratch database name is refused for `target`, or undefined: a scratch restore only ever
 * creates a new database, so it never takes a system database's name, the live one's or another
 * configured target's (compared without case, as MySQL may fold them).
 */
export function scratchNameProblem(name: string, target: RestoreTarget, targets: readonly RestoreTarget[]): string | undefined {
  const lower = name.toLowerCase();
  if ((SYSTEM_DATABASES[target.backup.kind] ?? []).includes(lower)) return `'${name}' is a system database of ${target.backup.kind}`;
  if (target.backup.database && target.backup.database.name.toLowerCase() === lower) return `'${name}' is the live database of '${target.backup.name}'`;
  const other = targets.find((candidate) => candidate !== target && candidate.backup.database?.name.toLowerCase() === lower);
  if (other) return `'${name}' is the database of target '${other.backup.name}'`;
  return undefined;
}

/** The other targets' database names, for restore.sh's own check of a scratch name. */
export function protectedDatabasesFor(target: RestoreTarget, targets: readonly RestoreTarget[]): string[] {
  const names = targets.filter((candidate) => candidate !== target).flatMap((candidate) => (candidate.backup.database ? [candidate.backup.database.name] : []));
  return [...new Set(names)].filter((name) => name !== target.backup.database?.name);
}

/** Where restores read and where their safety backups go. */
export const restoreSiteSchema = z.strictObject({
  bucket: z.string().check(z.minLength(1)),
  kmsKeyArn: z.string().check(z.minLength(1)),
  region: z.string().check(z.minLength(1)),
  safetyTier: z.string().check(z.minLength(1)),
  /** 0 when the safety tier does not exist: replace restores are refused. */
  safetyRetentionDays: z.int().check(z.gte(0)),
  /** The safety tier's Object Lock mode: the policy refuses a safety backup locked in another. */
  safetyObjectLockMode: z._default(z.enum(['GOVERNANCE', 'COMPLIANCE']), 'GOVERNANCE'),
});
export type RestoreSite = z.infer<typeof restoreSiteSchema>;

/** What the instance is asked to do. */
export interface RestoreOrder {
  /** check: the preflight of an instance a restore goes onto (changes nothing). */
  readonly mode: 'scratch' | 'replace' | 'check';
  readonly key: string;
  /** The versions to read and the SHA-256 the backup must have (what was verified). */
  readonly versionId: string;
  readonly manifestVersionId: string;
  readonly sha256?: string;
  readonly drill: boolean;
  readonly scratchName?: string;
  readonly scratchPath?: string;
  readonly confirm?: string;
}

/** The restore document's parameters for one order. */
export function restoreParametersFor(target: RestoreTarget, site: RestoreSite, order: RestoreOrder, targets: readonly RestoreTarget[] = [target]): Record<string, string[]> {
  const plan: TargetPlan = target.backup;
  const values: Record<string, string> = {
    target: plan.name,
    kind: plan.kind,
    bucket: site.bucket,
    kmsKeyId: site.kmsKeyArn,
    region: site.region,
    mode: order.mode,
    key: order.key,
    keyVersionId: order.versionId,
    manifestVersionId: order.manifestVersionId,
    tiers: plan.tiers.join(' '),
    safetyTier: site.safetyTier,
    // Unused by a scratch restore; the document's pattern wants a positive number.
    safetyRetentionDays: String(Math.max(1, site.safetyRetentionDays)),
    safetyObjectLockMode: site.safetyObjectLockMode,
    drill: order.drill ? '1' : '0',
  };
  if (plan.database) {
    values.dbHost = plan.database.host;
    values.dbPort = String(plan.database.port);
    values.dbName = plan.database.name;
    values.dbUser = plan.database.user;
    if ('ssmParameter' in plan.database.password) values.passwordSsmParameter = plan.database.password.ssmParameter;
    else values.passwordSecretId = plan.database.password.secretId;
  }
  if (plan.path !== undefined) values.path = plan.path;
  if (plan.paths !== undefined) values.paths = plan.paths.join(':');
  if (plan.path !== undefined || plan.paths !== undefined) values.scratchRoot = target.restore.scratchRoot ?? defaultScratchRoot(plan.name);
  const protectedDatabases = plan.database ? protectedDatabasesFor(target, targets) : [];
  if (protectedDatabases.length > 0) values.protectedDatabases = protectedDatabases.join(' ');
  if (plan.excludes && plan.excludes.length > 0) values.excludes = plan.excludes.join(':');
  const { restore } = target;
  if (restore.user !== undefined && restore.password !== undefined) {
    values.restoreDbUser = restore.user;
    if ('ssmParameter' in restore.password) values.restorePasswordSsmParameter = restore.password.ssmParameter;
    else values.restorePasswordSecretId = restore.password.secretId;
  }
  if (restore.workDirectory !== undefined) values.workDir = restore.workDirectory;
  if (order.drill && restore.probes.length > 0) values.drillProbes = Buffer.from(JSON.stringify(restore.probes)).toString('base64');
  if (order.sha256 !== undefined) values.expectedSha256 = order.sha256;
  if (order.scratchName !== undefined) values.scratchName = order.scratchName;
  if (order.scratchPath !== undefined) values.scratchPath = order.scratchPath;
  if (order.confirm !== undefined) values.confirm = order.confirm;
  const parameters: Record<string, string[]> = { [EXECUTION_TIMEOUT_PARAMETER.name]: [String(plan.executionTimeoutSeconds)] };
  for (const [name, value] of Object.entries(values)) parameters[name] = [value];
  return parameters;
}

// ------------------------------------------------------------------ what the script prints

export const RESTORE_RESULT_PREFIX = 'RESTORE_RESULT ';
export const DRILL_RESULT_PREFIX = 'DRILL_RESULT ';

export const restoreResultSchema = z.looseObject({
  target: z.string().check(z.minLength(1)),
  kind: z.enum(BACKUP_KINDS),
  mode: z.enum(['scratch', 'replace']),
  key: z.string().check(z.minLength(1)),
  bytes: z.int().check(z.nonnegative()),
  sha256: z.string(),
  restoredTo: z.string(),
  previousDataKeptAs: z.nullable(z.string()),
  safetyBackupKey: z.nullable(z.string()),
  restoreSeconds: z.number().check(z.nonnegative()),
  durationSeconds: z.number().check(z.nonnegative()),
});
export type RestoreScriptResult = z.infer<typeof restoreResultSchema>;

export const drillCheckSchema = z.object({ name: z.string(), status: z.enum(['passed', 'failed', 'skipped']), detail: z.string() });
export type DrillCheck = z.infer<typeof drillCheckSchema>;

export const drillResultSchema = z.looseObject({
  target: z.string().check(z.minLength(1)),
  kind: z.enum(BACKUP_KINDS),
  key: z.string().check(z.minLength(1)),
  bytes: z.int().check(z.nonnegative()),
  passed: z.boolean(),
  /** Seconds from the start of the run to a checked, usable copy: the measured RTO. */
  restoreSeconds: z.number().check(z.nonnegative()),
  checks: z.array(drillCheckSchema),
});
export type DrillScriptResult = z.infer<typeof drillResultSchema>;

/** The last line with `prefix` in a run's standard output, validated; undefined when absent or malformed. */
export function parseResultLine<T>(stdout: string, prefix: string, schema: z.ZodMiniType<T>): T | undefined {
  const line = stdout
    .split(/\r?\n/)
    .map((candidate) => candidate.trim())
    .filter((candidate) => candidate.startsWith(prefix))
    .at(-1);
  if (line === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(line.slice(prefix.length)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** What restore.sh's exit codes mean, and what an engineer does about each. */
export const RESTORE_EXIT_CODES: Readonly<Record<number, ExitCodeMeaning>> = {
  0: { meaning: 'success', nextStep: 'Nothing to do.' },
  2: {
    meaning: 'bad input: a setting is missing or invalid on this instance, replace was not confirmed, or the data cannot be swapped safely (open SQLite file, MySQL views/routines)',
    nextStep: "Read the error line: it names the setting or the obstacle. Fix it (or use mode 'scratch') and run again. Nothing was changed.",
  },
  3: {
    meaning: 'credentials: the database password could not be read or the database refused the login',
    nextStep: "Check the instance role has the target's restore policy, and the password parameter or secret of the restore (or backup) user. Nothing was changed.",
  },
  4: {
    meaning: 'the restore tool failed (pg_restore, mysql, sqlite3, tar); the incomplete copy was removed and live data is untouched',
    nextStep: 'Read the error output: disk space, permissions (CREATEDB), version of the client tools. Fix it and run again.',
  },
  5: {
    meaning: 'the backup could not be found or downloaded (no manifest, no verified backup, S3 or KMS refused)',
    nextStep: "Check the key (dry run shows it), that the instance role has the target's restore policy, and that the instance reaches S3. Nothing was changed.",
  },
  7: {
    meaning: 'REFUSED: the downloaded backup does not match its manifest (SHA-256 or size) or does not decompress; nothing was touched',
    nextStep: 'Do not use this backup. Restore an older one by key, and report this one (the verify job should have flagged it).',
  },
  8: {
    meaning: 'the safety backup before the replace failed, so nothing was restored and live data is as it was',
    nextStep: "Read the backup error above (same causes as a failed backup); fix it, or restore with mode 'scratch' and swap by hand.",
  },
  9: {
    meaning: 'drill: the restored copy does not match the manifest (tables, row counts, files, checksums) or a probe failed; the copy was removed',
    nextStep: 'Read the failed checks in the result. A backup that restores differently from its manifest is not trustworthy: investigate before the next incident needs it.',
  },
  10: {
    meaning: 'the swap into place failed (sessions kept reconnecting, rename refused); live data is unchanged',
    nextStep: 'Stop the application (or its connections) and run the replace again, or restore in scratch mode and swap by hand.',
  },
  11: {
    meaning: 'the restored copy does not match the backup manifest (tables, row counts, file or entry counts, or not a database at all); nothing was put in place and live data is untouched',
    nextStep: 'Do not retry this backup: restore the previous verified one (by key, or before a time), and report this one with its verdict and the instance that made it.',
  },
};

export function describeRestoreExitCode(code: number): ExitCodeMeaning {
  return (
    RESTORE_EXIT_CODES[code] ?? {
      meaning: `unexpected exit code ${code}`,
      nextStep: "Read the error output and the full output in CloudWatch Logs. Live data is left as it was on every handled failure; check it before running again.",
    }
  );
}

// ------------------------------------------------------------------ functions, metrics, drills

export const RESTORE_SERVICE = SERVICES.restore;
export const DRILL_SERVICE = SERVICES.drill;
export const RESTORE_METRICS = { succeeded: METRICS.restoreSucceeded.name, failed: METRICS.restoreFailed.name, seconds: METRICS.restoreSeconds.name } as const;
export const DRILL_METRICS = {
  succeeded: METRICS.drillSucceeded.name,
  failed: METRICS.drillFailed.name,
  seconds: METRICS.drillSeconds.name,
  daysSinceSuccess: METRICS.daysSinceLastSuccessfulDrill.name,
} as const;

/** Environment of the restore, drill and result functions. */
export const RESTORE_ENV = {
  documentName: 'RESTORE_DOCUMENT_NAME',
  documentSha256: 'RESTORE_DOCUMENT_SHA256',
  site: 'RESTORE_SITE',
  targets: 'RESTORE_TARGETS',
  /** Servers that can be rebuilt in one call (restore.servers). */
  servers: 'RESTORE_SERVERS',
  commandLogGroupName: 'COMMAND_LOG_GROUP',
  alertTopicArn: 'ALERT_TOPIC_ARN',
  deliveryTimeoutSeconds: 'DELIVERY_TIMEOUT_SECONDS',
  rdsDrills: 'RDS_DRILLS',
  /** Days without a successful drill after which a target is late: the drill report mails its name, the alarm fires. */
  drillAlarmAfterDays: 'DRILL_ALARM_AFTER_DAYS',
  /** The backup bucket, where the result function records drill successes. */
  bucket: 'BACKUP_BUCKET',
} as const;

/** Where the result function records each target's last successful drill, in the backup bucket. */
export const DRILL_RECORD_PREFIX = 'drills/';
export function drillRecordKey(target: string): string {
  return `${DRILL_RECORD_PREFIX}${target}/last-success.json`;
}
/** When the kit began to expect drills of a target: the no-recent-drill alarm counts from it until the first success. */
export function drillExpectedSinceKey(target: string): string {
  return `${DRILL_RECORD_PREFIX}${target}/expected-since.json`;
}

export const drillRecordSchema = z.object({
  target: z.string(),
  succeededAt: z.iso.datetime(),
  key: z.string(),
  restoreSeconds: z.number(),
  commandId: z.optional(z.string()),
});
export type DrillRecord = z.infer<typeof drillRecordSchema>;

/** RDS drill instances: `<source>-drill-<yymmddhhmm>`, tagged so only they are ever deleted. */
export const DRILL_NAME_INFIX = '-drill-';
const DRILL_STAMP_LENGTH = 10;
export const DRILL_SOURCE_MAX_LENGTH = 63 - DRILL_NAME_INFIX.length - DRILL_STAMP_LENGTH;
export const DRILL_TAG = 'backup-kit:drill-of';

/** The Target dimension and record name of an RDS drill: `rds:<identifier>` (no EC2 target name has a colon). */
export function rdsDrillTargetName(identifier: string): string {
  return `rds:${identifier}`;
}

export function rdsDrillIdentifier(source: string, at: Date): string {
  const iso = at.toISOString();
  return `${source}${DRILL_NAME_INFIX}${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

export const rdsDrillSettingsSchema = z.array(z.strictObject({ identifier: z.string().check(z.minLength(1)), instanceClass: z.string().check(z.minLength(1)) }));
export type RdsDrillSettings = z.infer<typeof rdsDrillSettingsSchema>;
