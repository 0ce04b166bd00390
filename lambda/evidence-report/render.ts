import type { EvidenceReport, TargetEvidence } from './model';

/**
 * The evidence report as a self-contained HTML page (inline style and SVG charts, no script, no
 * external resource), as CSV (one row per target) and as JSON. Every text from the bucket (keys,
 * verification reasons, names) is escaped: a page that renders what it is given cannot be turned
 * into another page.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);
}

const cell = (text: string | number, attributes = '') => `<td${attributes}>${escapeHtml(String(text))}</td>`;
const mark = (met: boolean) => (met ? cell('met', ' class="met"') : cell('MISSED', ' class="missed"'));
const hours = (value: number) => `${Math.round(value * 10) / 10} h`;

/** The age of the newest verified backup across the month, with the RPO as a dashed line. */
export function ageChart(target: TargetEvidence, width = 560, height = 160): string {
  const pad = { left: 40, right: 10, top: 10, bottom: 20 };
  const values = target.ageSeries.map((point) => point.hours ?? 0);
  const top = Math.max(target.objectives.rpoHours * 1.5, ...values, 1);
  const x = (index: number) => pad.left + (index / Math.max(target.ageSeries.length - 1, 1)) * (width - pad.left - pad.right);
  const y = (value: number) => pad.top + (1 - value / top) * (height - pad.top - pad.bottom);
  const points = target.ageSeries.map((point, index) => `${x(index).toFixed(1)},${y(point.hours ?? top).toFixed(1)}`).join(' ');
  const late = target.ageSeries
    .map((point, index) => ({ point, index }))
    .filter(({ point }) => point.hours === null || point.hours > target.objectives.rpoHours)
    .map(({ point, index }) => `<circle cx="${x(index).toFixed(1)}" cy="${y(point.hours ?? top).toFixed(1)}" r="3" class="late"/>`)
    .join('');
  const rpo = y(target.objectives.rpoHours).toFixed(1);
  return [
    `<svg class="age-chart" role="img" aria-label="${escapeHtml(`age of the newest verified backup of ${target.target}`)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">`,
    `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" class="axis"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" class="axis"/>`,
    `<text x="2" y="${pad.top + 8}" class="tick">${escapeHtml(hours(top))}</text>`,
    `<text x="2" y="${height - pad.bottom}" class="tick">0 h</text>`,
    `<line x1="${pad.left}" y1="${rpo}" x2="${width - pad.right}" y2="${rpo}" class="rpo"/>`,
    `<text x="${width - pad.right - 70}" y="${Number(rpo) - 3}" class="tick">RPO ${escapeHtml(hours(target.objectives.rpoHours))}</text>`,
    `<polyline points="${points}" class="age"/>`,
    late,
    `<text x="${pad.left}" y="${height - 4}" class="tick">${escapeHtml(target.ageSeries[0]?.at.slice(0, 10) ?? '')}</text>`,
    `<text x="${width - pad.right - 70}" y="${height - 4}" class="tick">${escapeHtml(target.ageSeries.at(-1)?.at.slice(0, 10) ?? '')}</text>`,
    '</svg>',
  ].join('');
}

/** The slowest passing drill of each drilled target against its RTO. */
export function drillChart(targets: readonly TargetEvidence[], width = 560): string {
  const drilled = targets.filter((target) => target.drilled);
  const row = 24;
  const height = 20 + drilled.length * row;
  const pad = { left: 140, right: 20 };
  const slowest = (target: TargetEvidence) => Math.max(0, ...target.drills.filter((drill) => drill.succeeded).map((drill) => drill.minutes ?? 0));
  const top = Math.max(1, ...drilled.map((target) => Math.max(slowest(target), target.objectives.rtoHours * 60)));
  const x = (minutes: number) => pad.left + (minutes / top) * (width - pad.left - pad.right);
  const bars = drilled.map((target, index) => {
    const y = 10 + index * row;
    const minutes = slowest(target);
    const passed = target.drills.some((drill) => drill.succeeded);
    return [
      `<text x="4" y="${y + 14}" class="tick">${escapeHtml(target.target)}</text>`,
      passed ? `<rect x="${pad.left}" y="${y + 3}" width="${Math.max(1, x(minutes) - pad.left).toFixed(1)}" height="14" class="${target.rtoMet ? 'bar' : 'bar over'}"/>` : `<text x="${pad.left}" y="${y + 14}" class="tick missed">no passing drill</text>`,
      `<line x1="${x(target.objectives.rtoHours * 60).toFixed(1)}" y1="${y}" x2="${x(target.objectives.rtoHours * 60).toFixed(1)}" y2="${y + row - 4}" class="rto"/>`,
    ].join('');
  });
  return `<svg class="drill-chart" role="img" aria-label="slowest passing drill per target against its RTO" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">${bars.join('')}</svg>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;font-size:14px}th{background:#eee}
.met{color:#1a7f37;font-weight:600}.missed{color:#b3261e;font-weight:600}.axis{stroke:#888}.rpo,.rto{stroke:#b3261e;stroke-dasharray:4 3}.age{fill:none;stroke:#1f6feb;stroke-width:2}
.late{fill:#b3261e}.bar{fill:#1f6feb}.over{fill:#b3261e}.tick{font-size:11px;fill:#555}code{font-size:12px}`;

export function renderHtml(report: EvidenceReport): string {
  const summaryRows = report.targets.map((target) =>
    [
      '<tr>',
      cell(target.target),
      cell(target.kind),
      cell(hours(target.objectives.rpoHours)),
      cell(hours(target.longestGap.hours)),
      mark(target.rpoMet),
      cell(target.drilled ? `${target.drills.filter((drill) => drill.succeeded).length} passed, ${target.drills.filter((drill) => !drill.succeeded).length} failed` : 'not drilled'),
      cell(hours(target.objectives.rtoHours)),
      target.drilled ? mark(target.rtoMet) : cell('-'),
      '</tr>',
    ].join(''),
  );
  const details = report.targets.map((target) =>
    [
      `<section class="target" id="target-${escapeHtml(target.target)}">`,
      `<h2>${escapeHtml(target.target)} <small>(${escapeHtml(target.kind)})</small></h2>`,
      target.misses.length > 0 ? `<p class="missed">Missed: ${escapeHtml(target.misses.join('; '))}</p>` : '<p class="met">Met its objectives this month.</p>',
      '<table class="backups"><tr><th>tier</th><th>scheduled</th><th>made</th><th>verified</th><th>failed</th><th>unverified</th></tr>',
      ...target.tiers.map((tier) => `<tr>${cell(tier.tier)}${cell(tier.scheduled ?? '-')}${cell(tier.made)}${cell(tier.verified)}${cell(tier.failed)}${cell(tier.unverified)}</tr>`),
      '</table>',
      `<p>Longest time without a verified backup: ${escapeHtml(hours(target.longestGap.hours))}, from ${escapeHtml(target.longestGap.from)} to ${escapeHtml(target.longestGap.to)}.</p>`,
      ageChart(target),
      target.newest ? `<p>Newest backup <code>${escapeHtml(target.newest.key)}</code>: locked until ${escapeHtml(target.newest.retainUntil ?? 'unknown')}, replica ${escapeHtml(target.newest.replica ?? 'unknown')}.</p>` : '',
      target.failedBackups.length > 0
        ? ['<table class="failed"><tr><th>failed backup</th><th>why</th></tr>', ...target.failedBackups.map((backup) => `<tr>${cell(backup.key)}${cell(backup.reasons.join('; '))}</tr>`), '</table>'].join('')
        : '',
      target.drills.length > 0
        ? ['<table class="drills"><tr><th>drill</th><th>result</th><th>minutes</th><th>RTO</th></tr>', ...target.drills.map((drill) => `<tr>${cell(drill.at.slice(0, 10))}${drill.succeeded ? cell('passed', ' class="met"') : cell('FAILED', ' class="missed"')}${cell(drill.minutes ?? '-')}${drill.rtoMet === undefined ? cell('-') : mark(drill.rtoMet)}</tr>`), '</table>'].join('')
        : '',
      '</section>',
    ].join(''),
  );
  return [
    '<!DOCTYPE html>',
    `<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(report.title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(report.title)}</h1>`,
    `<p>From ${escapeHtml(report.from)} to ${escapeHtml(report.to)}; generated ${escapeHtml(report.generatedAt)}. ${report.summary.met} of ${report.targets.length} targets met their objectives, ${report.summary.missed} missed${report.summary.missed > 0 ? `: ${escapeHtml(report.summary.missedTargets.join(', '))}` : ''}.</p>`,
    `<p>Backups in <code>${escapeHtml(report.storage.bucket)}</code>: encryption ${escapeHtml(report.storage.encryption)}; Object Lock ${escapeHtml(report.storage.objectLock)}.</p>`,
    '<table id="summary"><tr><th>target</th><th>kind</th><th>RPO</th><th>longest gap</th><th>RPO met</th><th>drills</th><th>RTO</th><th>RTO met</th></tr>',
    ...summaryRows,
    '</table>',
    ...(report.databases.length > 0
      ? [
          '<h2>RDS point-in-time restore</h2><table id="databases"><tr><th>database</th><th>window kept</th><th>restorable from</th><th>restorable to</th><th>restores this month</th><th>slowest</th></tr>',
          ...report.databases.map(
            (database) =>
              `<tr>${cell(database.resource)}${cell(database.retentionDays !== undefined ? `${database.retentionDays} days` : (database.problem ?? '-'))}${cell(database.earliest ?? '-')}${cell(database.latest ?? '-')}${cell(database.restores)}${cell(database.slowestRestoreMinutes !== undefined ? `${database.slowestRestoreMinutes} min` : '-')}</tr>`,
          ),
          '</table>',
        ]
      : []),
    '<h2>Drills against the RTO</h2>',
    drillChart(report.targets),
    `<h2>Alarms open when this was made</h2>${report.openAlarms.length > 0 ? `<ul>${report.openAlarms.map((alarm) => `<li>${escapeHtml(alarm)}</li>`).join('')}</ul>` : '<p>None.</p>'}`,
    ...details,
    '</body></html>',
  ].join('\n');
}

/** RFC 4180 quoting; a cell a spreadsheet would run as a formula (= + - @ at the start) is prefixed with '. */
export function csvCell(value: string | number | boolean): string {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function renderCsv(report: EvidenceReport): string {
  const header = ['month', 'target', 'kind', 'rpo_hours', 'longest_gap_hours', 'rpo_met', 'scheduled', 'made', 'verified', 'failed', 'drills_passed', 'drills_failed', 'slowest_drill_minutes', 'rto_hours', 'rto_met', 'newest_retain_until', 'replica', 'misses'];
  const rows = report.targets.map((target) => {
    const sum = (field: 'made' | 'verified' | 'failed') => target.tiers.reduce((total, tier) => total + tier[field], 0);
    const scheduled = target.tiers.reduce((total, tier) => total + (tier.scheduled ?? 0), 0);
    const passed = target.drills.filter((drill) => drill.succeeded);
    return [
      report.month,
      target.target,
      target.kind,
      target.objectives.rpoHours,
      target.longestGap.hours,
      target.rpoMet,
      scheduled,
      sum('made'),
      sum('verified'),
      sum('failed'),
      passed.length,
      target.drills.length - passed.length,
      passed.length > 0 ? Math.max(...passed.map((drill) => drill.minutes ?? 0)) : '',
      target.objectives.rtoHours,
      target.drilled ? target.rtoMet : '',
      target.newest?.retainUntil ?? '',
      target.newest?.replica ?? '',
      target.misses.join('; '),
    ];
  });
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
