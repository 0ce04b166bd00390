import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { findNestedResources } from '../support/nested';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig } from '../../lib/config/config';
import { DEFAULT_INSTANCE_SCRIPTS_DIR } from '../../lib/constructs/instance-command-document';
import { RESTORE_SCRIPT_FILES } from '../../lib/constructs/restore-command-document';
import { buildTestApp } from '../foundation/app-fixture';
import { MotoServer } from '../support/moto';
import { removeDir, scratchDir } from '../support/processes';
import { backupScriptEnv, backupWithScript, markVerified, parseScriptRun } from '../support/restore-fixtures';

/** The restore jobs in the synthesized template: document, functions, schedules, alarms, IAM; and the document's step run for real. */

const RDS_DRILLS = {
  rds: { instances: [{ identifier: 'orders-db' }] },
  restore: {
    safetyTier: 'predeploy',
    targets: {
      'orders-db': { user: 'restore', password: { ssmParameter: '/orders/restore-password' }, probes: ['SELECT 1'], onto: { tag: { key: 'backup-kit:restore-into', value: 'orders-db' } } },
      'repairs-media': { onto: { instanceIds: ['i-0dddddddddddddddd'] } },
    },
    servers: { 'rs-systems': ['repairs-media', 'orders-db'] },
    drills: { schedule: 'cron(0 5 1 * ? *)', alarmAfterDays: 35, rds: [{ identifier: 'orders-db', instanceClass: 'db.t4g.micro' }], rebuilds: [{ server: 'rs-systems', onto: 'i-0dddddddddddddddd' }] },
  },
};

const { app, stacks } = buildTestApp(RDS_DRILLS as never, { nag: true, instanceScriptsDir: DEFAULT_INSTANCE_SCRIPTS_DIR });
const template = Template.fromStack(stacks.jobs);
type Resource = { Properties: Record<string, unknown> };

function documentContent(): { parameters: Record<string, { allowedPattern: string }>; mainSteps: { inputs: { runCommand: string[] } }[] } {
  const documents = Object.values(template.findResources('AWS::SSM::Document')) as Resource[];
  const restore = documents.find((document) => String(document.Properties.Name).endsWith('-InstanceRestore'));
  return restore?.Properties.Content as never;
}

function policyOf(idPart: string): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) => id.includes(idPart));
  return policies.flatMap(([, policy]) => (policy as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument.Statement);
}

const actions = (statements: { Action: string | string[] }[]) => statements.flatMap((statement) => [statement.Action].flat());

describe('restore jobs template', () => {
  it('passes cdk-nag on the whole app, with the RDS drills', () => {
    const errors = Annotations.fromStack(stacks.jobs).findError('*', Match.stringLikeRegexp('AwsSolutions-'));
    expect(errors.map((error) => `${error.id}: ${String(error.entry.data)}`)).toEqual([]);
    expect(app).toBeDefined();
  });

  it('has the restore document with an allowedPattern on every parameter and the scripts embedded with their sha256', () => {
    const content = documentContent();
    expect(Object.keys(content.parameters).length).toBeGreaterThanOrEqual(28);
    // A value is interpolated inside single quotes: no pattern may admit a quote, a backslash, a newline or a brace.
    for (const [name, parameter] of Object.entries(content.parameters)) {
      const pattern = new RegExp(parameter.allowedPattern);
      for (const hostile of ["a'b", 'a\\b', 'a\nb', '/x/{{ key }}', "x'; reboot; '"]) {
        expect(pattern.test(hostile), `${name} admits ${JSON.stringify(hostile)}`).toBe(false);
      }
    }
    const lines = content.mainSteps[0]?.inputs.runCommand ?? [];
    // The lines `npm run scripts:sha256` prints, one per embedded script.
    const listed = spawnSync(process.execPath, [join('node_modules/tsx/dist/cli.mjs'), 'scripts/embedded-sha256.ts'], { encoding: 'utf8' });
    expect(listed.stderr).toBe('');
    const printed = listed.stdout.trim().split('\n');
    expect(printed.map((line) => line.split('  ')[1])).toEqual([...RESTORE_SCRIPT_FILES]);
    for (const line of printed) expect(lines).toContain(line);
    expect(lines.at(-1)).toBe('bash "$work_dir/restore.sh"');
  });

  it('has the console restore function with test events, and the result function on the document status events', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Restores an EC2 target'),
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'restore', RESTORE_DOCUMENT_NAME: 'BackupKit-backup-kit-InstanceRestore' }) },
      // longer than the minute a restore onto another instance may wait for the preflight there
      Timeout: 180,
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.ssm'], 'detail-type': ['EC2 Command Invocation Status-change Notification'], detail: { 'document-name': ['BackupKit-backup-kit-InstanceRestore'] } },
    });
    const schemas = JSON.stringify(template.findResources('AWS::EventSchemas::Schema'));
    expect(schemas).toContain('dry run replace orders-db');
    // AND a dry run onto another instance for the targets that allow one
    const examples = Object.values(template.findResources('AWS::EventSchemas::Schema')).flatMap((schema) => {
      const content = (schema as Resource).Properties.Content;
      return typeof content === 'string' ? Object.entries((JSON.parse(content) as { components: { examples: Record<string, { value: unknown }> } }).components.examples) : [];
    });
    expect(Object.fromEntries(examples.filter(([name]) => name.startsWith('dry run onto')))).toEqual({
      'dry run onto i-0dddddddddddddddd repairs-media': { value: { target: 'repairs-media', onto: 'i-0dddddddddddddddd', mode: 'replace', dryRun: true } },
      'dry run onto (set onto) orders-db': { value: { target: 'orders-db', onto: 'i-00000000000000000', mode: 'replace', dryRun: true } },
    });
    // AND a dry-run rebuild of each server, onto an instance all its targets allow by ID or tag
    expect(Object.fromEntries(examples.filter(([name]) => name.startsWith('dry run rebuild')))).toEqual({
      'dry run rebuild rs-systems onto i-0dddddddddddddddd': { value: { rebuild: 'rs-systems', onto: 'i-0dddddddddddddddd', mode: 'replace', dryRun: true } },
    });
    // AND the functions know the servers
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'restore', RESTORE_SERVERS: JSON.stringify({ 'rs-systems': ['repairs-media', 'orders-db'] }) }) },
    });
  });

  it('schedules each rebuild drill on the drill schedule: the restore function with a scratch rebuild drill event; a failed invocation goes to the dead-letter queue', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 1 * ? *)',
      Target: Match.objectLike({
        Input: JSON.stringify({ rebuild: 'rs-systems', onto: 'i-0dddddddddddddddd', mode: 'scratch', drill: true, requestedBy: 'monthly rebuild drill' }),
        DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
      }),
    });
    const restoreFunction = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, resource]) => JSON.stringify(resource).includes('"POWERTOOLS_SERVICE_NAME":"restore"') && JSON.stringify(resource).includes('RESTORE_SERVERS'));
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: restoreFunction?.[0] },
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('schedules the drills monthly in the config time zone, and the report daily, with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 1 * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({ Input: JSON.stringify({ action: 'drill' }), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }), DeadLetterConfig: Match.anyValue() }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(30 6 * * ? *)', Target: Match.objectLike({ Input: JSON.stringify({ action: 'report' }) }) });
  });

  it('one alarm over every drilled target when the largest days since a successful drill pass 35, missing data breaching; the drill function knows the limit to name late targets', () => {
    // One over every drilled target (each AWS Backup resource's restore tests have their own, by Target).
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'DaysSinceLastSuccessfulDrill', Dimensions: [{ Name: 'service', Value: 'drill' }] }, 1);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DaysSinceLastSuccessfulDrill',
      Namespace: 'BackupKit',
      // The series across all targets: service alone, which the daily report publishes besides one per target.
      Dimensions: [{ Name: 'service', Value: 'drill' }],
      Threshold: 35,
      ComparisonOperator: 'GreaterThanThreshold',
      Period: 86400,
      EvaluationPeriods: 1,
      TreatMissingData: 'breaching',
      AlarmActions: Match.anyValue(),
      AlarmDescription: Match.stringLikeRegexp("'backup-kit restore drill overdue' names each target"),
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ DRILL_ALARM_AFTER_DAYS: '35' }) } });
  });

  it('restore function: reads only the configured tiers\' prefixes, sends only the restore document, cannot write or delete backups (it writes rebuild records only)', () => {
    const statements = policyOf('RestoreJobsRestoreRole');
    const all = actions(statements);
    expect(all).toContain('ssm:SendCommand');
    expect(all.filter((action) => /^s3:Delete/.test(action))).toEqual([]);
    const writes = statements.filter((statement) => [statement.Action].flat().some((action) => /^s3:Put/.test(action)));
    expect(writes.map((statement) => [statement.Action].flat())).toEqual([['s3:PutObject']]);
    expect(JSON.stringify(writes[0]?.Resource)).toMatch(/\/rebuilds\/\*"/);
    // the backups, manifests and verdicts of the configured tiers, by version: a pattern per tier, none per target
    const read = statements.find((statement) => [statement.Action].flat().includes('s3:GetObject'));
    expect([read?.Action].flat()).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
    const readPaths = ([read?.Resource].flat() as { 'Fn::Join': [string, unknown[]] }[]).map((resource) => String(resource['Fn::Join'][1].at(-1))).sort();
    expect(readPaths).toEqual(['daily', 'manual', 'monthly', 'predeploy', 'weekly'].flatMap((tier) => [`/${tier}/*`, `/verdicts/${tier}/*`]).sort());
    const list = statements.find((statement) => [statement.Action].flat().includes('s3:ListBucketVersions'));
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': expect.arrayContaining(['daily/*', 'verdicts/daily/*']) } });
    expect(JSON.stringify(statements.filter((statement) => JSON.stringify(statement.Action).includes('s3:')))).not.toContain('orders-db');
    const send = statements.filter((statement) => statement.Action === 'ssm:SendCommand');
    expect(JSON.stringify(send)).toContain('document/BackupKit-backup-kit-InstanceRestore');
    expect(JSON.stringify(send)).toContain('ssm:resourceTag/backup-kit:role');
  });

  it('drill function: may delete only tagged <source>-drill-* instances and write only drills/ records', () => {
    const statements = policyOf('RestoreJobsDrillRole');
    const deletes = statements.filter((statement) => [statement.Action].flat().includes('rds:DeleteDBInstance'));
    expect(deletes).toHaveLength(1);
    expect(JSON.stringify(deletes[0]?.Resource)).toContain(':db:orders-db-drill-*');
    expect(deletes[0]?.Condition).toEqual({ StringLike: { 'rds:db-tag/backup-kit:drill-of': '*' } });
    const writes = statements.filter((statement) => [statement.Action].flat().includes('s3:PutObject'));
    expect(JSON.stringify(writes.map((statement) => statement.Resource))).toMatch(/\/drills\/\*/);
    expect(JSON.stringify(writes.map((statement) => statement.Resource))).not.toMatch(/daily|weekly|monthly/);
    expect(actions(statements)).not.toContain('rds:ModifyDBInstance');
  });

  it('instance restore policy: read own backups, write safety backups in the safety tier only, restore password', () => {
    const policies = findNestedResources(stacks.jobs, 'AWS::IAM::ManagedPolicy', { Properties: { ManagedPolicyName: 'backup-kit-restore-orders-db' } });
    const statements = (Object.values(policies)[0] as { Properties: { PolicyDocument: { Statement: { Sid: string; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement;
    const bySid = Object.fromEntries(statements.map((statement) => [statement.Sid, statement]));
    expect(JSON.stringify(bySid.WriteSafetyBackups?.Resource)).toMatch(/\/predeploy\/orders-db\/\*/);
    expect(JSON.stringify(bySid.ReadOwnBackups?.Resource)).toMatch(/\/daily\/orders-db\/\*/);
    expect(JSON.stringify(bySid.ReadOwnPasswordParameter?.Resource)).toContain('parameter/orders/restore-password');
    expect(JSON.stringify(statements)).not.toMatch(/s3:DeleteObject|s3:BypassGovernanceRetention/);
  });
});

describe('restore config', () => {
  it('refuses settings for a target that does not exist, probes for files, a user without password', () => {
    expect(() => loadConfig({ ...exampleConfig, restore: { targets: { nope: {} } } })).toThrow(/restore\.targets\.nope: 'nope' is not a configured target/);
    expect(() => loadConfig({ ...exampleConfig, restore: { targets: { 'repairs-media': { probes: ['SELECT 1'] } } } })).toThrow(/restore\.targets\.repairs-media\.probes: target 'repairs-media' is files/);
    expect(() => loadConfig({ ...exampleConfig, restore: { targets: { 'orders-db': { user: 'restore' } } } })).toThrow(/restore\.targets\.orders-db\.password: user and password go together/);
  });

  it('refuses an RDS drill of an instance not allowlisted, and a tier named drills', () => {
    expect(() => loadConfig({ ...exampleConfig, restore: { drills: { rds: [{ identifier: 'other-db' }] } } })).toThrow(/restore\.drills\.rds\.0\.identifier: 'other-db' is not in rds\.instances/);
    expect(() => loadConfig({ ...exampleConfig, tiers: { daily: { retentionDays: 30 }, drills: { retentionDays: 30 }, predeploy: { retentionDays: 7 } } })).toThrow(/tiers\.drills: the prefix 'drills\/'/);
  });

  it('warns when the alarm would fire before the next monthly drill', () => {
    const { warnings } = loadConfig({ ...exampleConfig, restore: { drills: { alarmAfterDays: 20 } } });
    expect(warnings).toContainEqual(expect.stringMatching(/restore\.drills\.alarmAfterDays: 20 days is shorter than the gap between two monthly drills/));
  });
});

describe('the restore document step, run for real', () => {
  let moto: MotoServer;
  let work: string;
  let keyArn: string;
  beforeAll(async () => {
    moto = await MotoServer.start();
    ({ keyArn } = await moto.createBackupBucket('doc-run-backups'));
    work = scratchDir('restore-doc');
  });
  afterAll(async () => {
    await moto?.stop();
    removeDir(work);
  });

  it('unpacks and checks the scripts, exports the parameters, and restores a file target in scratch mode', async () => {
    // GIVEN a directory target with a verified backup taken by backup.sh
    const live = join(work, 'media');
    mkdirSync(live);
    writeFileSync(join(live, 'photo.jpg'), 'jpeg bytes');
    const env = backupScriptEnv(moto, keyArn, { BK_TARGET: 'media', BK_KIND: 'files', BK_BUCKET: 'doc-run-backups', BK_PATH: live });
    const { key } = backupWithScript(env);
    await markVerified(moto.s3(), 'doc-run-backups', key, true);
    // WHEN the document's command text runs with its parameters filled in, as the SSM agent does
    const values: Record<string, string> = {
      target: 'media', kind: 'files', bucket: 'doc-run-backups', kmsKeyId: keyArn, region: 'eu-west-1', path: live, mode: 'scratch',
      key, tiers: 'daily', scratchRoot: join(work, 'restores'), scratchPath: join(work, 'restores', 'media-copy'), safetyTier: 'predeploy', safetyRetentionDays: '7', drill: '0', workDir: work,
    };
    const content = documentContent();
    const text = (content.mainSteps[0]?.inputs.runCommand ?? [])
      .join('\n')
      .replace(/\{\{ (\w+) \}\}/g, (_, name: string) => values[name] ?? '');
    const run = spawnSync('bash', ['-c', text], { env: moto.env({ AWS_EC2_METADATA_DISABLED: 'true' }), encoding: 'utf8' });
    const result = parseScriptRun(run.status, run.signal, run.stdout, run.stderr);
    // THEN the scratch copy is there and the result names it
    expect(result.status, result.stderr).toBe(0);
    expect(result.result).toMatchObject({ key, restoredTo: join(work, 'restores', 'media-copy') });
    expect(readFileSync(join(work, 'restores', 'media-copy', 'photo.jpg'), 'utf8')).toBe('jpeg bytes');
  });
});
