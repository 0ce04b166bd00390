import { evidenceReport, monthWindow, type BackupFact, type DrillFact, type EvidenceReport, type TargetInput } from '../../lambda/evidence-report/model';

/**
 * A month (November 2026) of generated history for three targets: orders-db backed up daily at
 * 02:00 whose backups of the 10th to the 12th failed verification (72 h without a verified backup
 * against its 24 h RPO); media, whose only drill failed; repairs, whose drill took longer than
 * its RTO; and one whose target name and failure reason carry markup.
 */
export const HISTORY_MONTH = '2026-11';
export const HISTORY_NOW = new Date('2026-12-01T06:00:00Z');

const day = (n: number, hour = 2) => new Date(Date.UTC(2026, 10, n, hour));

function daily(target: string, kind: string, failedDays: readonly number[] = [], reason = 'integrity: the stored bytes do not match the manifest SHA-256'): BackupFact[] {
  return Array.from({ length: 30 }, (_, index) => {
    const at = day(index + 1);
    const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const failed = failedDays.includes(index + 1);
    return {
      key: `daily/${target}/2026/11/${String(index + 1).padStart(2, '0')}/${target}_${stamp}.${kind === 'files' ? 'tar.gz' : 'pgdump.gz'}`,
      tier: 'daily',
      at,
      bytes: 400_000 + index * 1000,
      verdict: failed ? 'failed' : 'passed',
      reasons: failed ? [reason] : [],
      replica: 'passed',
      retainUntil: new Date(at.getTime() + 30 * 86_400_000).toISOString(),
    } satisfies BackupFact;
  });
}

const tiers = [{ tier: 'daily', schedule: 'cron(0 2 * * ? *)' }, { tier: 'manual' }];
const drill = (n: number, succeeded: boolean, seconds?: number): DrillFact => ({ at: day(n, 5), succeeded, ...(seconds !== undefined ? { seconds } : {}) });

export const HISTORY_INPUTS: readonly TargetInput[] = [
  { name: 'orders-db', kind: 'postgres', objectives: { rpoHours: 24, rtoHours: 2 }, tiers, backups: daily('orders-db', 'postgres', [10, 11, 12]), verifiedBefore: new Date('2026-10-31T02:00:00Z'), drills: [drill(1, true, 540)], drilled: true },
  { name: 'media', kind: 'files', objectives: { rpoHours: 24, rtoHours: 4 }, tiers, backups: daily('media', 'files'), verifiedBefore: new Date('2026-10-31T02:00:00Z'), drills: [drill(1, false)], drilled: true },
  { name: 'repairs', kind: 'sqlite', objectives: { rpoHours: 24, rtoHours: 2 }, tiers, backups: daily('repairs', 'sqlite'), verifiedBefore: new Date('2026-10-31T02:00:00Z'), drills: [drill(1, true, 150 * 60)], drilled: true },
  { name: 'shop<b>', kind: 'postgres', objectives: { rpoHours: 48, rtoHours: 2 }, tiers, backups: daily('shop<b>', 'postgres', [20], '<script>alert(1)</script>'), verifiedBefore: new Date('2026-10-31T02:00:00Z'), drills: [drill(2, true, 300)], drilled: true },
];

export function historyReport(): EvidenceReport {
  return evidenceReport(
    'backup-kit',
    monthWindow(HISTORY_MONTH, HISTORY_NOW),
    { bucket: 'backup-kit-storage-backups-1a2b3c', encryption: 'aws:kms (arn:aws:kms:eu-west-1:111122223333:key/0a1b)', objectLock: 'GOVERNANCE, 30 days by default' },
    HISTORY_INPUTS,
    ['backup-kit-jobs-VerifyAgeAlarm-1X2Y3Z'],
    HISTORY_NOW,
  );
}
