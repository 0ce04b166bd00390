import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../lambda/evidence-report/render';
import { historyReport } from '../support/evidence-history';
import { scratchDir } from '../support/processes';

/**
 * The evidence page in a real browser (Chromium from Debian's packages, headless): the DOM it
 * builds from the page has the expected tables and charts, and its screenshot is a page, not a
 * blank one.
 */

const chromium = (args: string[]) =>
  execFileSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('the evidence page in a headless browser', () => {
  const dir = scratchDir('evidence-page');
  const page = join(dir, 'evidence.html');
  writeFileSync(page, renderHtml(historyReport()));

  it('GIVEN the page THEN the browser builds the summary, each target\'s tables and charts, with the misses marked', () => {
    const dom = chromium(['--dump-dom', `file://${page}`]);
    const summary = /<table id="summary">([\s\S]*?)<\/table>/.exec(dom)?.[1] ?? '';
    const rows = [...summary.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((match) => [...(match[1] ?? '').matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((cell) => cell[1]));
    expect(rows[0]).toEqual(['target', 'kind', 'RPO', 'longest gap', 'RPO met', 'drills', 'RTO', 'RTO met']);
    expect(rows.slice(1).map((row) => [row[0], row[4], row[7]])).toEqual([
      ['orders-db', 'MISSED', 'met'],
      ['media', 'met', 'MISSED'],
      ['repairs', 'met', 'MISSED'],
      ['shop&lt;b&gt;', 'met', 'met'],
    ]);
    expect(dom.match(/<section class="target"/g)).toHaveLength(4);
    expect(dom.match(/<svg class="age-chart"/g)).toHaveLength(4);
    expect(dom).toContain('<svg class="drill-chart"');
    expect(dom).toContain('Missed: 96 h without a verified backup (2026-11-09T02:00Z to 2026-11-13T02:00Z), RPO 24 h');
    expect(dom).toContain('<td class="missed">FAILED</td>');
    // The reason with markup stayed text: no script element reached the DOM.
    expect(dom).not.toMatch(/<script/i);
  });

  it('GIVEN the page THEN its screenshot has the window\'s size and far more in it than a blank page\'s', () => {
    const shot = join(dir, 'evidence.png');
    const blank = join(dir, 'blank.png');
    writeFileSync(join(dir, 'blank.html'), '<!DOCTYPE html><html><body></body></html>');
    chromium(['--window-size=1200,3000', `--screenshot=${shot}`, `file://${page}`]);
    chromium(['--window-size=1200,3000', `--screenshot=${blank}`, `file://${join(dir, 'blank.html')}`]);
    const png = readFileSync(shot);
    expect(pngSize(png)).toEqual({ width: 1200, height: 3000 });
    expect(png.length).toBeGreaterThan(10 * readFileSync(blank).length);
  });
});
