/**
 * EventBridge cron expressions (`cron(min hour dom month dow year)`) read as the runs they make, in
 * UTC: how many a month has, and the longest gap between two. Pure; shared by the config's checks
 * and the evidence report.
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

/**
 * The runs of an EventBridge cron between `from` (inclusive) and `to` (exclusive), in UTC; undefined
 * for what is not followed here (L, W, #, a year field).
 */
export function cronRuns(schedule: string, from: Date, to: Date): Date[] | undefined {
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
  const runs: Date[] = [];
  const firstDay = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  const sortedHours = [...hours].sort((a, b) => a - b);
  const sortedMinutes = [...minutes].sort((a, b) => a - b);
  for (let day = firstDay; day < to.getTime(); day += 86_400_000) {
    const date = new Date(day);
    if (!months.has(date.getUTCMonth() + 1)) continue;
    if (doms && !doms.has(date.getUTCDate())) continue;
    if (dows && !dows.has(date.getUTCDay() + 1)) continue;
    for (const hour of sortedHours) {
      for (const minute of sortedMinutes) {
        const at = day + hour * 3_600_000 + minute * 60_000;
        if (at >= from.getTime() && at < to.getTime()) runs.push(new Date(at));
      }
    }
  }
  return runs;
}

/**
 * The longest time between two runs of an EventBridge cron, in hours, over two years of its runs
 * in UTC: what the most data lost can be when a backup runs on that schedule and the next one is
 * the one missing. Undefined for what the listing cannot follow, which the caller then reports.
 */
export function cronLongestGapHours(schedule: string): number | undefined {
  const runs = cronRuns(schedule, new Date(Date.UTC(2025, 0, 1)), new Date(Date.UTC(2027, 0, 2)));
  if (!runs || runs.length < 2) return undefined;
  let longest = 0;
  for (let index = 1; index < runs.length; index += 1) longest = Math.max(longest, (runs[index]?.getTime() ?? 0) - (runs[index - 1]?.getTime() ?? 0));
  return longest / 3_600_000;
}
