/**
 * The longest time between two runs of an EventBridge cron (`cron(min hour dom month dow year)`),
 * in hours, found by listing its runs over two years in UTC: what the most data lost can be when
 * a backup runs on that schedule and the next one is the one missing. Undefined for what the
 * listing cannot follow (L, W, #, a year field), which the caller then reports.
 */

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** The values of one cron field, or undefined when it uses a form not followed here. */
function fieldValues(field: string, min: number, max: number, names: readonly string[] = [], nameBase = 0): Set<number> | undefined {
  const values = new Set<number>();
  const value = (text: string): number | undefined => {
    const named = names.indexOf(text.toUpperCase());
    if (named >= 0) return named + nameBase;
    return /^\d+$/.test(text) ? Number(text) : undefined;
  };
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*' || range === '?') {
      [from, to] = [min, max];
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [from, to] = [value(a), value(b)];
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    if (from === undefined || to === undefined || from < min || to > max || from > to) return undefined;
    for (let current = from; current <= to; current += step) values.add(current);
  }
  return values;
}

export function cronLongestGapHours(schedule: string): number | undefined {
  const fields = /^cron\((.*)\)$/.exec(schedule.trim())?.[1]?.trim().split(/\s+/);
  if (!fields || fields.length !== 6) return undefined;
  const [minuteField, hourField, domField, monthField, dowField, yearField] = fields as [string, string, string, string, string, string];
  if (yearField !== '*') return undefined;
  const minutes = fieldValues(minuteField, 0, 59);
  const hours = fieldValues(hourField, 0, 23);
  const months = fieldValues(monthField, 1, 12, ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'], 1);
  const anyDom = domField === '?' || domField === '*';
  const anyDow = dowField === '?' || dowField === '*';
  const doms = anyDom ? undefined : fieldValues(domField, 1, 31);
  // EventBridge numbers the days of the week 1 (Sunday) to 7.
  const dows = anyDow ? undefined : fieldValues(dowField, 1, 7, DAY_NAMES, 1);
  if (!minutes || !hours || !months || (!anyDom && !doms) || (!anyDow && !dows)) return undefined;
  const start = Date.UTC(2025, 0, 1);
  let previous: number | undefined;
  let longest = 0;
  for (let day = 0; day < 731; day += 1) {
    const date = new Date(start + day * 86_400_000);
    if (!months.has(date.getUTCMonth() + 1)) continue;
    if (doms && !doms.has(date.getUTCDate())) continue;
    if (dows && !dows.has(date.getUTCDay() + 1)) continue;
    for (const hour of [...hours].sort((a, b) => a - b)) {
      for (const minute of [...minutes].sort((a, b) => a - b)) {
        const at = date.getTime() + hour * 3_600_000 + minute * 60_000;
        if (previous !== undefined) longest = Math.max(longest, at - previous);
        previous = at;
      }
    }
  }
  return previous === undefined || longest === 0 ? undefined : longest / 3_600_000;
}
