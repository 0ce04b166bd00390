/**
 * Benchmark of the app's scale: synthesizes it for generated configs of N EC2 targets (a mix of
 * the four kinds, each on its own instance, taking part in every tier) and prints for each N the
 * synth time, the resources, outputs and template size of each stack (nested ones included)
 * against CloudFormation's limits, the alarms, the fixed monthly cost `cdk synth` prints, and the
 * largest Lambda environment against Lambda's 4 KB; or, when synth fails, the first error.
 *
 *   npx tsx bench/scale.ts [--targets 10,25,50,200,500] [--bundle]
 *
 * Without --bundle the functions are not bundled (CDK's bundling-stacks context set to none): the
 * templates are the same but for the code's asset hash, and the run takes seconds, not minutes.
 * The baseline is the example config, synthesized in the same run.
 */
import { App } from 'aws-cdk-lib';
import { exampleConfig } from '../config/example';
import { loadConfig, type BackupKitConfigInput } from '../lib/config/config';
import { buildApp } from '../lib/app';
import { estimateCost, type CostEstimate } from '../lib/cost/estimate';
import { metricUsage } from '../lib/cost/metric-usage';
import { LIMITS, appFigures, generatedTarget, limitProblems, type AppFigures } from '../test/support/stack-limits';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const counts = (option('--targets') ?? '10,25,50,200,500').split(',').map(Number);
const bundle = args.includes('--bundle');

interface Figures extends Partial<AppFigures> {
  readonly label: string;
  readonly seconds: number;
  /** The fixed monthly cost `cdk synth` prints, and its line items. */
  readonly cost?: CostEstimate;
  readonly error?: string;
}

function synthesize(label: string, input: BackupKitConfigInput): Figures {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const { config } = loadConfig(input);
    const app = new App(bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } });
    buildApp(app, config);
    const assembly = app.synth();
    const elapsed = seconds();
    const cost = estimateCost(assembly.stacks.map((stack) => stack.template as object), config.tiers, config.replication, metricUsage(config));
    return { label, seconds: elapsed, cost, ...appFigures(app, assembly) };
  } catch (error) {
    return { label, seconds: seconds(), error: (error as Error).message.split('\n')[0]?.slice(0, 300) ?? String(error) };
  }
}

function report(figures: Figures, baseline: Figures | undefined): void {
  const ratio = baseline && !figures.error ? ` (${(figures.seconds / baseline.seconds).toFixed(2)}x the example's)` : '';
  console.log(`\n${figures.label}: synth ${figures.seconds.toFixed(1)} s${ratio}`);
  if (figures.error || !figures.stacks || !figures.largestEnvironment) {
    console.log(`  FAILS: ${figures.error}`);
    return;
  }
  const top = figures.stacks.filter((stack) => !stack.nested);
  for (const stack of top) {
    const nested = figures.stacks.filter((candidate) => candidate.nested && candidate.name.startsWith(`${stack.name}/`));
    const most = (field: 'resources' | 'outputs' | 'templateBytes') => Math.max(0, ...nested.map((entry) => entry[field]));
    const inNested = nested.length > 0 ? `; ${nested.length} nested, the largest ${most('resources')} resources, ${most('outputs')} outputs` : '';
    console.log(
      `  ${stack.name.padEnd(26)} ${String(stack.resources).padStart(4)} resources ${String(stack.outputs).padStart(3)} outputs ${String(stack.alarms).padStart(3)} alarms ${(stack.templateBytes / 1024).toFixed(0).padStart(4)} KB${inNested}`,
    );
  }
  const alarms = figures.stacks.reduce((sum, stack) => sum + stack.alarms, 0);
  const env = figures.largestEnvironment;
  if (figures.cost) {
    console.log(`  fixed cost $${figures.cost.fixedMonthlyUsd.toFixed(2)} a month: ${figures.cost.fixed.map((line) => `${line.item.split(' (')[0]} ${line.count} = $${line.monthlyUsd.toFixed(2)}`).join('; ')}`);
  }
  console.log(`  alarms in all: ${alarms}; largest Lambda environment ${env.bytes} bytes of ${LIMITS.environmentBytes} (${env.where})`);
  const problems = limitProblems({ stacks: figures.stacks, largestEnvironment: env });
  console.log(problems.length === 0 ? '  within every CloudFormation and Lambda limit' : problems.map((problem) => `  OVER: ${problem}`).join('\n'));
}

console.log(`backup-kit scale benchmark (${bundle ? 'functions bundled' : 'functions not bundled'})`);
const baseline = synthesize(`example config (${exampleConfig.targets?.length ?? 0} targets)`, exampleConfig);
report(baseline, undefined);
for (const count of counts) {
  const targets = Array.from({ length: count }, (_, index) => generatedTarget(index));
  report(synthesize(`${count} targets`, { ...exampleConfig, targets, restore: { ...exampleConfig.restore, targets: {}, servers: {}, drills: { ...exampleConfig.restore?.drills, rebuilds: [] } } }), baseline);
}
