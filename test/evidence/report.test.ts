import { describe, expect, it } from 'vitest';
import { monthWindow, previousMonth } from '../../lambda/evidence-report/model';
import { csvCell, renderCsv, renderHtml } from '../../lambda/evidence-report/render';
import { historyReport } from '../support/evidence-history';

/** The monthly evidence: what a month of history makes of each target, and the CSV and page it is written as. */

describe('the monthly evidence report', () => {
  const report = historyReport();
  const target = (name: string) => report.targets.find((candidate) => candidate.target === name);

  it('GIVEN three days of failed verification THEN the longest gap is 96 h against the 24 h RPO, missed, and dated', () => {
    expect(target('orders-db')?.longestGap).toEqual({ hours: 96, from: '2026-11-09T02:00:00.000Z', to: '2026-11-13T02:00:00.000Z' });
    expect(target('orders-db')?.rpoMet).toBe(false);
    expect(target('orders-db')?.tiers).toEqual([
      { tier: 'daily', scheduled: 30, made: 30, verified: 27, failed: 3, unverified: 0 },
      { tier: 'manual', made: 0, verified: 0, failed: 0, unverified: 0 },
    ]);
    expect(target('orders-db')?.misses).toEqual(['96 h without a verified backup (2026-11-09T02:00Z to 2026-11-13T02:00Z), RPO 24 h']);
    expect(target('orders-db')?.ageSeries.find((point) => point.at === '2026-11-13T00:00:00.000Z')?.hours).toBe(94);
  });

  it('GIVEN a failed drill, or one slower than the RTO THEN the target misses, saying which', () => {
    expect(target('media')).toMatchObject({ rpoMet: true, rtoMet: false, misses: ['every drill failed (1)'] });
    expect(target('repairs')).toMatchObject({ rtoMet: false, misses: ['drill of 2026-11-01 took 150 min, RTO 2 h'] });
    expect(report.summary).toEqual({ met: 1, missed: 3, missedTargets: ['orders-db', 'media', 'repairs'] });
  });

  it('GIVEN a month THEN its window is UTC, ending at the report for the current month; the 1st reports the month before', () => {
    expect(monthWindow('2026-02', new Date('2026-12-01T00:00:00Z'))).toEqual({ month: '2026-02', from: new Date('2026-02-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') });
    expect(monthWindow('2026-12', new Date('2026-12-03T10:00:00Z')).to).toEqual(new Date('2026-12-03T10:00:00Z'));
    expect(() => monthWindow('2026-13', new Date())).toThrow(/month: '2026-13' is not YYYY-MM/);
    expect(() => monthWindow('2027-01', new Date('2026-12-03T00:00:00Z'))).toThrow(/has not begun/);
    // A year below 100 is that year, not 1900 and after: the report is of the month it names.
    expect(monthWindow('0099-12', new Date('2026-12-03T00:00:00Z'))).toEqual({ month: '0099-12', from: new Date('0099-12-01T00:00:00Z'), to: new Date('0100-01-01T00:00:00Z') });
    expect(previousMonth(new Date('2026-01-01T06:00:00Z'))).toBe('2025-12');
  });

  it('GIVEN the CSV THEN it has one row per target, quoted as RFC 4180 says, and no cell a spreadsheet would run', () => {
    const lines = renderCsv(report).trimEnd().split('\r\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]?.split(',')).toContain('longest_gap_hours');
    expect(lines[1]).toMatch(/^2026-11,orders-db,postgres,24,96,false,30,30,27,3,1,0,9,2,true,/);
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('-1+2')).toBe("'-1+2");
    expect(csvCell('a,b')).toBe('"a,b"');
  });

  it('GIVEN names and reasons with markup THEN the page shows them as text', () => {
    const html = renderHtml(report);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('shop&lt;b&gt;');
    expect(html).not.toMatch(/<(link|img|iframe|script)\b/i);
  });
});
