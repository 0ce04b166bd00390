import fc from 'fast-check';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REQUESTED_BY_PLACEHOLDER, RESTORE_EVENT_FIELDS, parseRestoreTime } from '../../lambda/rds-restore/event';
import { InvalidEventError } from '../../lambda/shared/errors';
import { MAX_SOURCE_IDENTIFIER_LENGTH, TAG_VALUE_PATTERN, rdsIdentifierProblem } from '../../lambda/shared/rds';
import { expectNoMutatingCalls } from './fixtures';
import { lambdaContext, rdsMock, stubFunctionEnvironment } from './handler-harness';

let handler: typeof import('../../lambda/rds-restore/handler').handler;

beforeAll(async () => {
  stubFunctionEnvironment();
  ({ handler } = await import('../../lambda/rds-restore/handler.js'));
});

beforeEach(() => {
  rdsMock.reset();
});

/** A malformed event and the field its rejection must name. */
interface Malformed {
  readonly event: unknown;
  readonly field: string;
}

const VALID: Record<string, unknown> = { source: 'orders-db', restoreTime: 'latest' };
const FIELDS = new Set<string>(RESTORE_EVENT_FIELDS);

const with_ = (field: string, value: unknown): Malformed => ({ event: { ...VALID, [field]: value }, field });
const without = (field: string): Malformed => {
  const event = { ...VALID };
  delete event[field];
  return { event, field };
};

const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }));
const notABoolean = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constantFrom('true', 'false', 'yes', 0, 1), fc.array(fc.boolean(), { maxLength: 2 }));

const pad = (value: number, width = 2) => String(value).padStart(width, '0');
/** A calendar-valid local time with no zone, with or without seconds and fractions. */
const zonelessTime = fc
  .record({
    date: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
    seconds: fc.boolean(),
    fraction: fc.boolean(),
  })
  .map(({ date, seconds, fraction }) => {
    const base = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
    return `${base}${seconds ? `:${pad(date.getUTCSeconds())}${fraction ? '.123' : ''}` : ''}`;
  });

const malformed: fc.Arbitrary<Malformed> = fc.oneof(
  // Fields the event does not have (typos such as "dryrun" must never be ignored).
  fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 20 }).filter((key) => !FIELDS.has(key) && key !== '__proto__'),
      fc.jsonValue(),
    )
    .map(([key, value]) => with_(key, value)),
  fc.constantFrom('dryrun', 'DryRun', 'restore_time', 'restoretime', 'Source', 'multiAZ', 'instance_class', 'requested_by').map((key) => with_(key, true)),
  // Missing required fields.
  fc.constantFrom('source', 'restoreTime').map(without),
  // Wrong types.
  fc.tuple(fc.constantFrom('source', 'restoreTime', 'target', 'instanceClass', 'requestedBy'), notAString).map(([field, value]) => with_(field, value)),
  fc.tuple(fc.constantFrom('multiAz', 'dryRun'), notABoolean).map(([field, value]) => with_(field, value)),
  fc.oneof(fc.string(), fc.integer(), fc.constant(null)).filter((value) => value !== 'primary' && value !== 'dr').map((value) => with_('region', value)),
  // Identifiers RDS would refuse.
  fc.string({ maxLength: 70 }).filter((value) => rdsIdentifierProblem(value.toLowerCase(), MAX_SOURCE_IDENTIFIER_LENGTH) !== undefined).map((value) => with_('source', value)),
  fc.constantFrom('1orders', 'orders--db', 'orders-db-', 'orders_db', 'orders.db', '', 'a'.repeat(46)).map((value) => with_('source', value)),
  fc.string({ maxLength: 70 }).filter((value) => rdsIdentifierProblem(value.toLowerCase()) !== undefined).map((value) => with_('target', value)),
  fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/).filter((value) => !value.startsWith('orders-db-pitr-')).map((value) => with_('target', value)),
  // Times without a zone, and strings that are no time at all.
  zonelessTime.map((value) => with_('restoreTime', value)),
  fc.string({ maxLength: 40 }).filter((value) => 'problem' in parseRestoreTime(value.trim())).map((value) => with_('restoreTime', value)),
  fc.constantFrom('2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-11-21T24:00:00Z', '2026-11-21T14:06:00+15:00', 'yesterday', 'LATEST', 'now').map((value) => with_('restoreTime', value)),
  // Instance classes and requesters RDS or the tags would refuse.
  fc.string({ maxLength: 30 }).filter((value) => !/^db\.[a-z0-9-]+\.[a-z0-9]+$/.test(value)).map((value) => with_('instanceClass', value)),
  fc
    .oneof(
      fc.constant(REQUESTED_BY_PLACEHOLDER),
      fc.constantFrom('', '   ', 'a'.repeat(101), 'jane <jane@example.com>', 'ops;drop'),
      fc.string({ minLength: 1, maxLength: 100 }).filter((value) => value.trim().length > 0 && !TAG_VALUE_PATTERN.test(value.trim())),
    )
    .map((value) => with_('requestedBy', value)),
  // Not an object at all.
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 3 })).map((event) => ({ event, field: '(event)' })),
);

describe('malformed restore events', () => {
  it('GIVEN 1200 random malformed events THEN each is rejected naming the field, and no mutating call is made among them', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(malformed, async ({ event, field }) => {
        const attempt = handler(event, lambdaContext());
        await expect(attempt).rejects.toThrow(InvalidEventError);
        const message = await attempt.then(
          () => '',
          (error: unknown) => (error as Error).message,
        );
        expect(message).toContain(`${field}: `);
        checked += 1;
      }),
      { numRuns: 1200 },
    );
    expect(checked).toBe(1200);
    expect(rdsMock.calls()).toHaveLength(0);
    expectNoMutatingCalls(rdsMock);
  });
});
