import * as z from './zod';
import { ABSOLUTE_PATH_PATTERN, DB_NAME_PATTERN, TARGET_NAME_PATTERN } from './backup-command';
import { plainPathProblem } from './paths';
import { parseEventWith } from './errors';
import { BACKUP_KEY_PATTERN } from './restore-command';

/** The event an engineer sends the restore function (Lambda console Test tab): one EC2 target's restore. */

export const INSTANCE_ID_PATTERN = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** Who asks (recorded in the command's comment and the alert). */
export const requestedBySchema = z.string().check(z.minLength(1), z.maxLength(60), z.regex(/^[\p{L}\p{N} ._@+-]+$/u, 'letters, digits, spaces and . _ @ + - only'));

export const restoreEventSchema = z.strictObject({
    /** A configured target. */
    target: z.string().check(z.regex(new RegExp(TARGET_NAME_PATTERN), 'must be the name of a configured target (lowercase letters, digits, hyphens)')),
    /** scratch: a new database or side path, live data untouched; replace: safety backup, restore, swap. */
    mode: z._default(z.enum(['scratch', 'replace'], { message: "must be 'scratch' or 'replace'" }), 'scratch'),
    /** A backup key of this target; omit for the newest verified backup. */
    key: z.optional(z.string().check(z.regex(new RegExp(BACKUP_KEY_PATTERN), 'must be a backup object key (<tier>/<target>/YYYY/MM/DD/<target>_<stamp>.<ext>)'))),
    /** The newest backup that started at or before this time (ISO 8601 with a zone). */
    before: z.optional(z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z' })),
    /** Required when the target's instances (IDs or tag) are more than one. */
    instanceId: z.optional(z.string().check(z.regex(INSTANCE_ID_PATTERN, "must be an EC2 instance ID like 'i-0123456789abcdef0'"))),
    /** Another instance to restore onto (a replacement or standby): one the target's restore settings allow (restore.targets.<target>.onto). */
    onto: z.optional(z.string().check(z.regex(INSTANCE_ID_PATTERN, "must be an EC2 instance ID like 'i-0123456789abcdef0'"))),
    /** scratch, postgres/mysql: the new database's name (default <database>_restore_<stamp>). */
    scratchName: z.optional(z.string().check(z.regex(new RegExp(DB_NAME_PATTERN), 'must be 1-63 letters, digits, _ and -'))),
    /** scratch, sqlite/files: where the copy goes (default <path>.restore-<stamp>). */
    scratchPath: z.optional(z.string().check(z.regex(new RegExp(ABSOLUTE_PATH_PATTERN), 'must be an absolute path of letters, digits, spaces and . _ / @ + = , : -'), z.superRefine((path, ctx) => {
        const problem = plainPathProblem(path);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }))),
    /** Show the backup, instance and changes, and send nothing. */
    dryRun: z._default(z.boolean(), false),
    /** replace: must equal the target name. */
    confirm: z.optional(z.string().check(z.maxLength(100))),
    requestedBy: z.optional(requestedBySchema),
  }).check(z.superRefine((event, ctx) => {
    if (event.key !== undefined && event.before !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['before'], message: 'give key or before, not both' });
    }
    if (event.mode === 'replace' && !event.dryRun && event.confirm !== event.target) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: `replace overwrites live data: must equal the target name ('${event.target}'); run with dryRun: true first to see what would change`,
      });
    }
    if (event.onto !== undefined && event.instanceId !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['onto'], message: 'give instanceId (one of the target\'s own instances) or onto (another instance), not both' });
    }
    if (event.mode === 'replace' && event.scratchName !== undefined) ctx.addIssue({ code: 'custom', path: ['scratchName'], message: "applies to mode 'scratch' only" });
    if (event.mode === 'replace' && event.scratchPath !== undefined) ctx.addIssue({ code: 'custom', path: ['scratchPath'], message: "applies to mode 'scratch' only" });
  }));
export type RestoreRequest = z.infer<typeof restoreEventSchema>;
export type RestoreEventInput = z.input<typeof restoreEventSchema>;

export function parseRestoreEvent(event: unknown): RestoreRequest {
  return parseEventWith(restoreEventSchema, event);
}
