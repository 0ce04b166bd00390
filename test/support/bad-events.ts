import fc from 'fast-check';

/** A malformed event and the field a correct answer must name. */
export interface BadEvent {
  readonly event: unknown;
  readonly field: string;
}

/** Values of every JSON-ish type except `keep`, for "wrong type" corruptions. */
export function wrongType(keep: 'string' | 'boolean' | 'number' | 'object'): fc.Arbitrary<unknown> {
  const all: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.string({ maxLength: 20 }),
    boolean: fc.boolean(),
    number: fc.oneof(fc.integer(), fc.double({ noNaN: false })),
    object: fc.oneof(fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 })),
  };
  return fc.oneof(...Object.entries(all).filter(([type]) => type !== keep).map(([, arbitrary]) => arbitrary));
}

/**
 * Malformed events built from a valid one: one field replaced by a bad value (or removed, when
 * the bad value is `REMOVE`), or an unknown field added. Each carries the field a correct
 * rejection must name.
 */
export const REMOVE = Symbol('remove');

export function badEvents(
  valid: Readonly<Record<string, unknown>>,
  corruptions: Readonly<Record<string, fc.Arbitrary<unknown>>>,
): fc.Arbitrary<BadEvent> {
  const known = new Set(Object.keys(valid));
  const fieldCorruption = fc.oneof(
    ...Object.entries(corruptions).map(([field, bad]) =>
      bad.map((value): BadEvent => {
        const event: Record<string, unknown> = { ...valid };
        if (value === REMOVE) delete event[field];
        else event[field] = value;
        return { event, field };
      }),
    ),
  );
  const unknownField = fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 12 }).filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !known.has(name) && !(name in corruptions) && name !== '__proto__'),
      fc.jsonValue(),
    )
    .map(([name, value]): BadEvent => ({ event: { ...valid, [name]: value }, field: name }));
  const notAnObject = fc
    .oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }))
    .map((event): BadEvent => ({ event, field: '(event)' }));
  return fc.oneof({ arbitrary: fieldCorruption, weight: 8 }, { arbitrary: unknownField, weight: 1 }, { arbitrary: notAnObject, weight: 1 });
}

/** ISO-looking times that lack a zone or are not times at all. */
export const badTimes: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('2026-11-21T14:06:00', '2026-11-21 14:06:00Z', '2026-11-21', 'yesterday', '', 'latest', '2026-13-01T00:00:00Z', '2026-11-21T25:00:00Z'),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString().replace('Z', '')),
  fc.string({ maxLength: 30 }).filter((value) => !/^\d{4}-\d\d-\d\dT/.test(value)),
  wrongType('string'),
);
