import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app';
import { loadConfig } from '../../lib/config/config';
import { FIXTURE_INSTANCE_SCRIPTS_DIR, buildTestApp } from './app-fixture';

const root = resolve(__dirname, '../..');

/** bin/app.ts as `cdk synth` runs it: cdk.json's flags in its context, CloudFormation's template validation on. */
function runApp(context: Record<string, unknown>): { status: number | null; stderr: string; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'backup-kit-synth-'));
  const flags = (JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
  // The test run turns the validation off for its own apps (vitest.config.mts): not for this one.
  const { CDK_VALIDATION: _off, ...env } = process.env;
  const result = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'bin/app.ts')], {
    cwd: root,
    env: { ...env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ ...flags, ...context, 'aws:cdk:bundling-stacks': [] }) },
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr, outdir };
}

describe('the whole app under cdk-nag', () => {
  // The example config's nag-clean synth is proven by bin/app.ts below: it runs the AwsSolutions
  // pack over the whole app, and an unacknowledged finding fails its synth as it fails this one.
  it('GIVEN a construct with an unacknowledged finding THEN synth fails naming the rule', () => {
    // The smallest app the config allows: the pack is the app's, whatever the app holds.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stacks = buildApp(app, loadConfig({ prefix: 'kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1' }).config, { warnings: [], nag: true, instanceScriptsDir: FIXTURE_INSTANCE_SCRIPTS_DIR });
    new s3.Bucket(stacks.jobs, 'CarelessBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions/);
  });
});

describe('bin/app.ts', () => {
  it('GIVEN no config selected THEN it synthesizes one template per region from the example, with no unacknowledged cdk-nag finding and no template CloudFormation would refuse', () => {
    const { status, stderr, outdir } = runApp({});
    expect(stderr).not.toMatch(/Invalid backup-kit config/);
    expect(status).toBe(0);
    const templates = readdirSync(outdir).filter((name) => name.endsWith('.template.json'));
    expect(templates).toEqual(expect.arrayContaining(['backup-kit-storage.template.json', 'backup-kit-storage-dr.template.json', 'backup-kit-jobs.template.json']));
    // AND it prints what the deployment costs before any backup is stored, item by item
    expect(stderr).toMatch(/backup-kit cost estimate \(prices: .*\)[\s\S]*fixed, every month, before any backup is stored: \$\d+\.\d\d[\s\S]*CloudWatch alarm metrics: \d+ x \$0\.10/);
  });

  it('GIVEN a config file whose DR region equals its primary THEN synth exits non-zero naming both fields', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'backup-kit-config-')), 'same-region.json');
    writeFileSync(file, JSON.stringify({ prefix: 'acme', primaryRegion: 'us-east-1', drRegion: 'us-east-1' }));
    const { status, stderr } = runApp({ config: file });
    expect(status).toBe(1);
    expect(stderr).toMatch(/drRegion: must differ from primaryRegion \(both are 'us-east-1'\)/);
  });

  it('GIVEN a config name with no file THEN synth fails saying where it looked', () => {
    const { status, stderr } = runApp({ config: 'nonexistent-stage' });
    expect(status).not.toBe(0);
    expect(stderr).toMatch(/no config file for 'nonexistent-stage' \(looked for .*config\/nonexistent-stage\.json/);
  });
});

describe('stack layout', () => {
  it('GIVEN the example THEN storage stacks sit in their regions and are termination-protected', () => {
    const { stacks } = buildTestApp();
    expect(stacks.storage.region).toBe('eu-west-1');
    expect(stacks.replicaStorage.region).toBe('eu-central-1');
    expect(stacks.jobs.region).toBe('eu-west-1');
    expect(stacks.storage.terminationProtection).toBe(true);
    expect(stacks.replicaStorage.terminationProtection).toBe(true);
    expect(Stack.of(stacks.jobs).account).toMatch(/Token|AccountId/);
  });
});
