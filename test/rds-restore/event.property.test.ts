import fc from 'fast-check';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REQUESTED_BY_PLACEHOLDER, parseRestoreTime } from '../../contracts/rds-restore-event';
import { MAX_SOURCE_IDENTIFIER_LENGTH, TAG_VALUE_PATTERN, rdsIdentifierProblem } from '../../contracts/rds';
import { REMOVE, badEvents, wrongType, type BadEvent } from '../support/bad-events';
import { expectNoMutatingCalls } from './fixtures';
import { lambdaContext, rdsMock, refused, stubFunctionEnvironment } from './handler-harness';

let handler: typeof import('../../lambda/rds-restore/handler.js').handler;

beforeAll(async () => {
  stubFunctionEnvironment();
  ({ handler } = await import('../../lambda/rds-restore/handler.js'));
});

beforeEach(() => {
  rdsMock.reset();
});

const VALID = { source: 'orders-db', restoreTime: 'latest' };

const pad = (value: number) => String(value).padStart(2, '0');
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

/** Per field, values the event must refuse (REMOVE: the field left out). */
const corruptions = {
  source: fc.oneof(
    fc.constant(REMOVE),
    wrongType('string'),
    fc.string({ maxLength: 70 }).filter((value) => rdsIdentifierProblem(value.toLowerCase(), MAX_SOURCE_IDENTIFIER_LENGTH) !== undefined),
    fc.constantFrom('1orders', 'orders--db', 'orders-db-', 'orders_db', 'orders.db', '', 'a'.repeat(46)),
  ),
  restoreTime: fc.oneof(
    fc.constant(REMOVE),
    wrongType('string'),
    zonelessTime,
    fc.string({ maxLength: 40 }).filter((value) => 'problem' in parseRestoreTime(value.trim())),
    fc.constantFrom('2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-11-21T24:00:00Z', '2026-11-21T14:06:00+15:00', 'yesterday', 'LATEST', 'now'),
  ),
  target: fc.oneof(
    wrongType('string'),
    fc.string({ maxLength: 70 }).filter((value) => rdsIdentifierProblem(value.toLowerCase()) !== undefined),
    fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/).filter((value) => !value.startsWith('orders-db-pitr-')),
  ),
  instanceClass: fc.oneof(wrongType('string'), fc.string({ maxLength: 30 }).filter((value) => !/^db\.[a-z0-9-]+\.[a-z0-9]+$/.test(value))),
  multiAz: fc.oneof(wrongType('boolean'), fc.constantFrom('true', 'false', 'yes', 0, 1)),
  region: fc.oneof(wrongType('string'), fc.string({ maxLength: 12 }).filter((value) => value !== 'primary' && value !== 'dr')),
  dryRun: fc.oneof(wrongType('boolean'), fc.constantFrom('true', 'false', 'yes', 0, 1)),
  requestedBy: fc.oneof(
    wrongType('string'),
    fc.constantFrom(REQUESTED_BY_PLACEHOLDER, '', '   ', 'a'.repeat(101), 'jane <jane@example.com>', 'ops;drop'),
    // whitespace AWS refuses in tag values, inside the value (the ends are trimmed)
    fc.constantFrom('jane\tdoe', 'jane\ndoe', 'jane\u000bdoe', 'jane\u000cdoe', 'jane\rdoe', 'jane\ufeffdoe'),
    fc.string({ minLength: 1, maxLength: 100 }).filter((value) => value.trim().length > 0 && !TAG_VALUE_PATTERN.test(value.trim())),
  ),
};

/** Typos of real fields: a misspelt "dryRun" must never be ignored and start a real restore. */
const typos = fc
  .constantFrom('dryrun', 'DryRun', 'dry_run', 'restore_time', 'restoretime', 'Source', 'multiAZ', 'instance_class', 'requested_by')
  .map((field): BadEvent => ({ event: { ...VALID, [field]: true }, field }));

describe('malformed restore events', () => {
  it('GIVEN 1200 random malformed events THEN each is refused naming the field, and no mutating call is made among them', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ arbitrary: badEvents(VALID, corruptions), weight: 9 }, { arbitrary: typos, weight: 1 }), async ({ event, field }) => {
        const answer = await handler(event, lambdaContext());

        const refusal = refused(answer);
        expect(refusal.error).toBe('InvalidEvent');
        expect(refusal.issues?.some((issue) => issue.startsWith(`${field}: `))).toBe(true);
        expect(refusal.message).toContain(`${field}: `);
        checked += 1;
      }),
      { numRuns: 1200 },
    );
    expect(checked).toBe(1200);
    expect(rdsMock.calls()).toHaveLength(0);
    expectNoMutatingCalls(rdsMock);
  });

  it.each(['jane\tdoe', 'jane\ndoe', 'jane\u000bdoe', 'jane\u000cdoe', 'jane\rdoe', 'jane\ufeffdoe'])(
    'GIVEN requestedBy %j, whose whitespace RDS refuses in a tag THEN it is refused naming the field, before any call',
    async (requestedBy) => {
      const refusal = refused(await handler({ ...VALID, requestedBy }, lambdaContext()));
      expect(refusal.error).toBe('InvalidEvent');
      expect(refusal.message).toContain('requestedBy: may contain only letters, digits, spaces');
      expect(rdsMock.calls()).toHaveLength(0);
    },
  );
});
