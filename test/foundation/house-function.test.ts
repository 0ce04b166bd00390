import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { HOUSE_BUNDLING, HouseFunction, type HouseFunctionProps } from '../../lib/constructs/house-function';
import { houseEnvironment } from '../../lambda/shared/env';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';

const entry = join(__dirname, 'fixtures', 'handler.ts');

function synth(props: Partial<HouseFunctionProps> = {}): { template: Template; fn: HouseFunction } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  const logKey = new kms.Key(stack, 'LogKey');
  const fn = new HouseFunction(stack, 'Job', { entry, description: 'does the job', logKey, ...props });
  return { template: Template.fromStack(stack), fn };
}

describe('HouseFunction defaults', () => {
  it('GIVEN no options THEN latest Node.js runtime on ARM64 with 256 MB and a 1-minute timeout', () => {
    synth().template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 60,
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: Match.stringLikeRegexp('^JobLogs') } },
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'Job',
          POWERTOOLS_METRICS_NAMESPACE: 'BackupKit',
        },
      },
    });
  });

  it('THEN an explicit KMS-encrypted log group with one-year retention is retained', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365, KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LogKey'), 'Arn'] } });
    template.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it('THEN the role may write only to its own log group and has no managed policies', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [{ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^JobLogs'), 'Arn'] } }],
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it("WHEN bundled THEN the output is minified, has a source map, and requires the runtime's SDK instead of carrying it", () => {
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'house-fn-')) });
    const stack = new Stack(app, 'Bundled', { env: { region: 'eu-west-1' } });
    new HouseFunction(stack, 'Job', { entry, description: 'does the job', logKey: new kms.Key(stack, 'LogKey') });
    const assembly = app.synth();
    const assetDir = readdirSync(assembly.directory).find((name) => name.startsWith('asset.'));
    expect(assetDir).toBeDefined();
    const code = readFileSync(join(assembly.directory, assetDir as string, 'index.js'), 'utf8');
    expect(existsSync(join(assembly.directory, assetDir as string, 'index.js.map'))).toBe(true);
    expect(code).toMatch(/require\(["']@aws-sdk\/client-sts["']\)/);
    // The SDK's own code is not in it: the client class is defined by the runtime's package.
    expect(code).not.toMatch(/class \w+ extends \w+\{[^}]*sts/i);
    expect(code.length).toBeLessThan(200_000);
    // Minified: one long line of code.
    expect(code.split('\n').filter((line) => line.length > 0 && !line.startsWith('//#')).length).toBeLessThan(5);
  });

  it('GIVEN extra files WHEN bundled THEN they lie beside the bundle, and two syntheses give the same asset', () => {
    const extra = join(mkdtempSync(join(tmpdir(), 'house-fn-extra-')), 'engine.wasm');
    writeFileSync(extra, 'wasm bytes');
    const assetsOf = () => {
      const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'house-fn-')) });
      const stack = new Stack(app, 'Bundled', { env: { region: 'eu-west-1' } });
      new HouseFunction(stack, 'Job', { entry, description: 'does the job', logKey: new kms.Key(stack, 'LogKey'), extraFiles: [{ from: extra, to: 'sql-wasm.wasm' }] });
      const assembly = app.synth();
      const assetDir = readdirSync(assembly.directory).find((name) => name.startsWith('asset.')) ?? '';
      return { assetDir, files: readdirSync(join(assembly.directory, assetDir)).sort(), wasm: readFileSync(join(assembly.directory, assetDir, 'sql-wasm.wasm'), 'utf8') };
    };
    const first = assetsOf();
    expect(first.files).toEqual(['index.js', 'index.js.map', 'sql-wasm.wasm']);
    expect(first.wasm).toBe('wasm bytes');
    // The source map's paths are relative to the assembly, not to a temporary directory.
    expect(assetsOf().assetDir).toBe(first.assetDir);
  });

  /** Bundles allowed past 400 KB, each with its reason and its own ceiling. */
  const LARGE_BUNDLES: Readonly<Record<string, { readonly kb: number; readonly why: string }>> = {
    'lambda/database-probe/handler.ts': { kb: 1400, why: "the PostgreSQL and MySQL drivers (mysql2's character set tables alone are 480 KB) and RDS's certificate authorities; it starts once a month per probed database" },
  };

  it('GIVEN every function of the kit WHEN bundled as HouseFunction bundles THEN each is under 400 KB, or under its own stated ceiling', () => {
    const root = resolve(__dirname, '../..');
    const entries = [
      ...readdirSync(join(root, 'lambda'))
        .map((job) => join(root, 'lambda', job, 'handler.ts'))
        .filter((file) => existsSync(file)),
      join(root, 'lambda/verify/planner-handler.ts'),
      join(root, 'lambda/verify/worker-handler.ts'),
    ];
    expect(entries.length).toBeGreaterThan(8);
    const sizes = entries.map((file) => {
      const result = buildSync({
        entryPoints: [file],
        bundle: true,
        write: false,
        platform: 'node',
        format: 'cjs',
        minify: HOUSE_BUNDLING.minify,
        target: HOUSE_BUNDLING.target,
        external: [...HOUSE_BUNDLING.externalModules],
        logLevel: 'silent',
      });
      return { file: file.slice(root.length + 1), kb: Math.round((result.outputFiles[0]?.contents.length ?? 0) / 1024) };
    });
    expect(sizes.filter((size) => size.kb > (LARGE_BUNDLES[size.file]?.kb ?? 400))).toEqual([]);
    // An exception no longer needed goes.
    for (const file of Object.keys(LARGE_BUNDLES)) expect(sizes.find((size) => size.file === file)?.kb, file).toBeGreaterThan(400);
  });
});

describe('HouseFunction with settings too large for the environment', () => {
  it('GIVEN an environment over the budget THEN its largest plain values move into the bundle, named in BUNDLED_SETTINGS, and the function reads them back', () => {
    // GIVEN two large settings and a small one
    const targets = JSON.stringify(Array.from({ length: 200 }, (_, index) => ({ name: `target-${index}`, path: `/srv/app-${index}/data` })));
    const servers = 'x'.repeat(900);
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'house-fn-')) });
    const stack = new Stack(app, 'Bundled', { env: { region: 'eu-west-1' } });
    const logKey = new kms.Key(stack, 'LogKey');
    new HouseFunction(stack, 'Job', { entry, description: 'does the job', logKey, environment: { TARGETS: targets, SERVERS: servers, BUCKET: 'b', KEY_ARN: logKey.keyArn } });
    const assembly = app.synth();
    // THEN the environment keeps the small ones and the tokens, and names what moved
    const variables = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(stack.node.findChild('Job').node.findChild('Function').node.defaultChild as CfnFunction)]
      .Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).toMatchObject({ BUCKET: 'b', SERVERS: servers, BUNDLED_SETTINGS: 'TARGETS', KEY_ARN: expect.anything() });
    expect(variables.TARGETS).toBeUndefined();
    // AND the bundle carries the moved value, which the function's environment reader returns
    const assetDir = join(assembly.directory, readdirSync(assembly.directory).find((name) => name.startsWith('asset.')) as string);
    const environment = houseEnvironment({ BUNDLED_SETTINGS: 'TARGETS', BUCKET: 'b' }, assetDir);
    expect(environment).toMatchObject({ TARGETS: targets, BUCKET: 'b' });
  });

  it('GIVEN an environment over the budget in tokens alone THEN synth fails naming the function', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
    const logKey = new kms.Key(stack, 'LogKey');
    const environment = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`KEY_${index}`, logKey.keyArn]));
    expect(() => new HouseFunction(stack, 'Job', { entry, description: 'does the job', logKey, environment })).toThrow(/HouseFunction Job environment: \d+ bytes, and nothing left large enough to move into the bundle/);
  });

  it('GIVEN a bundle that lacks a setting its environment names THEN reading fails naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'house-env-'));
    expect(() => houseEnvironment({ BUNDLED_SETTINGS: 'TARGETS' }, dir)).toThrow(/BUNDLED_SETTINGS names TARGETS, but .*bundled-settings\.json cannot be read/);
    writeFileSync(join(dir, 'bundled-settings.json'), JSON.stringify({ OTHER: 'x' }));
    expect(() => houseEnvironment({ BUNDLED_SETTINGS: 'TARGETS' }, dir)).toThrow(/holds no setting TARGETS/);
    const plain = { BUCKET: 'b' };
    expect(houseEnvironment(plain, dir)).toBe(plain);
  });
});

describe('HouseFunction merges caller options', () => {
  it('GIVEN extra environment THEN the defaults stay beside it', () => {
    synth({ environment: { BUCKET: 'b' }, serviceName: 'verify' }).template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: 'verify', POWERTOOLS_METRICS_NAMESPACE: 'BackupKit', BUCKET: 'b' },
      },
    });
  });

  it('GIVEN timeout, memory and retention THEN they override the defaults', () => {
    const { template } = synth({ timeout: Duration.minutes(15), memorySize: 1024, logRetention: logs.RetentionDays.THREE_MONTHS });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 900, MemorySize: 1024, Architectures: ['arm64'] });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  it('GIVEN a timeout over 15 minutes THEN it throws naming the prop', () => {
    expect(() => synth({ timeout: Duration.minutes(16) })).toThrow(/HouseFunction Job timeout: Lambda allows at most 15 minutes \(got 960 s\)/);
  });

  it('GIVEN an empty description THEN it throws naming the prop', () => {
    expect(() => synth({ description: '  ' })).toThrow(/HouseFunction Job description: must say what the function does/);
  });
});
