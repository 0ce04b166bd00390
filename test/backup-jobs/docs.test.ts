import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleFailureAlert, sampleNotSentAlert } from './alert-samples';

const docs = readFileSync(resolve(__dirname, '../../docs/backups.md'), 'utf8');

/** The fenced block right after `<!-- sample:<name> -->`. */
function sampleBlock(name: string): string {
  const match = new RegExp(`<!-- sample:${name} -->\\n\`\`\`text\\n([\\s\\S]*?)\\n\`\`\``).exec(docs);
  if (!match?.[1]) throw new Error(`docs/backups.md has no sample:${name} block`);
  return match[1];
}

describe('docs/backups.md', () => {
  it('GIVEN the failure alert in the docs THEN it is exactly what the result function sends', () => {
    const alert = sampleFailureAlert();
    expect(sampleBlock('failure-alert')).toBe(`Subject: ${alert.subject}\n\n${alert.message}`);
  });

  it('GIVEN the not-started alert in the docs THEN it is exactly what the trigger sends', () => {
    const alert = sampleNotSentAlert();
    expect(sampleBlock('not-sent-alert')).toBe(`Subject: ${alert.subject}\n\n${alert.message}`);
  });
});
