import * as z from './zod';
import { InvalidEventError } from './errors';
import { MAX_SOURCE_IDENTIFIER_LENGTH, TAG_VALUE_PATTERN, rdsIdentifierProblem, restoreTargetPrefix } from './rds';

/**
 * The event an engineer pastes into the Lambda console (or passes to `aws lambda invoke`):
 * `{ "source": "orders-db", "restoreTime": "2026-11-21T14:06:00Z" }`. Strict: an unknown
 * field is refused rather than ignored, so a typo such as `dryrun` never starts a real restore.
 */

/** The value the shareable test events carry until the engineer puts in their name. */
export const REQUESTED_BY_PLACEHOLDER = 'REPLACE-WITH-YOUR-NAME';

export const RESTORE_EVENT_FIELDS = [
  'source',
  'restoreTime',
  'target',
  'instanceClass',
  'multiAz',
  'region',
  'dryRun',
  'requestedBy',
] as const;

const EXAMPLE_TIME = '2026-11-21T14:06:00Z';

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/i;

/** A restore time: `latest`, or ISO 8601 with a zone; the answer is the instant, or why not. */
export function parseRestoreTime(value: string): { time: Date | 'latest' } | { problem: string } {
  if (value === 'latest') return { time: 'latest' };
  const match = ISO_TIME.exec(value);
  if (!match) {
    return { problem: `'${value}' is neither "latest" nor an ISO 8601 time such as ${EXAMPLE_TIME}` };
  }
  const [, year, month, day, hour, minute, second, zone] = match;
  if (zone === undefined) {
    return {
      problem: `'${value}' has no time zone: add Z for UTC or an offset such as +01:00 (e.g. ${EXAMPLE_TIME}); a time without a zone could mean any of 24 hours`,
    };
  }
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second ?? '0'].map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) {
    return { problem: `'${value}' is not a real date and time` };
  }
  if (zone.toUpperCase() !== 'Z') {
    const [offsetHours, offsetMinutes] = zone.slice(1).split(':').map(Number) as [number, number];
    if (offsetHours > 14 || offsetMinutes > 59) return { problem: `'${value}' has an impossible UTC offset ${zone}` };
  }
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) return { problem: `'${value}' is not a real date and time` };
  return { time };
}

const stringField = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be a string (${what})`) });

const booleanField = () =>
  z.boolean({ error: (issue) => `must be true or false (got ${JSON.stringify(issue.input)})` });

const identifier = (maxLength: number) =>
  stringField('an RDS DB instance identifier').check(
    z.toLowerCase(),
    z.superRefine((value, ctx) => {
      const problem = rdsIdentifierProblem(value, maxLength);
      if (problem) ctx.addIssue({ code: 'custom', message: `'${value}' is not a valid RDS identifier: ${problem}` });
    }),
  );

export const restoreEventSchema = z.strictObject(
    {
      /** Identifier of the source DB instance or Aurora cluster; must be in the config's allowlist. */
      source: identifier(MAX_SOURCE_IDENTIFIER_LENGTH).check(z.describe('Identifier of the DB instance or Aurora cluster to restore (must be in the allowlist)')),
      /** `latest`, or an ISO 8601 time with a zone. */
      restoreTime: z
        .pipe(
          stringField(`"latest" or an ISO 8601 time such as ${EXAMPLE_TIME}`).check(
            z.superRefine((value, ctx) => {
              const parsed = parseRestoreTime(value.trim());
              if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
            }),
          ),
          z.transform((value: string) => {
            const parsed = parseRestoreTime(value.trim());
            if ('problem' in parsed) throw new Error(parsed.problem);
            return parsed.time;
          }),
        )
        .check(z.describe('"latest", or the time to restore to in ISO 8601 with a zone, e.g. 2026-11-21T14:06:00Z')),
      /** Name of the new instance or cluster; `<source>-pitr-<yyyymmddhhmm>` when omitted. */
      target: z.optional(identifier(63)).check(z.describe('Name of the new instance; default <source>-pitr-<yyyymmddhhmm>')),
      /** Instance class of the copy (of each instance of a cluster's copy); the source's when omitted. */
      instanceClass: z
        .optional(stringField('an instance class such as db.r6g.large').check(z.regex(/^db\.[a-z0-9-]+\.[a-z0-9]+$/, { message: 'must be an RDS instance class such as db.r6g.large' })))
        .check(z.describe("Instance class of the copy; default the source's")),
      multiAz: z._default(booleanField(), false).check(z.describe('Multi-AZ copy; default false')),
      region: z._default(z.enum(['primary', 'dr'], { error: (issue) => `must be "primary" or "dr" (got ${JSON.stringify(issue.input)})` }), 'primary').check(z.describe('"primary" (default) or "dr" to restore from the replicated backups in the DR region')),
      dryRun: z._default(booleanField(), false).check(z.describe('Return the full plan and change nothing; default false')),
      /** Who asks; tagged on the new instance as `requested-by`. */
      requestedBy: z
        .optional(
          stringField('your name or e-mail').check(
            z.trim(),
            z.minLength(1, { message: 'must not be empty' }),
            z.maxLength(100, { message: 'must be at most 100 characters' }),
            z.regex(TAG_VALUE_PATTERN, { message: 'may contain only letters, digits, spaces and _ . : / = + - @ (it becomes a tag value)' }),
            z.refine((value) => value !== REQUESTED_BY_PLACEHOLDER, {
              message: `replace ${REQUESTED_BY_PLACEHOLDER} with your name or e-mail (it is tagged on the restored instance as requested-by)`,
            }),
          ),
        )
        .check(z.describe('Your name or e-mail, tagged on the new instance as requested-by')),
    },
    { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object such as {"source": "orders-db", "restoreTime": "latest"}' : undefined) },
  ).check(z.superRefine((event, ctx) => {
    if (event.target !== undefined && !event.target.startsWith(restoreTargetPrefix(event.source))) {
      ctx.addIssue({
        code: 'custom',
        path: ['target'],
        message: `must start with '${restoreTargetPrefix(event.source)}': the restore function creates only instances named after their source, so it can never touch another instance`,
      });
    }
  }));

export type RestoreRequest = z.infer<typeof restoreEventSchema>;
export type RestoreEventInput = z.input<typeof restoreEventSchema>;

/** Validates an event; throws `InvalidEventError` whose issues each start with the field at fault. */
export function parseRestoreEvent(event: unknown): RestoreRequest {
  const parsed = restoreEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) => `${key}: unknown field (this event accepts ${RESTORE_EVENT_FIELDS.join(', ')})`,
      );
    }
    const path = issue.path.map(String).join('.');
    return [`${path === '' ? '(event)' : path}: ${issue.message}`];
  });
  throw new InvalidEventError(issues);
}
