import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE, type MetricSpec, type ServiceName } from '../../contracts/metric-catalog';

/**
 * One logger and one metrics instance per function, built at module scope by the handler.
 * Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE,
 * which the house function sets.
 */
export function createLogger(): Logger {
  return new Logger({ persistentKeys: { awsSdk: awsSdkVersion() } });
}

/**
 * The version of the AWS SDK the function loaded: the runtime's, not the one the tests ran (see
 * HOUSE_BUNDLING), so every log line says which; `unknown` when it cannot be read.
 */
export function awsSdkVersion(): string {
  try {
    let directory = dirname(createRequire(join(process.cwd(), 'index.js')).resolve('@aws-sdk/client-s3'));
    for (let depth = 0; depth < 4; depth += 1, directory = dirname(directory)) {
      const file = join(directory, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === '@aws-sdk/client-s3' && manifest.version) return manifest.version;
    }
  } catch {
    // Not resolvable from here: the logs then say so.
  }
  return 'unknown';
}

/** The function's metrics; with `service`, another job's series (a restore test is a drill of its resource). */
export function createMetrics(service?: ServiceName): Metrics {
  return new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_NAMESPACE, ...(service ? { serviceName: service } : {}) });
}

/**
 * Adds one metric of the catalog, with the catalog's name and unit: the only way the functions
 * publish, so a unit or name cannot drift from what the alarms and the dashboard read.
 */
export function addCatalogMetric(metrics: Pick<Metrics, 'addMetric'>, spec: MetricSpec, value: number): void {
  metrics.addMetric(spec.name, MetricUnit[spec.unit === 'None' ? 'NoUnit' : spec.unit], value);
}

/**
 * Publishes metrics with one dimension set of their own (besides `service`), apart from the
 * stored ones: the per-tier series the alarms read, or the one across all targets (no dimension).
 */
export function publishCatalogMetrics(metrics: Pick<Metrics, 'singleMetric'>, dimensions: Readonly<Record<string, string>>, values: readonly (readonly [MetricSpec, number])[]): void {
  for (const [spec, value] of values) {
    const single = metrics.singleMetric();
    for (const [name, dimension] of Object.entries(dimensions)) single.addDimension(name, dimension);
    addCatalogMetric(single, spec, value);
  }
}

export { MetricUnit } from '@aws-lambda-powertools/metrics';
export type { Logger } from '@aws-lambda-powertools/logger';
export type { Metrics } from '@aws-lambda-powertools/metrics';
