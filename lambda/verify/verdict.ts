import { z } from 'zod';

/** The checks of one verification, in the order they run. */
export const CHECK_NAMES = ['object', 'manifest', 'integrity', 'decompression', 'format', 'age', 'size', 'replica'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/**
 * passed / failed; `warning` is reported and alerted but does not fail the backup; `skipped`
 * could not run (the detail says why); `pending` is not due yet (replication allowance).
 */
export const CHECK_STATUSES = ['passed', 'failed', 'warning', 'skipped', 'pending'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export const checkResultSchema = z.object({
  name: z.enum(CHECK_NAMES),
  status: z.enum(CHECK_STATUSES),
  detail: z.string(),
});
export type CheckResult = z.infer<typeof checkResultSchema>;

/** `<key>.verification.json`: written beside the backup after every verification. */
export const verdictSchema = z.object({
  verdictVersion: z.literal(1),
  bucket: z.string(),
  key: z.string(),
  versionId: z.string().optional(),
  target: z.string(),
  tier: z.string(),
  kind: z.string(),
  verifiedAt: z.iso.datetime(),
  /** When the backup finished (manifest), or started (key) when there is no manifest. */
  backupAt: z.iso.datetime(),
  passed: z.boolean(),
  checks: z.array(checkResultSchema),
  /** One line per failed or warning check. */
  reasons: z.array(z.string()),
  figures: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type Verdict = z.infer<typeof verdictSchema>;
