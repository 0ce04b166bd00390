/**
 * EventBridge's event-pattern matching, offline, for the rules the kit synthesizes (moto has no
 * TestEventPattern and does not look into arrays of objects). Semantics as AWS documents them:
 * every pattern field must match; a list of values matches when any value matches; an event field
 * that is an array matches when any element matches; arrays of objects are looked into (so
 * `resources.ARN` matches `resources: [{ ARN }]`); named filters: prefix, suffix, anything-but,
 * exists, equals-ignore-case, and `$or`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function matchesPattern(pattern: Record<string, Json>, event: Record<string, Json>): boolean {
  return matchObject(pattern, [event]);
}

/** Every key of the pattern matches in at least one of `candidates` (the objects at this depth). */
function matchObject(pattern: Record<string, Json>, candidates: Json[]): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or') {
      if (!Array.isArray(expected)) throw new Error('$or takes a list of patterns');
      return expected.some((alternative) => matchObject(alternative as Record<string, Json>, candidates));
    }
    const values = candidates.flatMap((candidate) => valuesAt(candidate, key));
    if (Array.isArray(expected)) return matchValues(expected, values);
    if (expected !== null && typeof expected === 'object') return matchObject(expected, values);
    throw new Error(`pattern field ${key}: values must be a list or an object (got ${JSON.stringify(expected)})`);
  });
}

/** The values of `key` in `node`, arrays flattened (EventBridge matches each element). */
function valuesAt(node: Json, key: string): Json[] {
  if (Array.isArray(node)) return node.flatMap((element) => valuesAt(element, key));
  if (node === null || typeof node !== 'object' || !(key in node)) return [];
  const value = node[key] as Json;
  return Array.isArray(value) ? value.flat(Infinity as 1) : [value];
}

function matchValues(filters: Json[], values: Json[]): boolean {
  return filters.some((filter) => {
    if (filter !== null && typeof filter === 'object' && !Array.isArray(filter)) {
      const [name, argument] = Object.entries(filter)[0] ?? [];
      switch (name) {
        case 'exists':
          return argument === true ? values.length > 0 : values.length === 0;
        case 'prefix':
          return values.some((value) => typeof value === 'string' && typeof argument === 'string' && value.startsWith(argument));
        case 'suffix':
          return values.some((value) => typeof value === 'string' && typeof argument === 'string' && value.endsWith(argument));
        case 'equals-ignore-case':
          return values.some((value) => typeof value === 'string' && typeof argument === 'string' && value.toLowerCase() === argument.toLowerCase());
        case 'anything-but': {
          const excluded = Array.isArray(argument) ? argument : [argument];
          return values.length > 0 && values.every((value) => !excluded.some((item) => item === value));
        }
        default:
          throw new Error(`pattern filter ${name ?? '(empty)'} is not supported by this matcher`);
      }
    }
    return values.some((value) => value === filter);
  });
}
