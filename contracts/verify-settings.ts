import * as z from './zod';

/**
 * What the verify functions need from the config, passed by the stack as one JSON env var
 * (`VERIFY_SETTINGS`) and checked here so a bad deploy fails loudly at cold start.
 */
export const verifySettingsSchema = z.strictObject({
  /** Hours the newest verified backup may be old, per tier; tiers absent have no age limit. */
  tierMaxAgeHours: z.record(z.string(), z.number().check(z.positive())),
  /** Each tier's Object Lock mode: the mode every backup version of the tier must be locked in. */
  tierLockModes: z.record(z.string(), z.enum(['GOVERNANCE', 'COMPLIANCE'])),
  /** Each tier's retention in days: every backup version of the tier must be locked that long after S3 stored it. */
  tierRetentionDays: z.record(z.string(), z.int().check(z.gte(1))),
  sizeAnomaly: z.strictObject({
    lowerRatio: z.number().check(z.positive()),
    upperRatio: z.number().check(z.positive()),
    history: z.int().check(z.gte(1)),
    flagIdenticalSize: z.boolean(),
  }),
  replicationAllowanceMinutes: z.number().check(z.positive()),
  sqliteIntegrityCheckMaxBytes: z.int().check(z.positive()),
  /** Largest stored object one invocation verifies. */
  maxObjectBytes: z.int().check(z.positive()),
});
export type VerifySettings = z.infer<typeof verifySettingsSchema>;

export function parseVerifySettings(raw: unknown): VerifySettings {
  const parsed = verifySettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`environment variable VERIFY_SETTINGS is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** The verify functions' environment, by what each variable holds. */
export const VERIFY_ENV = {
  bucket: 'BACKUP_BUCKET',
  backupKeyArn: 'BACKUP_KEY_ARN',
  replicaBucket: 'REPLICA_BUCKET',
  replicaRegion: 'REPLICA_REGION',
  alertTopicArn: 'ALERT_TOPIC_ARN',
  /** JSON of `VerifySettings`. */
  settings: 'VERIFY_SETTINGS',
  /** The planner's: where it queues one message per backup. */
  queueUrl: 'VERIFY_QUEUE_URL',
  /** The planner's: the configured targets and tiers, encoded (see configured-targets.ts). */
  configuredTargets: 'CONFIGURED_TARGETS',
} as const;
