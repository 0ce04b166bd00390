import { describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE, METRICS, catalogProblem } from '../../contracts/metric-catalog';
import { buildTestApp } from './app-fixture';
import { TemplateResolver } from '../support/iam';

/**
 * The alarms and the dashboard read the metrics the functions publish: every alarm on a BackupKit
 * metric, and every dashboard series and SEARCH, names a metric and an exact dimension set of the
 * metric catalog. (The functions' side: every test that captures EMF checks it against the same
 * catalog, see test/support/emf-contract.ts.) A CloudWatch alarm or SEARCH matches the exact
 * dimension set, so anything else is an alarm that never fires or a widget that stays empty.
 */

const { stacks } = buildTestApp({ guard: { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' } });
const resolver = new TemplateResolver([stacks.storage, stacks.replicaStorage, stacks.jobs, ...(stacks.rdsRestoreDr ? [stacks.rdsRestoreDr] : [])]);
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

describe('the metric contract of the jobs stack', () => {
  it('every alarm on a BackupKit metric watches a catalog metric with one of its dimension sets', () => {
    const problems: string[] = [];
    const checked = new Set<string>();
    for (const [id, alarm] of resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Alarm')) {
      const resolved = resolver.resolve(alarm as Json, stacks.jobs) as Record<string, Json>;
      const single = resolved.Namespace === METRIC_NAMESPACE ? [{ MetricName: resolved.MetricName, Dimensions: resolved.Dimensions }] : [];
      const fromMath = ((resolved.Metrics ?? []) as { MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Json } } }[])
        .filter((entry) => entry.MetricStat?.Metric.Namespace === METRIC_NAMESPACE)
        .map((entry) => ({ MetricName: entry.MetricStat?.Metric.MetricName, Dimensions: entry.MetricStat?.Metric.Dimensions ?? [] }));
      for (const metric of [...single, ...fromMath]) {
        const dimensions = (metric.Dimensions ?? []) as { Name: string; Value: string }[];
        const service = dimensions.find((dimension) => dimension.Name === 'service')?.Value;
        const problem = catalogProblem(METRIC_NAMESPACE, String(metric.MetricName), dimensions.map((dimension) => dimension.Name), service);
        if (problem !== undefined) problems.push(`${id}: ${problem}`);
        checked.add(String(metric.MetricName));
      }
    }
    expect(problems).toEqual([]);
    for (const spec of [METRICS.hoursSinceLastVerifiedBackup, METRICS.backupFailed, METRICS.verificationFailed, METRICS.sizeAnomaly, METRICS.replicaMissing, METRICS.daysSinceLastSuccessfulDrill]) expect(checked).toContain(spec.name);
  });

  it('every dashboard SEARCH and series names a catalog metric with one of its dimension sets, and the restore and drill widgets are among them', () => {
    const [, dashboard] = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Dashboard')[0] ?? [];
    const body = String(resolver.resolve(dashboard?.DashboardBody ?? null, stacks.jobs));
    const problems: string[] = [];
    const searched = new Set<string>();
    for (const match of body.matchAll(/SEARCH\('\{([^}]*)\} service=\\?"([^"\\]+)\\?" MetricName=\\?"([^"\\]+)\\?"/g)) {
      const [, schema = '', service = '', name = ''] = match;
      const [namespace = '', ...dimensions] = schema.split(',');
      const problem = catalogProblem(namespace, name, dimensions, service);
      if (problem !== undefined) problems.push(`SEARCH ${name}: ${problem}`);
      searched.add(`${service}/${name}`);
    }
    const widgets = (JSON.parse(body) as { widgets: { properties: { metrics?: Json[][] } }[] }).widgets;
    for (const series of widgets.flatMap((widget) => widget.properties.metrics ?? [])) {
      if (series[0] !== METRIC_NAMESPACE) continue;
      const pairs = series.slice(2).filter((value) => typeof value === 'string') as string[];
      const names = pairs.filter((_, index) => index % 2 === 0);
      const service = pairs[names.indexOf('service') * 2 + 1];
      const problem = catalogProblem(METRIC_NAMESPACE, String(series[1]), names, service);
      if (problem !== undefined) problems.push(`series ${String(series[1])}: ${problem}`);
    }
    expect(problems).toEqual([]);
    for (const spec of [METRICS.restoreSeconds, METRICS.restoreSucceeded, METRICS.drillSeconds, METRICS.drillSucceeded]) expect(searched).toContain(`${spec.service}/${spec.name}`);
  });
});

describe('alarms on conditions that persist also say when they are over', () => {
  it('every dead-letter queue alarm and every no-recent-drill alarm notifies on recovery', () => {
    const alarms = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Alarm');
    const persistent = alarms.filter(([id]) => /DeadLetters|Dlq|NoRecentDrill/.test(id));
    expect(persistent.length).toBeGreaterThan(4);
    const silentOnRecovery = persistent.filter(([, alarm]) => ((alarm.OKActions ?? []) as unknown[]).length === 0).map(([id]) => id);
    expect(silentOnRecovery).toEqual([]);
  });
});

describe('every alarm of the app is made by the monitoring facade and sends the reader somewhere', () => {
  it('every alarm of every stack ends its description with the docs page of its runbook, and notifies its region\'s alert topic', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const stack of [stacks.storage, stacks.replicaStorage, stacks.jobs, ...(stacks.rdsRestoreDr ? [stacks.rdsRestoreDr] : [])]) {
      for (const [id, alarm] of resolver.resourcesOf(stack, 'AWS::CloudWatch::Alarm')) {
        checked += 1;
        const description = String(resolver.resolve(alarm.AlarmDescription ?? null, stack));
        if (!/ Runbook: docs\/[\w/.-]+\.md(#[\w-]+)?$/.test(description)) problems.push(`${stack.stackName}/${id}: no runbook at the end of "${description.slice(-80)}"`);
        if (((alarm.AlarmActions ?? []) as unknown[]).length !== 1) problems.push(`${stack.stackName}/${id}: notifies ${((alarm.AlarmActions ?? []) as unknown[]).length} topics`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('the dashboard shows every alarm of the jobs stack, the restore jobs\' dead-letter and no-recent-drill alarms included', () => {
    const [, dashboard] = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Dashboard')[0] ?? [];
    const body = JSON.stringify(dashboard?.DashboardBody ?? null);
    const alarms = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Alarm').map(([id]) => id);
    expect(alarms.filter((id) => !body.includes(`"${id}"`))).toEqual([]);
    expect(alarms.some((id) => /^MonitoringDlqRestoresAndDrills/.test(id))).toBe(true);
    expect(alarms.filter((id) => /^MonitoringNoRecentDrill/.test(id))).toHaveLength(1);
  });
});
