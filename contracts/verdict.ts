import * as z from './zod';

/** The checks of one verification, in the order they run. */
export const CHECK_NAMES = ['object', 'versions', 'manifest', 'lock', 'integrity', 'decompression', 'format', 'content', 'age', 'size', 'replica'] as const;
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

/**
 * `verdicts/<key>/<verified at>.json`, written by the verifier only, a new key each time. It pins
 * what was verified: the backup's and the manifest's first (and only legitimate) versions and the
 * SHA-256 they agree on. Restores and drills read exactly those versions.
 */
export const verdictSchema = z.object({
  verdictVersion: z.literal(2),
  bucket: z.string(),
  /**
   * The replica bucket whose copy of the backup (the same versions: replication keeps version IDs)
   * was found when this was verified: the verdict speaks for that copy too, for restores in the
   * DR region. Absent when the replica was not there.
   */
  replicaBucket: z.optional(z.string()),
  key: z.string(),
  /** The version of the backup object that was read. */
  versionId: z.optional(z.string()),
  /** The version of the manifest that was read. */
  manifestVersionId: z.optional(z.string()),
  /** The SHA-256 of the backup, as its manifest states and the stream confirmed (when it did). */
  sha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
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
