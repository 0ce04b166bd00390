import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The README and the pages under docs/ stay navigable: every link lands, and every doc path the code quotes exists. */

const ROOT = resolve(__dirname, '../..');

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(path, keep);
    return keep(entry.name) ? [path] : [];
  });
}

const PAGES = ['README.md', ...filesUnder('docs', (name) => name.endsWith('.md'))];

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to '-', repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6} (.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Where `target` (a path in the repository, with an optional #anchor) fails to land, or undefined. */
function problemWith(target: string): string | undefined {
  const [path = '', anchor] = target.split('#');
  let isDirectory: boolean;
  try {
    isDirectory = statSync(join(ROOT, path)).isDirectory();
  } catch {
    return `${path} does not exist`;
  }
  if (anchor === undefined) return undefined;
  if (isDirectory || !path.endsWith('.md')) return `${path} has no headings to link to`;
  return headingAnchors(readFileSync(join(ROOT, path), 'utf8')).has(anchor) ? undefined : `${path} has no heading #${anchor}`;
}

describe('the docs', () => {
  it('README stays an overview: at most 250 lines', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(250);
  });

  it.each(PAGES)('every relative link in %s lands on a file and, with #anchor, on a heading in it', (page) => {
    const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    const problems: string[] = [];
    for (const [, target] of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      if (!target || /^(https?|mailto):/.test(target)) continue;
      const inRepo = target.startsWith('#') ? `${page}${target}` : relative(ROOT, resolve(ROOT, dirname(page), target));
      const problem = problemWith(inRepo);
      if (problem) problems.push(`${target}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it('every docs page is reachable from the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const linked = new Set([...readme.matchAll(/\]\((docs\/[^)#\s]+)/g)].map((match) => match[1]));
    const runbooksLinked = linked.has('docs/runbooks/');
    const unlinked = PAGES.filter((page) => page !== 'README.md' && !linked.has(page) && !(runbooksLinked && page.startsWith('docs/runbooks/') && readme.includes(`(${page})`)));
    expect(unlinked).toEqual([]);
  });

  it('every docs/ path quoted in code, config and scripts exists, with its #anchor', () => {
    const sources = ['bin', 'lib', 'lambda', 'config', 'scripts'].flatMap((dir) => filesUnder(dir, (name) => /\.(ts|sh)$/.test(name)));
    const problems: string[] = [];
    let quoted = 0;
    for (const source of sources) {
      for (const [target] of readFileSync(join(ROOT, source), 'utf8').matchAll(/\bdocs\/[\w./-]*\.md(#[\w-]+)?/g)) {
        quoted += 1;
        const problem = problemWith(target);
        if (problem) problems.push(`${source}: ${target}: ${problem}`);
      }
    }
    expect(problems).toEqual([]);
    expect(quoted).toBeGreaterThanOrEqual(10);
  });

  it('no code, config or script sends the reader to a README section (the README is an overview; the docs pages hold the detail)', () => {
    const sources = ['bin', 'lib', 'lambda', 'config', 'scripts'].flatMap((dir) => filesUnder(dir, (name) => /\.(ts|sh)$/.test(name)));
    expect(sources.filter((source) => /\bREADME\b/.test(readFileSync(join(ROOT, source), 'utf8')))).toEqual([]);
  });
});

describe('headingAnchors', () => {
  it('GIVEN headings with punctuation, code and repeats THEN it gives the anchors GitHub gives', () => {
    const anchors = headingAnchors('# Config (`verification`)\n## Limits: the largest object\n## Metrics\n## Metrics\n```\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['config-verification', 'limits-the-largest-object', 'metrics', 'metrics-1']);
  });
});
