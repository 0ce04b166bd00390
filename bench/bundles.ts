/**
 * Benchmark of the Lambda bundles: synthesizes the example config with the functions bundled as
 * they deploy (HouseFunction: minified, node24, the runtime's AWS SDK), then for each function
 * prints the size of its `index.js` and its module init time, the median of fresh Node.js 24
 * processes (the `node` package's binary when the machine's is older) that load the bundle with
 * the function's environment from the template (references replaced by placeholders). The SDK is
 * resolved from this repository's node_modules, as Lambda resolves it from /var/runtime/node_modules.
 * The baseline, measured in the same run, is a function that only loads the runtime's S3 client:
 * the least a function of this kit that touches S3 loads.
 *
 *   npx tsx bench/bundles.ts [--runs 7]
 */
import { App } from 'aws-cdk-lib';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { exampleConfig } from '../config/example';
import { loadConfig } from '../lib/config/config';
import { buildApp } from '../lib/app';
import { HOUSE_BUNDLING } from '../lib/constructs/house-function';

const runsIndex = process.argv.indexOf('--runs');
const RUNS = runsIndex >= 0 ? Number(process.argv[runsIndex + 1]) : 7;
const root = resolve(__dirname, '..');
// Lambda runs Node.js 24: its binary from the `node` package when the machine's is older.
const packagedNode = join(root, 'node_modules/node/bin/node');
const NODE = Number(process.versions.node.split('.')[0]) < 24 && existsSync(packagedNode) ? packagedNode : process.execPath;

interface FunctionResource {
  readonly Type: string;
  readonly Properties?: { Environment?: { Variables?: Record<string, unknown> } };
  readonly Metadata?: Record<string, unknown>;
}

/** Median milliseconds to load `bundle` in a fresh process with `env`. */
function initMs(bundle: string, env: Record<string, string>): number | string {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const probe = `const t=process.hrtime.bigint();require(${JSON.stringify(bundle)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
    const result = spawnSync(NODE, ['-e', probe], { env: { PATH: process.env.PATH ?? '', NODE_PATH: join(root, 'node_modules'), AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: 'bench', LAMBDA_TASK_ROOT: resolve(bundle, '..'), ...env }, encoding: 'utf8' });
    if (result.status !== 0) return `fails to load: ${result.stderr.split('\n').find((line) => /^Error/.test(line)) ?? result.stderr.slice(0, 200)}`;
    times.push(Number(result.stdout));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

/** A template value with every reference replaced by a placeholder (so that JSON built with Fn::Join stays JSON). */
function resolved(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(resolved).join(join[0]);
  return 'placeholder';
}

function placeholders(variables: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, resolved(value)]));
}

const out = mkdtempSync(join(tmpdir(), 'backup-kit-bundles-'));
const { config } = loadConfig(exampleConfig);
const app = new App({ outdir: out, context: { 'aws:cdk:enable-asset-metadata': true } });
buildApp(app, config);
const assembly = app.synth();

// Two baselines: for size, the S3 client alone bundled (the least a bundle carrying the SDK could
// be); for init, a function that loads the runtime's S3 client alone, as the functions load it.
const baselineDir = mkdtempSync(join(tmpdir(), 'backup-kit-baseline-'));
writeFileSync(join(baselineDir, 'entry.js'), "const { S3Client } = require('@aws-sdk/client-s3'); exports.handler = async () => new S3Client({}).config.region;\n");
const baselineBuild = (external: string[], name: string) => {
  buildSync({ entryPoints: [join(baselineDir, 'entry.js')], bundle: true, minify: true, platform: 'node', target: 'node24', format: 'cjs', outfile: join(baselineDir, name, 'index.js'), external, nodePaths: [join(root, 'node_modules')], logLevel: 'silent' });
  return join(baselineDir, name, 'index.js');
};
const baselineBytes = statSync(baselineBuild([], 'bundled')).size;
const baselineInit = initMs(baselineBuild([...HOUSE_BUNDLING.externalModules], 'runtime'), {});
console.log(`backup-kit Lambda bundles (${RUNS} fresh Node.js ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()} processes each; init = loading index.js, median)`);
console.log(`size baseline, the S3 client alone bundled: ${(baselineBytes / 1024).toFixed(0)} KB; init baseline, a function that loads the runtime's S3 client alone: ${typeof baselineInit === 'number' ? baselineInit.toFixed(0) : baselineInit} ms\n`);
console.log(`${'function'.padEnd(58)} ${'KB'.padStart(6)} ${'x base'.padStart(7)} ${'init ms'.padStart(8)} ${'x base'.padStart(7)}`);

const seen = new Set<string>();
for (const stack of assembly.stacks) {
  const resources = (stack.template as { Resources?: Record<string, FunctionResource> }).Resources ?? {};
  for (const [id, resource] of Object.entries(resources)) {
    const assetPath = resource.Metadata?.['aws:asset:path'];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof assetPath !== 'string') continue;
    const bundle = join(out, assetPath, 'index.js');
    let bytes: number;
    try {
      bytes = statSync(bundle).size;
    } catch {
      continue; // CDK's own helpers (inline code) are not this kit's bundles
    }
    if (seen.has(assetPath)) continue;
    seen.add(assetPath);
    const init = initMs(bundle, placeholders(resource.Properties?.Environment?.Variables ?? {}));
    const initText = typeof init === 'number' ? init.toFixed(0).padStart(8) + `${(init / (typeof baselineInit === 'number' ? baselineInit : Number.NaN)).toFixed(2)}x`.padStart(8) : `  ${init}`;
    console.log(`${`${stack.stackName}/${id}`.slice(0, 58).padEnd(58)} ${(bytes / 1024).toFixed(0).padStart(6)} ${`${(bytes / baselineBytes).toFixed(2)}x`.padStart(7)} ${initText}`);
  }
}
