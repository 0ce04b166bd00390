/**
 * Benchmark of the Lambda bundles: synthesizes the example config with the functions bundled as
 * they deploy (HouseFunction: minified, node24, SDK included), then for each function prints the
 * size of its `index.js` and its module init time, the median of fresh Node.js processes that
 * load the bundle with the function's environment from the template (references replaced by
 * placeholders). The baseline, measured in the same run, is a bundle of the AWS SDK's S3 client
 * alone, built the same way: the smallest bundle a function of this kit could be.
 *
 *   npx tsx bench/bundles.ts [--runs 7]
 */
import { App } from 'aws-cdk-lib';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { exampleConfig } from '../config/example';
import { loadConfig } from '../lib/config/config';
import { buildApp } from '../lib/app';

const runsIndex = process.argv.indexOf('--runs');
const RUNS = runsIndex >= 0 ? Number(process.argv[runsIndex + 1]) : 7;
const root = resolve(__dirname, '..');

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
    const result = spawnSync(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: 'bench', LAMBDA_TASK_ROOT: resolve(bundle, '..'), ...env }, encoding: 'utf8' });
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

// The baseline: the S3 client alone, bundled as the functions are.
const baselineDir = mkdtempSync(join(tmpdir(), 'backup-kit-baseline-'));
writeFileSync(join(baselineDir, 'entry.js'), "const { S3Client } = require('@aws-sdk/client-s3'); exports.handler = async () => new S3Client({}).config.region;\n");
buildSync({ entryPoints: [join(baselineDir, 'entry.js')], bundle: true, minify: true, platform: 'node', target: 'node24', format: 'cjs', outfile: join(baselineDir, 'index.js'), nodePaths: [join(root, 'node_modules')], logLevel: 'silent' });
const baselineBytes = statSync(join(baselineDir, 'index.js')).size;
const baselineInit = initMs(join(baselineDir, 'index.js'), {});
console.log(`backup-kit Lambda bundles (${RUNS} fresh processes each; init = loading index.js, median)`);
console.log(`baseline, the S3 client alone: ${(baselineBytes / 1024).toFixed(0)} KB, init ${typeof baselineInit === 'number' ? baselineInit.toFixed(0) : baselineInit} ms\n`);
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
