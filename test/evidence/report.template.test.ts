import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../foundation/app-fixture';
import { TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/** The evidence report as deployed: its schedule, its settings, and what its role may read and write. */

const ACCOUNT = '111122223333';

describe('the evidence report, deployed', () => {
  const { stacks } = buildTestApp({ account: ACCOUNT });
  const jobs = Template.fromStack(stacks.jobs);
  const resolver = new TemplateResolver([stacks.storage, stacks.jobs]);
  const [, fn] = resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function').find(([, candidate]) => JSON.stringify(candidate.Environment ?? {}).includes('EVIDENCE_SETTINGS')) ?? [];
  const variables = (resolver.resolve((fn?.Environment ?? null) as never, stacks.jobs) as { Variables: Record<string, string> }).Variables;
  const roleId = String((fn?.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
  const policies = resolver
    .resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
    .filter(([, policy]) => JSON.stringify(policy.Roles).includes(roleId))
    .map(([, policy]) => resolver.policy(policy.PolicyDocument ?? null, stacks.jobs) as PolicyDocument);
  const bucket = String(variables.EVIDENCE_BUCKET);
  const as = (action: string, resource: string) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/evidence`, identityPolicies: policies, action, resource });

  it('GIVEN the example THEN the report of the month before is made on the 1st at 06:00 in the config time zone, dead-lettered', () => {
    jobs.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 1 * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({ Input: '{}', DeadLetterConfig: Match.anyValue() }),
    });
    const settings = JSON.parse(String(variables.EVIDENCE_SETTINGS)) as { prefix: string; targets: { name: string; objectives: unknown; tiers: { tier: string; schedule?: string }[]; drilled: boolean }[] };
    expect(settings.prefix).toBe('backup-kit');
    expect(settings.targets.find((target) => target.name === 'orders-db')).toMatchObject({ objectives: { rpoHours: 24, rtoHours: 2 }, drilled: true, tiers: expect.arrayContaining([{ tier: 'daily', schedule: 'cron(0 2 * * ? *)' }]) });
  });

  it('GIVEN its role THEN it reads backups\' manifests and verdicts, writes only under reports/, deletes nothing, and reads only its own alarms', async () => {
    expect(await as('s3:GetObject', `arn:aws:s3:::${bucket}/daily/orders-db/2026/11/01/orders-db_20261101T020000Z.pgdump.gz.manifest.json`)).toBe('Allowed');
    expect(await as('s3:GetObject', `arn:aws:s3:::${bucket}/verdicts/daily/orders-db/x.json`)).toBe('Allowed');
    expect(await as('s3:PutObject', `arn:aws:s3:::${bucket}/reports/2026-11/evidence.html`)).toBe('Allowed');
    for (const key of ['verdicts/daily/orders-db/x.json', 'drills/orders-db/last-success.json', 'daily/orders-db/2026/11/01/x.pgdump.gz']) {
      expect(await as('s3:PutObject', `arn:aws:s3:::${bucket}/${key}`), key).toBe('ImplicitlyDenied');
    }
    expect(await as('s3:DeleteObject', `arn:aws:s3:::${bucket}/reports/2026-11/evidence.html`)).toBe('ImplicitlyDenied');
    expect(await as('s3:PutBucketPolicy', `arn:aws:s3:::${bucket}`)).toBe('ImplicitlyDenied');
    expect(await as('cloudwatch:DescribeAlarms', `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:backup-kit-jobs-SomeAlarm`)).toBe('Allowed');
    expect(await as('cloudwatch:DescribeAlarms', `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:payments-alarm`)).toBe('ImplicitlyDenied');
    expect(await as('cloudwatch:GetMetricData', '*')).toBe('Allowed');
    expect(await as('cloudwatch:PutMetricAlarm', `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:backup-kit-x`)).toBe('ImplicitlyDenied');
  });
});
