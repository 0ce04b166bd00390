import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { vi } from 'vitest';
import { assertInCatalog } from '../support/emf-contract';

/** One EMF blob as Powertools prints it. */
export interface EmfBlob {
  readonly _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  readonly [key: string]: unknown;
}

/**
 * A real Powertools Metrics instance whose EMF output is collected instead of going to stdout
 * (dev mode prints through the global console, which the spy reads).
 */
export function capturedMetrics(serviceName: string): { metrics: Metrics; emitted: () => EmfBlob[] } {
  const saved = { dev: process.env.POWERTOOLS_DEV, disabled: process.env.POWERTOOLS_METRICS_DISABLED };
  process.env.POWERTOOLS_DEV = 'true';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const metrics = new Metrics({ namespace: 'BackupKit', serviceName });
  restore('POWERTOOLS_DEV', saved.dev);
  restore('POWERTOOLS_METRICS_DISABLED', saved.disabled);
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  // A single metric (a dimension set of its own) is made later, with Powertools' private console: route it here too.
  const single = metrics.singleMetric.bind(metrics);
  metrics.singleMetric = () => Object.assign(single(), { console });
  return {
    metrics,
    emitted: () =>
      log.mock.calls
        .map(([line]) => (typeof line === 'string' && line.includes('"_aws"') ? (JSON.parse(line) as EmfBlob) : undefined))
        .filter((blob): blob is EmfBlob => blob !== undefined)
        .map((blob) => {
          assertInCatalog(blob);
          return blob;
        }),
  };
}

/** The metric values and dimensions of each EMF blob, flattened for assertions. */
export function metricRecords(blobs: readonly EmfBlob[]): Record<string, unknown>[] {
  return blobs.flatMap((blob) =>
    blob._aws.CloudWatchMetrics.flatMap((entry) =>
      entry.Metrics.map((metric) => ({
        name: metric.Name,
        unit: metric.Unit,
        value: blob[metric.Name],
        namespace: entry.Namespace,
        dimensions: Object.fromEntries((entry.Dimensions[0] ?? []).map((dimension) => [dimension, blob[dimension]])),
      })),
    ),
  );
}

/** A logger that prints nothing; spy on its methods to assert what it was told. */
export function silentLogger(): Logger {
  return new Logger({ logLevel: 'SILENT' });
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * The shell text of the document's step as the agent receives it: what SSM does before the run,
 * each `{{ name }}` replaced by the parameter's value.
 */
export function renderDocumentStep(content: unknown, values: Readonly<Record<string, string>>): string {
  const step = (content as { mainSteps: { inputs: { runCommand: string[] } }[] }).mainSteps[0];
  if (!step) throw new Error('the document has no step');
  return step.inputs.runCommand
    .map((line) =>
      line.replace(/\{\{ *([A-Za-z0-9]+) *\}\}/g, (_match, name: string) => {
        const value = values[name];
        if (value === undefined) throw new Error(`no value for parameter ${name}`);
        return value;
      }),
    )
    .join('\n');
}
