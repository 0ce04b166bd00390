import * as z from './zod';
import { TARGET_NAME_PATTERN, type TargetPlan } from './backup-command';
import { parseEventWith } from './errors';
import { BACKUP_KEY_PATTERN } from './restore-command';
import { INSTANCE_ID_PATTERN, requestedBySchema } from './restore-event';

/**
 * Rebuilding a lost server: every target of a configured server (restore.servers) restored onto
 * one other instance, one after another (databases first), each from its newest verified backup.
 * The restore function writes the plan as a record in the backup bucket and sends the first
 * target; the result function sends each next one when the one before succeeded, and one alert
 * with every target's result and the total time at the end.
 */

/** Server name → its targets, as configured (restore.servers). */
export const restoreServersSchema = z.record(z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN))), z.array(z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN)))).check(z.minLength(1)));
export type RestoreServers = z.infer<typeof restoreServersSchema>;

export const rebuildEventSchema = z.strictObject({
    /** A configured server (restore.servers). */
    rebuild: z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN), 'must be the name of a configured server (restore.servers)')),
    /** The instance the server is rebuilt on: one every target of the server may be restored onto. */
    onto: z.string().check(z.regex(INSTANCE_ID_PATTERN, "must be an EC2 instance ID like 'i-0123456789abcdef0'")),
    /** replace: each target's data put in its place (nothing to keep on a new server); scratch: side copies beside it. */
    mode: z._default(z.enum(['scratch', 'replace'], { message: "must be 'scratch' or 'replace'" }), 'scratch'),
    /** Each target's newest backup that started at or before this time (ISO 8601 with a zone), instead of its newest verified one. */
    before: z.optional(z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z' })),
    /** A backup key for some targets, by target name (for example an unverified backup when no verified one is good). */
    keys: z.optional(z.record(
        z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN), 'must be a target name')),
        z.string().check(z.regex(new RegExp(BACKUP_KEY_PATTERN), 'must be a backup object key (<tier>/<target>/YYYY/MM/DD/<target>_<stamp>.<ext>)')),
      )),
    /** Show every target's backup and changes, and send nothing. */
    dryRun: z._default(z.boolean(), false),
    /**
     * A rebuild drill (scratch only): each target is restored beside the live places on the
     * standby, checked against its manifest and removed, and counts as that target's drill.
     */
    drill: z._default(z.boolean(), false),
    /** replace: must equal the server name. */
    confirm: z.optional(z.string().check(z.maxLength(100))),
    requestedBy: z.optional(requestedBySchema),
  }).check(z.superRefine((event, ctx) => {
    if (event.drill && event.mode !== 'scratch') ctx.addIssue({ code: 'custom', path: ['drill'], message: "a rebuild drill runs in mode 'scratch' only: it never touches live data" });
    if (event.mode === 'replace' && !event.dryRun && event.confirm !== event.rebuild) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: `replace puts every target's backup in place on ${event.onto}: must equal the server name ('${event.rebuild}'); run with dryRun: true first to see what would change`,
      });
    }
  }));
export type RebuildRequest = z.infer<typeof rebuildEventSchema>;
export type RebuildEventInput = z.input<typeof rebuildEventSchema>;

export function parseRebuildEvent(event: unknown): RebuildRequest {
  return parseEventWith(rebuildEventSchema, event);
}

/** Whether a console event asks for a rebuild (it names `rebuild`) rather than one target's restore. */
export function isRebuildEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'rebuild' in event;
}

/** Databases first (the service needs them before its files), then SQLite files, then file trees; otherwise as configured. */
export function rebuildOrder<T extends { readonly backup: Pick<TargetPlan, 'kind'> }>(targets: readonly T[]): T[] {
  const rank: Readonly<Record<string, number>> = { postgres: 0, mysql: 0, sqlite: 1, files: 2 };
  return targets.map((target, index) => ({ target, index })).sort((a, b) => (rank[a.target.backup.kind] ?? 3) - (rank[b.target.backup.kind] ?? 3) || a.index - b.index).map(({ target }) => target);
}

// ------------------------------------------------------------------ the record

/** Where rebuild records live in the backup bucket (a tier may not have this name). */
export const REBUILD_RECORD_PREFIX = 'rebuilds/';

export function rebuildRecordKey(server: string, id: string): string {
  return `${REBUILD_RECORD_PREFIX}${server}/${id}.json`;
}

/** sending: recorded just before SendCommand, so that a retried result never sends a step twice. */
const STEP_STATUSES = ['pending', 'sending', 'running', 'succeeded', 'failed', 'not run'] as const;

export const rebuildStepSchema = z.strictObject({
  target: z.string(),
  kind: z.string(),
  key: z.string(),
  /** The restore document's parameters, pinned when the rebuild started. */
  parameters: z.record(z.string(), z.array(z.string())),
  status: z.enum(STEP_STATUSES),
  commandId: z.optional(z.string()),
  startedAt: z.optional(z.string()),
  finishedAt: z.optional(z.string()),
  durationSeconds: z.optional(z.number()),
  restoredTo: z.optional(z.string()),
  /** Why it failed (exit code meaning), or why it did not run. */
  detail: z.optional(z.string()),
});
export type RebuildStep = z.infer<typeof rebuildStepSchema>;

export const rebuildRecordSchema = z.strictObject({
  server: z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN))),
  /** The UTC stamp of the request (YYYYMMDDTHHMMSSZ): the record's name. */
  id: z.string().check(z.regex(/^[0-9]{8}T[0-9]{6}Z$/)),
  onto: z.string().check(z.regex(INSTANCE_ID_PATTERN)),
  mode: z.enum(['scratch', 'replace']),
  /** A rebuild drill: the steps are drills (checked and removed). */
  drill: z._default(z.boolean(), false),
  requestedBy: z.optional(z.string()),
  requestedAt: z.string(),
  documentName: z.string(),
  documentVersion: z.string(),
  deliveryTimeoutSeconds: z.int(),
  commandLogGroupName: z.string(),
  steps: z.array(rebuildStepSchema).check(z.minLength(1)),
  finishedAt: z.optional(z.string()),
});
export type RebuildRecord = z.infer<typeof rebuildRecordSchema>;

export function rebuildId(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

const COMMENT = /^backup-kit rebuild ([a-z][a-z0-9-]{0,39}) ([0-9]{8}T[0-9]{6}Z) ([0-9]{1,3})\/([0-9]{1,3})$/;

/** The comment of a step's command (Run Command keeps 100 characters): how the result function finds the record. */
export function rebuildComment(record: Pick<RebuildRecord, 'server' | 'id' | 'steps'>, index: number): string {
  return `backup-kit rebuild ${record.server} ${record.id} ${index + 1}/${record.steps.length}`;
}

export function parseRebuildComment(comment: string): { server: string; id: string; index: number } | undefined {
  const match = COMMENT.exec(comment);
  if (!match) return undefined;
  return { server: match[1] as string, id: match[2] as string, index: Number(match[3]) - 1 };
}
