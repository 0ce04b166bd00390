/**
 * Benchmark of the app's scale: synthesizes it for generated configs of N EC2 targets (a mix of
 * the four kinds, each on its own instance, taking part in every tier) and prints for each N the
 * synth time, the resources of each stack against CloudFormation's 500, the alarms, and the
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

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const counts = (option('--targets') ?? '10,25,50,200,500').split(',').map(Number);
const bundle = args.includes('--bundle');

type TargetInput = NonNullable<BackupKitConfigInput['targets']>[number];

/** Target `index` of a generated estate: kinds in turn, one instance each. */
function generatedTarget(index: number): TargetInput {
  const name = `t${String(index).padStart(3, '0')}-app`;
  const instances = { instanceIds: [`i-0${index.toString(16).padStart(16, '0')}`] };
  switch (index % 4) {
    case 0:
      return { name, kind: 'postgres', instances, host: '127.0.0.1', database: `db${index}`, user: 'backup', password: { ssmParameter: `/apps/${name}/db-password` } };
    case 1:
      return { name, kind: 'mysql', instances, host: '127.0.0.1', database: `db${index}`, user: 'backup', password: { secretId: `apps/${name}/mysql` } };
    case 2:
      return { name, kind: 'sqlite', instances, path: `/srv/${name}/app.sqlite3` };
    default:
      return { name, kind: 'files', instances, path: `/srv/${name}/media`, excludes: ['cache/*'] };
  }
}

interface Figures {
  readonly label: string;
  readonly seconds: number;
  readonly stacks: readonly { readonly name: string; readonly resources: number; readonly alarms: number }[];
  readonly largestEnvironment: { readonly bytes: number; readonly where: string };
  readonly error?: string;
}

function synthesize(label: string, input: BackupKitConfigInput): Figures {
  const started = process.hrtime.bigint();
  try {
    const { config } = loadConfig(input);
    const app = new App(bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } });
    buildApp(app, config);
    const assembly = app.synth();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let largestEnvironment = { bytes: 0, where: '-' };
    const stacks = assembly.stacks.map((stack) => {
      const resources = Object.entries((stack.template as { Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }> }).Resources ?? {});
      for (const [id, resource] of resources) {
        if (resource.Type !== 'AWS::Lambda::Function') continue;
        const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
        // Lambda counts keys and values; unresolved references count as the JSON CloudFormation gets.
        const bytes = Object.entries(variables).reduce((sum, [key, value]) => sum + key.length + (typeof value === 'string' ? value.length : JSON.stringify(value).length), 0);
        if (bytes > largestEnvironment.bytes) largestEnvironment = { bytes, where: `${stack.stackName}/${id}` };
      }
      return { name: stack.stackName, resources: resources.length, alarms: resources.filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm').length };
    });
    return { label, seconds, stacks, largestEnvironment };
  } catch (error) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { label, seconds, stacks: [], largestEnvironment: { bytes: 0, where: '-' }, error: (error as Error).message.split('\n')[0]?.slice(0, 300) ?? String(error) };
  }
}

function report(figures: Figures, baseline: Figures | undefined): void {
  const ratio = baseline && !figures.error ? ` (${(figures.seconds / baseline.seconds).toFixed(2)}x the example's)` : '';
  console.log(`\n${figures.label}: synth ${figures.seconds.toFixed(1)} s${ratio}`);
  if (figures.error) {
    console.log(`  FAILS: ${figures.error}`);
    return;
  }
  for (const stack of figures.stacks) {
    const flag = stack.resources > 500 ? '  OVER the 500-resource limit' : '';
    console.log(`  ${stack.name.padEnd(32)} ${String(stack.resources).padStart(5)} resources ${String(stack.alarms).padStart(5)} alarms${flag}`);
  }
  const alarms = figures.stacks.reduce((sum, stack) => sum + stack.alarms, 0);
  const env = figures.largestEnvironment;
  console.log(`  alarms in all: ${alarms}; largest Lambda environment ${env.bytes} bytes of 4096 (${env.where})${env.bytes > 4096 ? '  OVER the limit' : ''}`);
}

console.log(`backup-kit scale benchmark (${bundle ? 'functions bundled' : 'functions not bundled'})`);
const baseline = synthesize(`example config (${exampleConfig.targets?.length ?? 0} targets)`, exampleConfig);
report(baseline, undefined);
for (const count of counts) {
  const targets = Array.from({ length: count }, (_, index) => generatedTarget(index));
  report(synthesize(`${count} targets`, { ...exampleConfig, targets, restore: { ...exampleConfig.restore, targets: {}, servers: {}, drills: { ...exampleConfig.restore?.drills, rebuilds: [] } } }), baseline);
}
