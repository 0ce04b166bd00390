import { Metrics } from '@aws-lambda-powertools/metrics';
import { Logger } from '@aws-lambda-powertools/logger';
import type { VerifySettings } from '../../contracts/verify-settings';
import { assertInCatalog, type EmfDocument } from '../support/emf-contract';

export const TEST_SETTINGS: VerifySettings = {
  tierMaxAgeHours: { daily: 26, weekly: 192, monthly: 768 },
  tierLockModes: { daily: 'GOVERNANCE', weekly: 'GOVERNANCE', monthly: 'GOVERNANCE', manual: 'GOVERNANCE' },
  tierRetentionDays: { daily: 30, weekly: 30, monthly: 30, manual: 30 },
  sizeAnomaly: { lowerRatio: 0.8, upperRatio: 2, history: 7, flagIdenticalSize: true },
  replicationAllowanceMinutes: 30,
  sqliteIntegrityCheckMaxBytes: 64 * 1024 * 1024,
  maxObjectBytes: 16 * 2 ** 30,
};

export interface EmittedMetric {
  readonly name: string;
  readonly value: number;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** A Powertools Metrics instance whose EMF output is captured instead of printed. */
export function capturingMetrics(service = 'verify'): { metrics: Metrics; emitted: EmittedMetric[] } {
  const emitted: EmittedMetric[] = [];
  const metrics = new Metrics({ namespace: 'BackupKit', serviceName: service });
  const capture = (line: string) => {
    const emf = JSON.parse(line) as EmfDocument;
    assertInCatalog(emf);
    for (const directive of emf._aws.CloudWatchMetrics) {
      const dimensions = Object.fromEntries((directive.Dimensions[0] ?? []).map((name) => [name, String(emf[name])]));
      for (const metric of directive.Metrics) emitted.push({ name: metric.Name, value: Number(emf[metric.Name]), dimensions });
    }
  };
  (metrics as unknown as { console: { log: (line: string) => void } }).console = { log: capture };
  const single = metrics.singleMetric.bind(metrics);
  metrics.singleMetric = () => {
    const child = single();
    (child as unknown as { console: { log: (line: string) => void } }).console = { log: capture };
    return child;
  };
  return { metrics, emitted };
}

export function quietLogger(): Logger {
  return new Logger({ logLevel: 'SILENT' });
}
