import * as z from './zod';
import { METRICS, SERVICES } from './metric-catalog';

/**
 * The RDS point-in-time restore contract shared by the config, the restore function, the
 * completion function and the constructs: identifier rules, target naming, the tags a
 * restore writes, and the settings the functions receive in their environment.
 */

/** RDS allows DB instance identifiers of at most 63 characters. */
export const RDS_IDENTIFIER_MAX_LENGTH = 63;

/** What separates a source identifier from the restore stamp in a restored instance's name. */
export const RESTORE_NAME_INFIX = '-pitr-';

/** `yyyymmddhhmm`: the minute of the restore point, in UTC. */
const RESTORE_STAMP_LENGTH = 12;

/**
 * Longest source identifier whose default target `<source>-pitr-<yyyymmddhhmm>` still fits
 * RDS's 63 characters.
 */
export const MAX_SOURCE_IDENTIFIER_LENGTH = RDS_IDENTIFIER_MAX_LENGTH - RESTORE_NAME_INFIX.length - RESTORE_STAMP_LENGTH;

/** `-<n>` after a restored cluster's name names its instances (at most 9, as Aurora's 15 readers are rare). */
export const CLUSTER_INSTANCE_SUFFIX_LENGTH = 2;

/** The instances of a restored Aurora cluster: `<cluster>-1` (the writer), `<cluster>-2`, … */
export function restoredClusterInstanceName(cluster: string, position: number): string {
  return `${cluster}-${position + 1}`;
}

/**
 * Why `value` is not a valid RDS DB instance identifier, or undefined when it is. RDS's rules:
 * 1-63 letters, digits or hyphens, starting with a letter, no two hyphens in a row, not ending
 * with a hyphen. RDS stores identifiers in lowercase, so this app requires lowercase.
 */
export function rdsIdentifierProblem(value: string, maxLength = RDS_IDENTIFIER_MAX_LENGTH): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > maxLength) return `must be at most ${maxLength} characters (got ${value.length})`;
  if (!/^[a-z]/.test(value)) return 'must start with a lowercase letter';
  if (!/^[a-z0-9-]+$/.test(value)) return 'may contain only lowercase letters, digits and hyphens';
  if (value.includes('--')) return 'must not contain two hyphens in a row';
  if (value.endsWith('-')) return 'must not end with a hyphen';
  return undefined;
}

/** Every instance the restore function creates for `source` starts with this. */
export function restoreTargetPrefix(source: string): string {
  return `${source}${RESTORE_NAME_INFIX}`;
}

/** `<source>-pitr-<yyyymmddhhmm>` for the minute of `restorePoint` in UTC. */
export function defaultRestoreTarget(source: string, restorePoint: Date): string {
  const stamp = restorePoint.toISOString().slice(0, 16).replace(/[-T:]/g, '');
  return `${restoreTargetPrefix(source)}${stamp}`;
}

/** Tags the restore function writes on every instance it creates; the completion reads them. */
export const RESTORE_TAGS = {
  /** Identifier of the source instance. */
  restoredFrom: 'restored-from',
  /** The requested restore time (ISO 8601, UTC, seconds) or `latest`. */
  restoreTime: 'restore-time',
  /** The point the data is restored to: the requested time, or the latest restorable time at request. */
  restorePoint: 'restore-point',
  /** Who asked (the event's `requestedBy`, else `unspecified`). */
  requestedBy: 'requested-by',
  /** When the restore function was invoked (ISO 8601, UTC). */
  requestedAt: 'restore-requested-at',
  /** The Lambda request ID of the invocation; CloudTrail's Invoke record carries the same ID. */
  requestId: 'restore-request-id',
  /** Set by the completion function once it has reported the outcome (so it reports once). */
  completedAt: 'restore-completed-at',
} as const;

export const RESTORE_TAG_KEYS: ReadonlySet<string> = new Set(Object.values(RESTORE_TAGS));

/** RDS allows at most 50 tags on a resource. */
export const RDS_MAX_TAGS = 50;

/** The characters AWS allows in a tag value: `\p{Z}` separators, not every `\s` (tabs, line breaks and U+FEFF are refused). */
export const TAG_VALUE_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Formats a time as the tags and answers show it: ISO 8601, UTC, whole seconds. */
export function isoSeconds(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

const kmsKeyArnSchema = z.string().check(z.regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/));

/** Where a DR-region restore puts the instance: the source's own network does not exist there. */
export const drRestoreTargetSchema = z.strictObject({
  subnetGroupName: z.string().check(z.minLength(1)),
  securityGroupIds: z.array(z.string().check(z.regex(/^sg-[0-9a-f]{8,17}$/))).check(z.minLength(1)),
  parameterGroupName: z.optional(z.string().check(z.minLength(1))),
  optionGroupName: z.optional(z.string().check(z.minLength(1))),
  /** The DR-region key the replicated backups (and so the restored instance) are encrypted with. */
  kmsKeyArn: z.optional(kmsKeyArnSchema),
});
export type DrRestoreTarget = z.infer<typeof drRestoreTargetSchema>;

/** One source the functions may restore, as they receive it. */
export const restoreSourceSettingsSchema = z.strictObject({
  identifier: z.string().check(z.minLength(1)),
  /** `cluster` for an Aurora DB cluster (restored as a new cluster, then its instances); absent for an RDS DB instance. */
  kind: z.optional(z.literal('cluster')),
  /** The source's KMS key when the config names it; a restore refuses a source whose key differs. */
  kmsKeyArn: z.optional(kmsKeyArnSchema),
  /** Present when the source's automated backups are replicated to the DR region. */
  dr: z.optional(drRestoreTargetSchema),
});
export type RestoreSourceSettings = z.infer<typeof restoreSourceSettingsSchema>;

/** The environment contract of the restore and completion functions (`RDS_RESTORE_SETTINGS`). */
export const restoreSettingsSchema = z.strictObject({
  primaryRegion: z.string().check(z.minLength(1)),
  drRegion: z.string().check(z.minLength(1)),
  sources: z.array(restoreSourceSettingsSchema),
});
export type RestoreSettings = z.infer<typeof restoreSettingsSchema>;

export const RESTORE_SETTINGS_ENV = 'RDS_RESTORE_SETTINGS';

/** The completion function's alert topic. */
export const RESTORE_ALERT_TOPIC_ENV = 'ALERT_TOPIC_ARN';

/** Parses the settings JSON; throws naming the variable and the field when it is wrong. */
export function parseRestoreSettings(value: unknown): RestoreSettings {
  const parsed = restoreSettingsSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new Error(`environment variable ${RESTORE_SETTINGS_ENV} is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The source whose restore prefix `identifier` carries (the longest, should prefixes nest). */
export function sourceOfRestoredInstance(settings: RestoreSettings, identifier: string): RestoreSourceSettings | undefined {
  return settings.sources
    .filter((source) => identifier.startsWith(restoreTargetPrefix(source.identifier)))
    .sort((a, b) => b.identifier.length - a.identifier.length)[0];
}

/** Metric namespace and names of this capability (service `rds-restore`, dimension `Source`). */
export const RDS_RESTORE_SERVICE = SERVICES.rdsRestore;
export const RDS_RESTORE_METRICS = {
  started: METRICS.rdsRestoreStarted.name,
  minutes: METRICS.rdsRestoreMinutes.name,
} as const;
