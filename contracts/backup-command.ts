import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as z from './zod';
import { BACKUP_KINDS } from './manifest';

/**
 * The contract of the instance backup command: the SSM document's parameters (and the BK_*
 * variables the instance script reads from them), the plan the trigger sends from, the
 * `BACKUP_RESULT` line the script prints, and what its exit codes mean. The document
 * construct, the config section, the trigger and the result function all read it from here.
 */

export interface DocumentParameterSpec {
  /** Environment variable the document exports for the instance script. */
  readonly env: string;
  /**
   * SSM `allowedPattern`. The document interpolates values into its command text inside single
   * quotes, so no pattern may admit a quote, a backslash, a newline or a brace.
   */
  readonly pattern: string;
  readonly description: string;
  /** Optional parameters default to '' and the document unsets their variable when empty. */
  readonly optional: boolean;
}

const optional = (pattern: string): string => `^$|${pattern}`;

/** Target names: S3 prefix part, metric dimension, event value. */
export const TARGET_NAME_PATTERN = '^[a-z][a-z0-9-]{0,39}$';
export const TIER_PARAMETER_PATTERN = '^[a-z][a-z0-9-]{0,23}$';
export const DB_HOST_PATTERN = '^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$';
export const DB_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$';
export const DB_USER_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$';
export const SSM_PARAMETER_NAME_PATTERN = '^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$';
export const SECRET_ID_PATTERN = '^[A-Za-z0-9/_+=.@:-]{1,2048}$';
/** Absolute paths; spaces are allowed (the value is single-quoted), shell metacharacters are not. */
export const ABSOLUTE_PATH_PATTERN = '^/[A-Za-z0-9._/@+=,: -]{0,4095}$';
/** Several absolute paths of a files target, joined with ':' (so no path may hold one). */
export const PATH_LIST_PATTERN = '^/[A-Za-z0-9._/@+=, -]*(:/[A-Za-z0-9._/@+=, -]*)*$';
/** One tar exclude pattern (globs allowed); the document joins them with ':'. */
export const EXCLUDE_PATTERN = '^[A-Za-z0-9._/@+=,*?!\\[\\] -]{1,1024}$';
const EXCLUDES_PARAMETER_PATTERN = '^[A-Za-z0-9._/@+=,*?!\\[\\]: -]{1,8192}$';
const EXECUTION_TIMEOUT_PATTERN = '^([1-9][0-9]{0,4}|1[0-6][0-9]{4}|17[0-1][0-9]{3}|172[0-7][0-9]{2}|172800)$';

export const DOCUMENT_PARAMETERS = {
  target: { env: 'BK_TARGET', pattern: TARGET_NAME_PATTERN, optional: false, description: 'Name of the backup target (S3 prefix part and metric dimension).' },
  kind: { env: 'BK_KIND', pattern: `^(${BACKUP_KINDS.join('|')})$`, optional: false, description: 'What is backed up: postgres, mysql, sqlite or files.' },
  tier: { env: 'BK_TIER', pattern: TIER_PARAMETER_PATTERN, optional: false, description: 'Backup tier (first part of the object key).' },
  bucket: { env: 'BK_BUCKET', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', optional: false, description: 'Backup bucket name.' },
  kmsKeyId: { env: 'BK_KMS_KEY_ID', pattern: '^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,64}$', optional: false, description: 'ARN of the backup bucket key (SSE-KMS).' },
  retentionDays: { env: 'BK_RETENTION_DAYS', pattern: '^[1-9][0-9]{0,4}$', optional: false, description: "Days of Object Lock retention (the tier's retention)." },
  region: { env: 'BK_REGION', pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$', optional: false, description: 'Region of the backup bucket.' },
  objectLockMode: { env: 'BK_OBJECT_LOCK_MODE', pattern: '^(GOVERNANCE|COMPLIANCE)$', optional: false, description: "Object Lock mode of the retention set on each object (the tier's mode)." },
  dbHost: { env: 'BK_DB_HOST', pattern: optional(DB_HOST_PATTERN), optional: true, description: 'Database host (postgres, mysql).' },
  dbPort: { env: 'BK_DB_PORT', pattern: optional('^[1-9][0-9]{0,4}$'), optional: true, description: 'Database port (postgres, mysql).' },
  dbName: { env: 'BK_DB_NAME', pattern: optional(DB_NAME_PATTERN), optional: true, description: 'Database name (postgres, mysql).' },
  dbUser: { env: 'BK_DB_USER', pattern: optional(DB_USER_PATTERN), optional: true, description: 'Database user (postgres, mysql).' },
  passwordSsmParameter: { env: 'BK_PASSWORD_SSM_PARAMETER', pattern: optional(SSM_PARAMETER_NAME_PATTERN), optional: true, description: 'Name of the SSM SecureString parameter holding the database password (never the password).' },
  passwordSecretId: { env: 'BK_PASSWORD_SECRET_ID', pattern: optional(SECRET_ID_PATTERN), optional: true, description: 'Name or ARN of the Secrets Manager secret holding the database password (never the password).' },
  path: { env: 'BK_PATH', pattern: optional(ABSOLUTE_PATH_PATTERN), optional: true, description: 'Absolute path: the SQLite file, or the directory to archive.' },
  paths: { env: 'BK_PATHS', pattern: optional(PATH_LIST_PATTERN), optional: true, description: "Files: several absolute paths (files or directories), ':' separated, each restored to its own place." },
  excludes: { env: 'BK_EXCLUDES', pattern: optional(EXCLUDES_PARAMETER_PATTERN), optional: true, description: 'Colon-separated tar exclude patterns (files).' },
} as const satisfies Record<string, DocumentParameterSpec>;

export type DocumentParameterName = keyof typeof DOCUMENT_PARAMETERS;

/** The document's own parameter for the step's `timeoutSeconds` (not exported to the script). */
export const EXECUTION_TIMEOUT_PARAMETER = {
  name: 'executionTimeout',
  pattern: EXECUTION_TIMEOUT_PATTERN,
  description: 'Seconds the backup may run before the agent stops it (at most 172800).',
  maxSeconds: 172_800,
} as const;

/** Environment of the trigger function (set by the construct, read by the handler). */
export const TRIGGER_ENV = {
  documentName: 'BACKUP_DOCUMENT_NAME',
  documentSha256: 'BACKUP_DOCUMENT_SHA256',
  bucket: 'BACKUP_BUCKET',
  kmsKeyArn: 'BACKUP_KMS_KEY_ARN',
  commandLogGroupName: 'COMMAND_LOG_GROUP',
  alertTopicArn: 'ALERT_TOPIC_ARN',
  deliveryTimeoutSeconds: 'DELIVERY_TIMEOUT_SECONDS',
  tiers: 'BACKUP_TIERS',
  targets: 'BACKUP_TARGETS',
} as const;

/** Environment of the result function. */
export const RESULT_ENV = {
  documentName: 'BACKUP_DOCUMENT_NAME',
  alertTopicArn: 'ALERT_TOPIC_ARN',
  commandLogGroupName: 'COMMAND_LOG_GROUP',
  triggerFunctionName: 'TRIGGER_FUNCTION_NAME',
} as const;

/** The Run Command events the result function receives. */
export const INVOCATION_DETAIL_TYPE = 'EC2 Command Invocation Status-change Notification';
export const COMMAND_DETAIL_TYPE = 'EC2 Command Status-change Notification';

/** Statuses after which a command or invocation still changes; every other status is final. */
export const NON_TERMINAL_STATUSES = ['Pending', 'InProgress', 'Delayed', 'Cancelling'] as const;

/** The one step of the document; GetCommandInvocation and the output log streams are named by it. */
export const BACKUP_STEP_NAME = 'backup';

/** True when `value` passes `pattern` (same semantics the SSM allowedPattern check applies). */
export function matchesParameterPattern(pattern: string, value: string): boolean {
  return new RegExp(pattern).test(value);
}

/** How the trigger finds a target's instances. */
export const instanceSelectorSchema = z.union([
  z.strictObject({ instanceIds: z.array(z.string().check(z.regex(/^i-([0-9a-f]{8}|[0-9a-f]{17})$/))).check(z.minLength(1), z.maxLength(50)) }),
  z.strictObject({ tag: z.strictObject({ key: z.string().check(z.minLength(1)), value: z.string().check(z.minLength(1)) }) }),
]);
export type InstanceSelector = z.infer<typeof instanceSelectorSchema>;

/** Where the instance reads the database password: a name, never the password itself. */
export const passwordSourceSchema = z.union([
  z.strictObject({ ssmParameter: z.string().check(z.minLength(1)) }),
  z.strictObject({ secretId: z.string().check(z.minLength(1)) }),
]);
export type PasswordSource = z.infer<typeof passwordSourceSchema>;

/**
 * One target as the trigger receives it (from the validated config, in its environment):
 * every default resolved, tiers explicit.
 */
export const targetPlanSchema = z.strictObject({
  name: z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN))),
  kind: z.enum(BACKUP_KINDS),
  instances: instanceSelectorSchema,
  tiers: z.array(z.string()).check(z.minLength(1)),
  database: z.optional(z.strictObject({
      host: z.string(),
      port: z.int(),
      name: z.string(),
      user: z.string(),
      password: passwordSourceSchema,
    })),
  path: z.optional(z.string()),
  paths: z.optional(z.array(z.string()).check(z.minLength(1))),
  excludes: z.optional(z.array(z.string())),
  executionTimeoutSeconds: z.int().check(z.gte(1), z.lte(EXECUTION_TIMEOUT_PARAMETER.maxSeconds)),
  maxConcurrency: z.string(),
  maxErrors: z.string(),
});
export type TargetPlan = z.infer<typeof targetPlanSchema>;

export const tierPlanSchema = z.record(
  z.string(),
  z.strictObject({ retentionDays: z.int().check(z.gte(1)), scheduled: z.boolean(), objectLockMode: z.enum(['GOVERNANCE', 'COMPLIANCE']) }),
);
export type TierPlan = z.infer<typeof tierPlanSchema>;

/** Target lists up to this size travel as readable JSON; larger ones are gzipped. */
const INLINE_TARGETS_BYTES = 1500;
const GZIP_PREFIX = 'gzip:';

/**
 * The target list for the trigger's environment: JSON you can read in the console while it is
 * small, gzip+base64 (`gzip:...`) once it is not, since Lambda allows 4 KB of variables in all.
 */
export function encodeTargetPlans(targets: readonly TargetPlan[]): string {
  const json = JSON.stringify(targets);
  if (Buffer.byteLength(json) <= INLINE_TARGETS_BYTES) return json;
  return `${GZIP_PREFIX}${gzipSync(json, { level: 9 }).toString('base64')}`;
}

export function decodeTargetPlans(encoded: string): unknown {
  const json = encoded.startsWith(GZIP_PREFIX) ? gunzipSync(Buffer.from(encoded.slice(GZIP_PREFIX.length), 'base64')).toString('utf8') : encoded;
  return JSON.parse(json) as unknown;
}

/** Where a run writes: the same for every target. */
export interface BackupDestination {
  readonly bucket: string;
  readonly kmsKeyArn: string;
  readonly region: string;
}

/** Object Lock modes S3 knows: GOVERNANCE can be lifted by s3:BypassGovernanceRetention, COMPLIANCE by nobody. */
export type ObjectLockModeName = 'GOVERNANCE' | 'COMPLIANCE';

/** How a tier locks what it writes: each object's retain-until date is this many days after upload, in this mode. */
export interface TierLock {
  readonly retentionDays: number;
  readonly objectLockMode: ObjectLockModeName;
}

/** The document parameters of one target's run in one tier. */
export function documentParametersFor(
  target: TargetPlan,
  tier: string,
  lock: TierLock,
  destination: BackupDestination,
): Record<string, string[]> {
  const values: Partial<Record<DocumentParameterName, string>> = {
    target: target.name,
    kind: target.kind,
    tier,
    bucket: destination.bucket,
    kmsKeyId: destination.kmsKeyArn,
    retentionDays: String(lock.retentionDays),
    region: destination.region,
    objectLockMode: lock.objectLockMode,
  };
  if (target.database) {
    values.dbHost = target.database.host;
    values.dbPort = String(target.database.port);
    values.dbName = target.database.name;
    values.dbUser = target.database.user;
    if ('ssmParameter' in target.database.password) {
      values.passwordSsmParameter = target.database.password.ssmParameter;
    } else {
      values.passwordSecretId = target.database.password.secretId;
    }
  }
  if (target.path !== undefined) values.path = target.path;
  if (target.paths !== undefined) values.paths = target.paths.join(':');
  if (target.excludes && target.excludes.length > 0) values.excludes = target.excludes.join(':');
  const parameters: Record<string, string[]> = {
    [EXECUTION_TIMEOUT_PARAMETER.name]: [String(target.executionTimeoutSeconds)],
  };
  for (const [name, value] of Object.entries(values)) {
    parameters[name] = [value];
  }
  return parameters;
}

/**
 * Parameters whose value fails its pattern in `specs` (SSM would refuse the whole command), or
 * that are no parameter of the document; `document` names it in the problems.
 */
export function invalidParameters(parameters: Record<string, string[]>, specs: Readonly<Record<string, DocumentParameterSpec>>, document: string): string[] {
  const problems: string[] = [];
  for (const [name, values] of Object.entries(parameters)) {
    const pattern = name === EXECUTION_TIMEOUT_PARAMETER.name ? EXECUTION_TIMEOUT_PARAMETER.pattern : specs[name]?.pattern;
    if (pattern === undefined) {
      problems.push(`${name}: not a parameter of the ${document} document`);
      continue;
    }
    for (const value of values) {
      if (!matchesParameterPattern(pattern, value)) problems.push(`${name}: '${value}' does not match ${pattern}`);
    }
  }
  return problems;
}

/** Parameters whose value fails the backup document's pattern. */
export function invalidDocumentParameters(parameters: Record<string, string[]>): string[] {
  return invalidParameters(parameters, DOCUMENT_PARAMETERS, 'backup');
}

/** The last stdout line of a successful run: `BACKUP_RESULT {json}`. */
export const BACKUP_RESULT_PREFIX = 'BACKUP_RESULT ';

export const backupResultSchema = z.looseObject({
  target: z.string().check(z.minLength(1)),
  tier: z.string().check(z.minLength(1)),
  kind: z.enum(BACKUP_KINDS),
  bucket: z.string().check(z.minLength(1)),
  key: z.string().check(z.minLength(1)),
  bytes: z.int().check(z.nonnegative()),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  durationSeconds: z.number().check(z.nonnegative()),
});
export type BackupResult = z.infer<typeof backupResultSchema>;

export type BackupResultParse =
  | { readonly found: true; readonly result: BackupResult }
  | { readonly found: false; readonly reason: string };

/** Finds and validates the last `BACKUP_RESULT` line in a run's standard output. */
export function parseBackupResult(stdout: string): BackupResultParse {
  const line = stdout
    .split(/\r?\n/)
    .map((candidate) => candidate.trim())
    .filter((candidate) => candidate.startsWith(BACKUP_RESULT_PREFIX))
    .at(-1);
  if (line === undefined) return { found: false, reason: 'no BACKUP_RESULT line in the standard output' };
  let json: unknown;
  try {
    json = JSON.parse(line.slice(BACKUP_RESULT_PREFIX.length));
  } catch (error) {
    return { found: false, reason: `BACKUP_RESULT is not JSON: ${(error as Error).message}` };
  }
  const parsed = backupResultSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(line)'}: ${issue.message}`);
    return { found: false, reason: `BACKUP_RESULT is incomplete: ${issues.join('; ')}` };
  }
  return { found: true, result: parsed.data };
}

export interface ExitCodeMeaning {
  readonly meaning: string;
  readonly nextStep: string;
}

/** What the script's exit codes mean, and what an engineer does about each. */
export const EXIT_CODES: Readonly<Record<number, ExitCodeMeaning>> = {
  0: { meaning: 'success', nextStep: 'Nothing to do.' },
  2: {
    meaning: 'bad input: a setting of this target is missing or invalid on this instance (path, database, kind, excludes)',
    nextStep:
      "Compare the target's entry in the config with the instance (does the path or database exist there?), fix the config and redeploy, then run a manual backup.",
  },
  3: {
    meaning: 'credentials: the database password could not be read, or the database refused the login',
    nextStep:
      "Check that the instance role has this target's managed policy attached, that the SSM parameter or secret named in the config exists and holds the current password of the configured user, then run a manual backup.",
  },
  4: {
    meaning: 'dump or compression failed',
    nextStep:
      'Read the error output above: is the database running and reachable from the instance, does the user have read rights on every table, is the file or directory readable? Fix it, then run a manual backup.',
  },
  5: {
    meaning: 'upload to S3 failed; nothing was stored',
    nextStep:
      "Check that the instance reaches S3 (VPC endpoint or NAT), that its role has this target's managed policy, and that the backup bucket's KMS key is enabled, then run a manual backup.",
  },
  6: {
    meaning: 'the backup object was uploaded but its manifest could not be written, so the backup is incomplete',
    nextStep:
      "Check the instance role may write `<key>.manifest.json` under this target's prefix, then run a manual backup. The incomplete object expires with its tier.",
  },
};

/** Run Command outcomes where the script never ran or was stopped (no exit code of its own). */
export const RUN_STATUS_MEANINGS: Readonly<Record<string, ExitCodeMeaning>> = {
  DeliveryTimedOut: {
    meaning: 'the instance did not pick up the command in time (stopped, agent offline, or no route to SSM)',
    nextStep:
      'Check in Fleet Manager that the instance is running and its SSM agent is online (its role needs AmazonSSMManagedInstanceCore), then run a manual backup.',
  },
  Undeliverable: {
    meaning: 'the command could not be delivered: the instance does not exist, is terminated or is not managed by SSM',
    nextStep:
      "Check that the target's instances in the config still exist and are managed by SSM (Fleet Manager), fix the config if they were replaced, then run a manual backup.",
  },
  ExecutionTimedOut: {
    meaning: "the backup ran longer than the target's timeoutMinutes and was stopped",
    nextStep:
      "Look at the output for the stage that hung (lock wait, slow disk, network); raise the target's timeoutMinutes in the config if the data simply grew, then run a manual backup.",
  },
  Terminated: {
    meaning: 'the instance stopped or terminated during the backup',
    nextStep: 'Check why the instance went away; when it is back, run a manual backup.',
  },
  Cancelled: {
    meaning: 'somebody cancelled the command',
    nextStep: 'If the cancellation was not deliberate, run a manual backup.',
  },
  InvalidPlatform: {
    meaning: 'the instance is not Linux; the backup document runs on Linux only',
    nextStep: "Remove the instance from the target's instances (or its tag) in the config.",
  },
  AccessDenied: {
    meaning: 'Systems Manager refused to run the command on this instance',
    nextStep: 'Check the SSM agent and the instance role (AmazonSSMManagedInstanceCore), then run a manual backup.',
  },
};

export function describeExitCode(code: number): ExitCodeMeaning {
  return (
    EXIT_CODES[code] ?? {
      meaning: `unexpected exit code ${code} (the script or a tool it runs failed outside the handled stages)`,
      nextStep: 'Read the error output above and the full output in CloudWatch Logs, fix the cause, then run a manual backup.',
    }
  );
}

/** JSON with object keys sorted at every level: equal documents give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * SHA-256 of a document's content, independent of how it was serialized. The construct
 * computes it at synth and the trigger compares it with what SSM holds, to pin the exact
 * document version this deployment created.
 */
export function documentContentSha256(content: unknown): string {
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}
