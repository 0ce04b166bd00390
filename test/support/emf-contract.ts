import { catalogProblem, specOf } from '../../contracts/metric-catalog';

/** One EMF blob as Powertools prints it. */
export interface EmfDocument {
  readonly _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit?: string }[] }[] };
  readonly [key: string]: unknown;
}

/**
 * Every metric of an EMF document checked against the metric catalog: its dimension set must be
 * `service` plus one of the catalog's sets for it, or the alarms and the dashboard, which read the
 * catalog, would watch a series that is never published. Every test that captures EMF calls this,
 * so each job's real output is held to the catalog. The unit too: CloudWatch keeps a series per
 * unit, and an alarm that names a unit sees only that one.
 */
export function assertInCatalog(emf: EmfDocument): void {
  for (const directive of emf._aws.CloudWatchMetrics) {
    for (const dimensionSet of directive.Dimensions) {
      for (const metric of directive.Metrics) {
        const service = typeof emf.service === 'string' ? emf.service : undefined;
        const problem = catalogProblem(directive.Namespace, metric.Name, dimensionSet, service);
        if (problem !== undefined) throw new Error(`EMF out of the metric catalog: ${problem}`);
        if (service !== undefined) assertUnitInCatalog(service, metric.Name, metric.Unit);
      }
    }
  }
}

/** The unit a metric is published in must be the catalog's (for stand-ins of Powertools' Metrics too). */
export function assertUnitInCatalog(service: string, name: string, unit: unknown): void {
  const expected = specOf(service, name)?.unit;
  if (expected !== undefined && unit !== expected) throw new Error(`EMF out of the metric catalog: ${service}/${name} published in ${String(unit ?? 'no unit')}, the catalog says ${expected}`);
}
