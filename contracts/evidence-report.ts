import * as z from './zod';
import { parseEventWith } from './errors';

/**
 * The contract of the evidence report: its settings (what the config says of each target), its
 * event (`{}` for the month before, or `{ "month": "YYYY-MM" }`), and where it writes. Pure.
 */

export const EVIDENCE_REPORT_ENV = {
  /** JSON of `EvidenceSettings`. */
  settings: 'EVIDENCE_SETTINGS',
  alertTopic: 'EVIDENCE_ALERT_TOPIC',
  /** The backup bucket (apart from the settings: a name CloudFormation makes cannot go in the bundle). */
  bucket: 'EVIDENCE_BUCKET',
} as const;

/** Where the reports go in the backup bucket: no tier may be named so (instances write only under their tiers). */
export const REPORT_PREFIX = 'reports/';
export function reportKeys(month: string): { html: string; csv: string; json: string } {
  const base = `${REPORT_PREFIX}${month}/evidence`;
  return { html: `${base}.html`, csv: `${base}.csv`, json: `${base}.json` };
}

const objectivesSchema = z.strictObject({ rpoHours: z.number().check(z.positive()), rtoHours: z.number().check(z.positive()) });

export const evidenceTargetSchema = z.strictObject({
  name: z.string().check(z.minLength(1)),
  kind: z.string().check(z.minLength(1)),
  tiers: z.array(z.strictObject({ tier: z.string().check(z.minLength(1)), schedule: z.optional(z.string()) })),
  objectives: objectivesSchema,
  drilled: z.boolean(),
});
export type EvidenceTarget = z.infer<typeof evidenceTargetSchema>;

/** An RDS instance or Aurora cluster of the config (`rds.instances`, `rds.clusters`), whose point-in-time window and restores are reported. */
export const evidenceDatabaseSchema = z.strictObject({
  identifier: z.string().check(z.minLength(1)),
  kind: z.enum(['instance', 'cluster']),
});
export type EvidenceDatabase = z.infer<typeof evidenceDatabaseSchema>;

export const evidenceSettingsSchema = z.strictObject({
  prefix: z.string().check(z.minLength(1)),
  targets: z.array(evidenceTargetSchema),
  databases: z._default(z.array(evidenceDatabaseSchema), []),
});
export type EvidenceSettings = z.infer<typeof evidenceSettingsSchema>;

export function parseEvidenceSettings(raw: unknown): EvidenceSettings {
  return z.parse(evidenceSettingsSchema, raw);
}

/** A report's month, `YYYY-MM`. */
export const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

export const evidenceEventSchema = z.strictObject({
  /** The month to report; the month before the invocation's when absent (the schedule of the 1st). */
  month: z.optional(z.string().check(z.regex(MONTH_PATTERN, 'must be YYYY-MM'))),
});
export type EvidenceEvent = z.infer<typeof evidenceEventSchema>;

export function parseEvidenceEvent(event: unknown): EvidenceEvent {
  return parseEventWith(evidenceEventSchema, event ?? {});
}
