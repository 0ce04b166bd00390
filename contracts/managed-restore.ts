import * as z from './zod';
import { InvalidEventError } from './errors';
import { MANAGED_RESOURCE_KINDS } from './managed-backup';
import { REQUESTED_BY_PLACEHOLDER, parseRestoreTime } from './rds-restore-event';
import { TAG_VALUE_PATTERN, rdsIdentifierProblem } from './rds';

/**
 * The contract of the managed-restore function: restores of the data AWS Backup protects (RDS
 * instances, Aurora clusters, S3 buckets) from a recovery point in the kit's vault, always into a
 * new resource named `<source>-restored-…`. The console event, the settings the stack gives the
 * function, and how a restored resource is named. Pure: no SDK, no CDK.
 */

export const MANAGED_RESTORE_ENV = {
  /** JSON of `ManagedRestoreSettings`. */
  settings: 'MANAGED_RESTORE_SETTINGS',
  /** The alert topic the completion function reports to. */
  alertTopic: 'MANAGED_RESTORE_ALERT_TOPIC',
  /** The database probe function the completion function invokes on restore tests' database copies, when any is probed. */
  probeFunction: 'MANAGED_RESTORE_PROBE_FUNCTION',
} as const;

/** The kinds a console restore handles, by the word `managedResourceName` shows them with. */
export const RESTORABLE_KINDS = [MANAGED_RESOURCE_KINDS.rdsInstances, MANAGED_RESOURCE_KINDS.auroraClusters, MANAGED_RESOURCE_KINDS.s3Buckets] as const;
export type RestorableKind = (typeof RESTORABLE_KINDS)[number];

/** What AWS Backup names (and tags) a restore test's copies: `awsbackup-restore-test-<random>`. */
export const RESTORE_TEST_PREFIX = 'awsbackup-restore-test';

/** What every restored resource's name starts with: `<source>-restored-`. AWS Backup's restore role may write nowhere else. */
export const RESTORED_INFIX = '-restored-';
/** `-restored-` and a minute, `yyyymmddhhmm`: the longest suffix a default name adds. */
export const RESTORED_SUFFIX_LENGTH = RESTORED_INFIX.length + 12;
/** The longest name each kind allows (RDS instance and cluster identifiers, bucket names). */
export const NAME_MAX_LENGTH = 63;

export function restoredNamePrefix(identifier: string): string {
  return `${identifier}${RESTORED_INFIX}`;
}

/** `<source>-restored-<yyyymmddhhmm of the recovery point>`: a second restore of the same point is the same name, refused, never an overwrite. */
export function defaultRestoredName(identifier: string, recoveryPointCreated: Date): string {
  const minute = recoveryPointCreated.toISOString().slice(0, 16).replace(/[-T:]/g, '');
  return `${restoredNamePrefix(identifier)}${minute}`;
}

// ---------------------------------------------------------------- settings

const restorableResourceSchema = z.strictObject({
  /** `<kind>:<identifier>` (managedResourceName). */
  name: z.string().check(z.minLength(1)),
  kind: z.enum(RESTORABLE_KINDS),
  /** Instance or cluster identifier, or bucket name. */
  identifier: z.string().check(z.minLength(1), z.maxLength(NAME_MAX_LENGTH - RESTORED_SUFFIX_LENGTH)),
  arn: z.string().check(z.regex(/^arn:aws[a-z-]*:/)),
  className: z.string().check(z.minLength(1)),
  /** Whether the class's rules copy its recovery points to the DR region's vault. */
  copiedToDr: z.boolean(),
  /** Whether its restore tests' copies answer SQL probes (the database probe function holds the statements). */
  probed: z.optional(z.boolean()),
  /** Where an RDS copy goes in the DR region (from rds.instances drReplication); without it a DR restore is refused. */
  drNetwork: z.optional(
    z.strictObject({
      subnetGroupName: z.string().check(z.minLength(1)),
      securityGroupIds: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
      parameterGroupName: z.optional(z.string().check(z.minLength(1))),
      optionGroupName: z.optional(z.string().check(z.minLength(1))),
    }),
  ),
});
export type RestorableResource = z.infer<typeof restorableResourceSchema>;

export const managedRestoreSettingsSchema = z.strictObject({
  primaryRegion: z.string().check(z.minLength(1)),
  drRegion: z.string().check(z.minLength(1)),
  /** Same name in both regions. */
  vaultName: z.string().check(z.minLength(1)),
  /** The role AWS Backup restores with: it may write only to `<source>-restored-*`. */
  restoreRoleArn: z.string().check(z.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\//)),
  /** The role of the restore testing plans: its completed jobs are restore tests, validated here. */
  restoreTestingRoleArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\//))),
  resources: z.array(restorableResourceSchema),
});
export type ManagedRestoreSettings = z.infer<typeof managedRestoreSettingsSchema>;

export function parseManagedRestoreSettings(raw: unknown): ManagedRestoreSettings {
  const parsed = managedRestoreSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`environment variable ${MANAGED_RESTORE_ENV.settings} is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

// ---------------------------------------------------------------- event

export const MANAGED_RESTORE_EVENT_FIELDS = ['source', 'recoveryPoint', 'target', 'items', 'instanceClass', 'region', 'dryRun', 'requestedBy'] as const;

/** Which recovery point: the newest, the newest created before a time, or one by its ARN. */
export type RecoveryPointChoice =
  | { readonly kind: 'latest' }
  | { readonly kind: 'latest-before'; readonly before: Date; readonly asked: string }
  | { readonly kind: 'arn'; readonly arn: string };

const LATEST_BEFORE = 'latest-before:';
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** AWS Backup's own (`arn:aws:backup:…:recovery-point:…`, S3 and continuous backups) or the service's snapshot (`arn:aws:rds:…:snapshot:awsbackup:job-…`). */
const RECOVERY_POINT_ARN = /^arn:aws[a-z-]*:(?:backup:[a-z0-9-]+:\d{12}:recovery-point|rds:[a-z0-9-]+:\d{12}:(?:cluster-)?snapshot):[A-Za-z0-9:._-]{1,500}$/;
const EXAMPLE_CHOICE = 'latest-before:2026-01-31';

/** `latest`, `latest-before:<date or ISO time with a zone>` (a date alone is 00:00 UTC), or a recovery point ARN. */
export function parseRecoveryPointChoice(value: string): { choice: RecoveryPointChoice } | { problem: string } {
  if (value === 'latest') return { choice: { kind: 'latest' } };
  if (value.startsWith('arn:')) {
    return RECOVERY_POINT_ARN.test(value) ? { choice: { kind: 'arn', arn: value } } : { problem: `'${value.slice(0, 120)}' is not an AWS Backup recovery point ARN (arn:aws:backup:<region>:<account>:recovery-point:<id>, or for RDS and Aurora arn:aws:rds:<region>:<account>:snapshot:awsbackup:<job>)` };
  }
  if (!value.startsWith(LATEST_BEFORE)) {
    return { problem: `'${value.slice(0, 120)}' is none of "latest", "${EXAMPLE_CHOICE}" (a date alone is 00:00 UTC) or "latest-before:2026-01-31T12:00:00Z", or a recovery point ARN` };
  }
  const asked = value.slice(LATEST_BEFORE.length);
  const date = DATE_ONLY.exec(asked);
  const parsed = parseRestoreTime(date ? `${asked}T00:00:00Z` : asked);
  if ('problem' in parsed) return { problem: `latest-before: ${parsed.problem.replace(/T00:00:00Z'/, "'")}` };
  if (parsed.time === 'latest') return { problem: `'${value}': write "latest" alone` };
  return { choice: { kind: 'latest-before', before: parsed.time, asked } };
}

const stringField = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be a string (${what})`) });
const booleanField = () => z.boolean({ error: (issue) => `must be true or false (got ${JSON.stringify(issue.input)?.slice(0, 40)})` });

/** One S3 key or prefix to restore: no URI, no leading slash, no control characters. */
const itemField = stringField('an object key or a prefix ending in /').check(
  z.minLength(1, { message: 'must not be empty' }),
  z.maxLength(1024, { message: 'must be at most 1024 characters (S3 keys are)' }),
  z.refine((value) => !/^s3:\/\//i.test(value), { message: 'give the key or prefix inside the bucket, without s3://<bucket>/' }),
  z.refine((value) => !value.startsWith('/'), { message: 'must not start with / (S3 keys do not)' }),
  // eslint-disable-next-line no-control-regex
  z.refine((value) => !/[\u0000-\u001f\u007f]/.test(value), { message: 'must not contain control characters' }),
);

export const managedRestoreEventSchema = z.strictObject(
  {
    /** A resource the config protects: `orders-db`, or with its kind `rds:orders-db` when two kinds share the name. */
    source: stringField('a protected resource such as orders-db or s3:team-media').check(
      z.trim(),
      z.minLength(1, { message: 'must not be empty' }),
      z.maxLength(80, { message: 'must be at most 80 characters' }),
      z.regex(/^(?:(?:rds|aurora|s3):)?[a-z0-9][a-z0-9.-]*$/, { message: 'must be a protected resource such as orders-db, aurora:billing-aurora or s3:team-media' }),
    ),
    recoveryPoint: z.pipe(
      stringField(`"latest", "${EXAMPLE_CHOICE}" or a recovery point ARN`).check(
        z.trim(),
        z.maxLength(600, { message: 'must be at most 600 characters' }),
        z.superRefine((value, ctx) => {
          const parsed = parseRecoveryPointChoice(value);
          if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
        }),
      ),
      z.transform((value: string): RecoveryPointChoice => {
        const parsed = parseRecoveryPointChoice(value);
        if ('problem' in parsed) throw new Error(parsed.problem);
        return parsed.choice;
      }),
    ),
    /** Name of the new instance, cluster or bucket; `<source>-restored-<yyyymmddhhmm of the point>` when omitted. */
    target: z.optional(
      stringField('a new name starting with <source>-restored-').check(
        z.toLowerCase(),
        z.maxLength(NAME_MAX_LENGTH, { message: `must be at most ${NAME_MAX_LENGTH} characters` }),
        z.regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, { message: 'must be lowercase letters, digits, hyphens (and dots, for a bucket), starting and ending with a letter or digit' }),
      ),
    ),
    /** S3 only: up to 5 keys or prefixes to restore instead of the whole bucket. */
    items: z.optional(z.array(itemField, { error: 'must be a list of up to 5 keys or prefixes' }).check(z.minLength(1, { message: 'must list at least one key or prefix (leave it out to restore the whole bucket)' }), z.maxLength(5, { message: 'AWS Backup restores at most 5 keys or prefixes per job: list at most 5, or leave it out to restore the whole bucket' }))),
    /** RDS only: instance class of the copy; the backed-up instance's when omitted. */
    instanceClass: z.optional(stringField('an instance class such as db.r6g.large').check(z.regex(/^db\.[a-z0-9-]+\.[a-z0-9]+$/, { message: 'must be an RDS instance class such as db.r6g.large' }))),
    region: z._default(z.enum(['primary', 'dr'], { error: (issue) => `must be "primary" or "dr" (got ${JSON.stringify(issue.input)?.slice(0, 40)})` }), 'primary'),
    dryRun: z._default(booleanField(), false),
    requestedBy: z.optional(
      stringField('your name or e-mail').check(
        z.trim(),
        z.minLength(1, { message: 'must not be empty' }),
        z.maxLength(100, { message: 'must be at most 100 characters' }),
        z.regex(TAG_VALUE_PATTERN, { message: 'may contain only letters, digits, spaces and _ . : / = + - @' }),
        z.refine((value) => value !== REQUESTED_BY_PLACEHOLDER, { message: `replace ${REQUESTED_BY_PLACEHOLDER} with your name or e-mail (it is recorded with the restore job)` }),
      ),
    ),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object such as {"source": "orders-db", "recoveryPoint": "latest-before:2026-01-31", "dryRun": true}' : undefined) },
).check(
  z.superRefine((event, ctx) => {
    const identifier = event.source.replace(/^(?:rds|aurora|s3):/, '');
    if (event.target !== undefined && !event.target.startsWith(restoredNamePrefix(identifier))) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: `must start with '${restoredNamePrefix(identifier)}': a restore creates only resources named after their source, so it can never write into another` });
    }
    if (event.target !== undefined && /^(?:rds|aurora):/.test(event.source)) {
      const problem = rdsIdentifierProblem(event.target);
      if (problem) ctx.addIssue({ code: 'custom', path: ['target'], message: `is not a valid RDS identifier: ${problem}` });
    }
  }),
);
export type ManagedRestoreRequest = z.infer<typeof managedRestoreEventSchema>;
export type ManagedRestoreEventInput = z.input<typeof managedRestoreEventSchema>;

/** Validates an event; throws `InvalidEventError` whose issues each start with the field at fault. */
export function parseManagedRestoreEvent(event: unknown): ManagedRestoreRequest {
  const parsed = managedRestoreEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  throw new InvalidEventError(
    parsed.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${key.slice(0, 60)}: unknown field (this event accepts ${MANAGED_RESTORE_EVENT_FIELDS.join(', ')})`);
      const path = issue.path.map(String).join('.');
      return [`${path === '' ? '(event)' : path}: ${issue.message}`];
    }),
  );
}
