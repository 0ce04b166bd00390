import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { EvidenceDatabase, EvidenceTarget } from '../contracts/evidence-report';
import { buildEvidence } from '../lambda/evidence-report/core';
import { previousMonth } from '../lambda/evidence-report/model';
import { renderCsv, renderHtml } from '../lambda/evidence-report/render';

/**
 * `backup-kit report [--month YYYY-MM] [--out <dir>]`: the evidence report of a month, made on
 * this machine with the caller's credentials (the same code as the monthly function), written to
 * `<dir>/evidence-<month>.html`, `.csv` and `.json`; the summary printed. Exit 1 when a target
 * missed its objectives that month.
 */
export async function reportCommand(
  options: { readonly month?: string; readonly out: string; readonly prefix: string; readonly targets: readonly EvidenceTarget[]; readonly databases?: readonly EvidenceDatabase[] },
  deps: { readonly s3: S3Client; readonly cloudwatch: CloudWatchClient; readonly rds?: RDSClient; readonly bucket: string; readonly now?: Date; readonly out: (text: string) => void },
): Promise<number> {
  const now = deps.now ?? new Date();
  const month = options.month ?? previousMonth(now);
  const report = await buildEvidence(month, { prefix: options.prefix, targets: [...options.targets], databases: [...(options.databases ?? [])] }, { s3: deps.s3, cloudwatch: deps.cloudwatch, bucket: deps.bucket, now, ...(deps.rds ? { rds: deps.rds } : {}) });
  mkdirSync(options.out, { recursive: true });
  const base = join(options.out, `evidence-${month}`);
  writeFileSync(`${base}.html`, renderHtml(report));
  writeFileSync(`${base}.csv`, renderCsv(report));
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  deps.out(`${report.title}: ${report.summary.met} of ${report.targets.length} targets met their objectives`);
  for (const target of report.targets.filter((candidate) => candidate.misses.length > 0)) deps.out(`  MISSED ${target.target}: ${target.misses.join('; ')}`);
  deps.out(`written: ${base}.html, .csv, .json`);
  return report.summary.missed > 0 ? 1 : 0;
}
