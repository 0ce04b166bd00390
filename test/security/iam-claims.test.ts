import { App, Duration, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupInstancePolicy } from '../../lib/constructs/backup-instance-policy';
import { DEFAULT_TIERS } from '../../lib/config/schema';
import type { BackupKitStacks } from '../../lib/app';
import { buildTestApp } from '../foundation/app-fixture';
import { ACCOUNT, TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/**
 * The claims about who may write, lock and delete what, checked with an IAM evaluator over
 * the synthesized identity and bucket policies (not by reading the JSON).
 */

const { stacks } = buildTestApp({ guard: { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' } });
const resolver = new TemplateResolver([stacks.storage, stacks.replicaStorage, stacks.jobs]);

let bucket: string;
let bucketPolicy: PolicyDocument;

/** The managed policy named `name` in the jobs stack, resolved. */
function managedPolicy(name: string): PolicyDocument {
  const found = resolver.resourcesOf(stacks.jobs, 'AWS::IAM::ManagedPolicy').find(([, properties]) => properties.ManagedPolicyName === name);
  if (!found) throw new Error(`no managed policy ${name}`);
  return resolver.policy(found[1].PolicyDocument ?? null, stacks.jobs);
}

beforeAll(() => {
  const [bucketId] = resolver.resourcesOf(stacks.storage, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
  bucket = String(resolver.resolve({ Ref: bucketId ?? '' }, stacks.storage));
  const policies = resolver.resourcesOf(stacks.storage, 'AWS::S3::BucketPolicy').filter(([, properties]) => resolver.resolve(properties.Bucket ?? null, stacks.storage) === bucket);
  bucketPolicy = resolver.policy(policies[0]?.[1].PolicyDocument ?? null, stacks.storage);
});

const instanceRole = `arn:aws:iam::${ACCOUNT}:role/app-server`;
const object = (key: string) => `arn:aws:s3:::${bucket}/${key}`;
const KEY = 'daily/orders-db/2026/12/01/orders-db_20261201T020000Z.pgdump.gz';

describe('an instance role (the target orders-db)', () => {
  const asInstance = (action: string, key: string, context: Record<string, string | string[]> = {}) =>
    decide({ principal: instanceRole, identityPolicies: [managedPolicy('backup-kit-backup-orders-db')], resourcePolicy: bucketPolicy, action, resource: object(key), context });

  it('may write new objects under its own tier prefixes, each only once (If-None-Match)', async () => {
    const creating = { 's3:ObjectCreationOperation': 'true' };
    expect(await asInstance('s3:PutObject', KEY, { ...creating, 's3:if-none-match': '*' })).toBe('Allowed');
    // the parts of a multipart upload cannot carry the header; its completion must
    expect(await asInstance('s3:PutObject', KEY, { 's3:ObjectCreationOperation': 'false' })).toBe('Allowed');
  });

  it('may not write a new version over an existing backup, manifest or verdict (no If-None-Match)', async () => {
    const creating = { 's3:ObjectCreationOperation': 'true' };
    expect(await asInstance('s3:PutObject', KEY, creating)).toBe('ExplicitlyDenied');
    expect(await asInstance('s3:PutObject', `${KEY}.manifest.json`, creating)).toBe('ExplicitlyDenied');
  });

  it.each([
    ["another target's prefix", 'daily/billing-db/2026/12/01/billing-db_20261201T020000Z.pgdump.gz'],
    ['a verdict of its own backup', `verdicts/${KEY}/20261201T050000.000Z.json`],
    ['a drill record', 'drills/orders-db/last-success.json'],
  ])('may not write %s', async (_what, key) => {
    expect(await asInstance('s3:PutObject', key)).not.toBe('Allowed');
  });

  it("may create its backups locked in its tier's mode for its tier's retention, and never change a lock afterwards", async () => {
    const lock = { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '30', 's3:object-lock-retain-until-date': '2026-12-31T02:00:00Z' };
    expect(await asInstance('s3:PutObject', KEY, lock)).toBe('Allowed');
    expect(await asInstance('s3:PutObjectRetention', KEY, lock)).not.toBe('Allowed');
  });

  it.each([
    ['COMPLIANCE mode on a GOVERNANCE bucket', { 's3:object-lock-mode': 'COMPLIANCE', 's3:object-lock-remaining-retention-days': '30' }],
    ['a century of retention', { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '36500' }],
    ["a day more than the daily tier's 30 days and the margin", { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '32' }],
  ])('may not lock a backup with %s (storage nobody could delete)', async (_what, lock) => {
    expect(await asInstance('s3:PutObject', KEY, lock)).toBe('ExplicitlyDenied');
    expect(await asInstance('s3:PutObjectRetention', KEY, lock)).toBe('ExplicitlyDenied');
  });

  it('may not put a legal hold on a backup', async () => {
    expect(await asInstance('s3:PutObject', KEY, { 's3:object-lock-legal-hold': 'ON' })).toBe('ExplicitlyDenied');
    expect(await asInstance('s3:PutObjectLegalHold', KEY)).not.toBe('Allowed');
  });

  it('may not read backups, its own included: it writes, the verifier reads', async () => {
    expect(await asInstance('s3:GetObject', KEY)).not.toBe('Allowed');
    expect(await asInstance('s3:GetObjectRetention', KEY)).not.toBe('Allowed');
  });
});

describe('any writer, an administrator included', () => {
  const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const asAdministrator = (action: string, key: string, context: Record<string, string | string[]> = {}) =>
    decide({ principal: `arn:aws:iam::${ACCOUNT}:role/admin`, identityPolicies: [administrator], resourcePolicy: bucketPolicy, action, resource: object(key), context });

  it("may not lock a tier's backup longer than that tier keeps it", async () => {
    expect(await asAdministrator('s3:PutObjectRetention', KEY, { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '300' })).toBe('ExplicitlyDenied');
  });

  it('may not lock an object longer than the longest tier, in another mode, or with a legal hold', async () => {
    expect(await asAdministrator('s3:PutObjectRetention', KEY, { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '36500' })).toBe('ExplicitlyDenied');
    expect(await asAdministrator('s3:PutObject', KEY, { 's3:object-lock-mode': 'COMPLIANCE', 's3:object-lock-remaining-retention-days': '10' })).toBe('ExplicitlyDenied');
    expect(await asAdministrator('s3:PutObject', KEY, { 's3:object-lock-legal-hold': 'ON' })).toBe('ExplicitlyDenied');
  });

  it('may still write within the bounds, once (the bounds deny nothing else)', async () => {
    const once = { 's3:ObjectCreationOperation': 'true', 's3:if-none-match': '*' };
    expect(await asAdministrator('s3:PutObject', KEY, { ...once, 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '30' })).toBe('Allowed');
    expect(await asAdministrator('s3:PutObject', `verdicts/${KEY}/20261201T050000.000Z.json`, { ...once, 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-remaining-retention-days': '300' })).toBe('Allowed');
  });

  it('may not write a new version over a backup or a verdict either', async () => {
    expect(await asAdministrator('s3:PutObject', KEY, { 's3:ObjectCreationOperation': 'true' })).toBe('ExplicitlyDenied');
    expect(await asAdministrator('s3:PutObject', `verdicts/${KEY}/20261201T050000.000Z.json`, { 's3:ObjectCreationOperation': 'true' })).toBe('ExplicitlyDenied');
  });
});

describe('a tier in COMPLIANCE mode (monthly), the others in GOVERNANCE', () => {
  const compliance = buildTestApp({
    guard: { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' },
    tiers: { ...DEFAULT_TIERS, monthly: { ...DEFAULT_TIERS.monthly, objectLockMode: 'COMPLIANCE' } },
  }).stacks;
  const tiered = new TemplateResolver([compliance.storage, compliance.replicaStorage, compliance.jobs]);
  const policyOf = (stack: typeof compliance.storage | typeof compliance.replicaStorage): { name: string; policy: PolicyDocument } => {
    const [id] = tiered.resourcesOf(stack, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
    const name = String(tiered.resolve({ Ref: id ?? '' }, stack));
    const [, policy] = tiered.resourcesOf(stack, 'AWS::S3::BucketPolicy').find(([, properties]) => tiered.resolve(properties.Bucket ?? null, stack) === name) ?? [];
    return { name, policy: tiered.policy(policy?.PolicyDocument ?? null, stack) };
  };
  const instancePolicy = () => {
    const found = tiered.resourcesOf(compliance.jobs, 'AWS::IAM::ManagedPolicy').find(([, properties]) => properties.ManagedPolicyName === 'backup-kit-backup-orders-db');
    return tiered.policy(found?.[1].PolicyDocument ?? null, compliance.jobs);
  };
  const MONTHLY = 'monthly/orders-db/2026/12/01/orders-db_20261201T040000Z.pgdump.gz';
  const lock = (mode: string, days: string) => ({ 's3:object-lock-mode': mode, 's3:object-lock-remaining-retention-days': days });

  it('the instance locks monthly backups in COMPLIANCE only, and daily ones in GOVERNANCE only', async () => {
    const { name, policy } = policyOf(compliance.storage);
    const put = (key: string, context: Record<string, string>) =>
      decide({ principal: instanceRole, identityPolicies: [instancePolicy()], resourcePolicy: policy, action: 's3:PutObject', resource: `arn:aws:s3:::${name}/${key}`, context });
    expect(await put(MONTHLY, lock('COMPLIANCE', '365'))).toBe('Allowed');
    expect(await put(MONTHLY, lock('GOVERNANCE', '365'))).toBe('ExplicitlyDenied');
    expect(await put(MONTHLY, lock('COMPLIANCE', '3650'))).toBe('ExplicitlyDenied');
    expect(await put(KEY, lock('GOVERNANCE', '30'))).toBe('Allowed');
    expect(await put(KEY, lock('COMPLIANCE', '30'))).toBe('ExplicitlyDenied');
  });

  it.each([
    ['the backup bucket', () => compliance.storage],
    ['the replica bucket', () => compliance.replicaStorage],
  ] as const)('%s: no writer may put a COMPLIANCE lock outside the monthly tier, nor a GOVERNANCE one inside it', async (_which, stackOf) => {
    const { name, policy } = policyOf(stackOf());
    const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
    const put = (key: string, context: Record<string, string>) =>
      decide({ principal: `arn:aws:iam::${ACCOUNT}:role/admin`, identityPolicies: [administrator], resourcePolicy: policy, action: 's3:PutObjectRetention', resource: `arn:aws:s3:::${name}/${key}`, context });
    expect(await put(MONTHLY, lock('COMPLIANCE', '300'))).toBe('Allowed');
    expect(await put(MONTHLY, lock('GOVERNANCE', '300'))).toBe('ExplicitlyDenied');
    expect(await put(KEY, lock('COMPLIANCE', '10'))).toBe('ExplicitlyDenied');
    expect(await put(`verdicts/${MONTHLY}/20261201T050000.000Z.json`, lock('COMPLIANCE', '10'))).toBe('ExplicitlyDenied');
    expect(await put(`verdicts/${MONTHLY}/20261201T050000.000Z.json`, lock('GOVERNANCE', '10'))).toBe('Allowed');
  });

  it('the trigger sends each tier its own mode', () => {
    const trigger = tiered.resourcesOf(compliance.jobs, 'AWS::Lambda::Function').find(([id]) => id.startsWith('BackupJobsTrigger'));
    const variables = (trigger?.[1].Environment as { Variables: Record<string, string> } | undefined)?.Variables ?? {};
    const tiers = JSON.parse(variables.BACKUP_TIERS ?? '{}') as Record<string, { objectLockMode: string }>;
    expect(Object.fromEntries(Object.entries(tiers).map(([tier, plan]) => [tier, plan.objectLockMode]))).toMatchObject({ daily: 'GOVERNANCE', weekly: 'GOVERNANCE', monthly: 'COMPLIANCE' });
  });
});

describe('the verify worker', () => {
  const worker = () => {
    const found = resolver.resourcesOf(stacks.jobs, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('VerificationWorkerRole'));
    return found.map(([, properties]) => resolver.policy(properties.PolicyDocument ?? null, stacks.jobs));
  };
  const asWorker = (action: string, key: string, context: Record<string, string> = {}) =>
    decide({ principal: `arn:aws:iam::${ACCOUNT}:role/worker`, identityPolicies: worker(), resourcePolicy: bucketPolicy, action, resource: object(key), context });

  it('writes verdicts under verdicts/ only, never a backup or manifest', async () => {
    expect(await asWorker('s3:PutObject', `verdicts/${KEY}/20261201T050000.000Z.json`, { 's3:ObjectCreationOperation': 'true', 's3:if-none-match': '*' })).toBe('Allowed');
    expect(await asWorker('s3:PutObject', `verdicts/${KEY}/20261201T050000.000Z.json`, { 's3:ObjectCreationOperation': 'true' })).toBe('ExplicitlyDenied');
    expect(await asWorker('s3:PutObject', KEY)).not.toBe('Allowed');
    expect(await asWorker('s3:PutObject', `${KEY}.manifest.json`)).not.toBe('Allowed');
    expect(await asWorker('s3:DeleteObjectVersion', KEY)).not.toBe('Allowed');
  });

  it("reads each backup version's lock (HeadObject states it only to a caller allowed GetObjectRetention), and never changes one", async () => {
    expect(await asWorker('s3:GetObjectRetention', KEY)).toBe('Allowed');
    expect(await asWorker('s3:PutObjectRetention', KEY)).not.toBe('Allowed');
    expect(await asWorker('s3:PutObjectLegalHold', KEY)).not.toBe('Allowed');
    expect(await asWorker('s3:BypassGovernanceRetention', KEY)).not.toBe('Allowed');
  });
});

describe('the verify planner', () => {
  const planner = () =>
    resolver.resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('VerificationPlannerRole'))
      .map(([, properties]) => resolver.policy(properties.PolicyDocument ?? null, stacks.jobs));
  const asPlanner = (action: string, key: string, context: Record<string, string> = {}) =>
    decide({ principal: `arn:aws:iam::${ACCOUNT}:role/planner`, identityPolicies: planner(), resourcePolicy: bucketPolicy, action, resource: object(key), context });
  const creating = { 's3:ObjectCreationOperation': 'true', 's3:if-none-match': '*' };

  it('writes the expected-since markers once, and nothing else: no backup, manifest or verdict', async () => {
    expect(await asPlanner('s3:PutObject', 'expected-since/daily/orders-db.json', creating)).toBe('Allowed');
    expect(await asPlanner('s3:PutObject', 'expected-since/daily/orders-db.json', { 's3:ObjectCreationOperation': 'true' })).toBe('ExplicitlyDenied');
    expect(await asPlanner('s3:PutObject', KEY, creating)).not.toBe('Allowed');
    expect(await asPlanner('s3:PutObject', `${KEY}.manifest.json`, creating)).not.toBe('Allowed');
    expect(await asPlanner('s3:PutObject', `verdicts/${KEY}/20261201T050000.000Z.json`, creating)).not.toBe('Allowed');
    expect(await asPlanner('s3:PutObject', 'drills/orders-db/expected-since.json', creating)).not.toBe('Allowed');
  });

  it('a drill marker too can be written only once, by anyone', async () => {
    const anyone = (context: Record<string, string>) =>
      decide({ principal: `arn:aws:iam::${ACCOUNT}:role/admin`, identityPolicies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }], resourcePolicy: bucketPolicy, action: 's3:PutObject', resource: object('drills/orders-db/expected-since.json'), context });
    expect(await anyone({ 's3:ObjectCreationOperation': 'true' })).toBe('ExplicitlyDenied');
    expect(await anyone(creating)).toBe('Allowed');
  });
});

describe('BackupInstancePolicy', () => {
  it('refuses a target in a tier whose lock it was not given (it could not bound the lock)', () => {
    const stack = new Stack(new App(), 'Test');
    const target = { name: 'app', kind: 'files' as const, instances: { instanceIds: ['i-0123456789abcdef0'] }, tiers: ['daily', 'weekly'], path: '/srv', executionTimeoutSeconds: 60, maxConcurrency: '1', maxErrors: '1' };
    const props = {
      target,
      bucket: s3.Bucket.fromBucketName(stack, 'Bucket', 'backups'),
      bucketKey: kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:111122223333:key/abc'),
      commandLogGroup: logs.LogGroup.fromLogGroupName(stack, 'Logs', 'out'),
      managedPolicyName: 'p',
    };
    expect(() => new BackupInstancePolicy(stack, 'Policy', { ...props, tierLocks: { daily: { retention: Duration.days(35) } } })).toThrow(
      "BackupInstancePolicy tierLocks: no lock for tier 'weekly' of target 'app'",
    );
  });
});

describe('the guard: what an account administrator may not do', () => {
  const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const roles = {
    administrator: `arn:aws:iam::${ACCOUNT}:role/admin`,
    breakGlass: `arn:aws:iam::${ACCOUNT}:role/backup-break-glass`,
    deploy: `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`,
  };
  /** The KMS key and its key policy of the bucket in `stack`. */
  function keyOf(stack: typeof stacks.storage | typeof stacks.replicaStorage): { arn: string; policy: PolicyDocument } {
    const [id, properties] = resolver.resourcesOf(stack, 'AWS::KMS::Key')[0] ?? [];
    return { arn: String(resolver.resolve({ 'Fn::GetAtt': [id ?? '', 'Arn'] }, stack)), policy: resolver.policy(properties?.KeyPolicy ?? null, stack) };
  }
  function bucketOf(stack: typeof stacks.storage | typeof stacks.replicaStorage): { name: string; policy: PolicyDocument } {
    const [id] = resolver.resourcesOf(stack, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
    const name = String(resolver.resolve({ Ref: id ?? '' }, stack));
    const [, policy] = resolver.resourcesOf(stack, 'AWS::S3::BucketPolicy').find(([, properties]) => resolver.resolve(properties.Bucket ?? null, stack) === name) ?? [];
    return { name, policy: resolver.policy(policy?.PolicyDocument ?? null, stack) };
  }
  const copies = [
    ['the backup bucket', () => stacks.storage],
    ['the replica bucket', () => stacks.replicaStorage],
  ] as const;

  describe.each(copies)('%s', (_which, stackOf) => {
    it.each([
      ['s3:DeleteObjectVersion', 'object'],
      ['s3:BypassGovernanceRetention', 'object'],
      ['s3:PutBucketPolicy', 'bucket'],
      ['s3:DeleteBucketPolicy', 'bucket'],
      ['s3:PutBucketObjectLockConfiguration', 'bucket'],
      ['s3:PutBucketVersioning', 'bucket'],
      ['s3:PutLifecycleConfiguration', 'bucket'],
      ['s3:PutReplicationConfiguration', 'bucket'],
    ] as const)('%s: refused to an administrator, left to the break-glass role', async (action, on) => {
      const { name, policy } = bucketOf(stackOf());
      const resource = on === 'object' ? `arn:aws:s3:::${name}/${KEY}` : `arn:aws:s3:::${name}`;
      const as = (principal: string) => decide({ principal, identityPolicies: [administrator], resourcePolicy: policy, action, resource });
      expect(await as(roles.administrator)).toBe('ExplicitlyDenied');
      expect(await as(roles.breakGlass)).toBe('Allowed');
    });

    it.each(['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'])(
      '%s on its key: refused to an administrator and the account root, left to the break-glass and deploy roles',
      async (action) => {
        const key = keyOf(stackOf());
        const as = (principal: string) => decide({ principal, identityPolicies: [administrator], resourcePolicy: key.policy, action, resource: key.arn });
        expect(await as(roles.administrator)).toBe('ExplicitlyDenied');
        expect(await decide({ principal: `arn:aws:iam::${ACCOUNT}:root`, identityPolicies: [], resourcePolicy: key.policy, action, resource: key.arn })).toBe('ExplicitlyDenied');
        expect(await as(roles.breakGlass)).toBe('Allowed');
        expect(await as(roles.deploy)).toBe('Allowed');
      },
    );

    it('kms:CreateGrant: refused to an administrator, except grants AWS services make for their resources', async () => {
      const key = keyOf(stackOf());
      const grant = (context: Record<string, string>) =>
        decide({ principal: roles.administrator, identityPolicies: [administrator], resourcePolicy: key.policy, action: 'kms:CreateGrant', resource: key.arn, context });
      expect(await grant({ 'kms:GrantIsForAWSResource': 'false' })).toBe('ExplicitlyDenied');
      expect(await grant({ 'kms:GrantIsForAWSResource': 'true' })).toBe('Allowed');
    });
  });
});

describe('no role of the app, in any stack, can destroy or unlock the backups', () => {
  type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
  const allStacks = [stacks.storage, stacks.replicaStorage, stacks.jobs, ...(stacks.rdsRestoreDr ? [stacks.rdsRestoreDr] : [])];
  const everything = new TemplateResolver(allStacks);
  const refOf = (value: Json): string | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) && typeof value.Ref === 'string' ? value.Ref : undefined);

  /** Each role with every policy the templates attach to it, and each instance managed policy on its own (teams attach those). */
  function principals(): { name: string; policies: PolicyDocument[] }[] {
    const found: { name: string; policies: PolicyDocument[] }[] = [];
    for (const stack of allStacks) {
      const policies = everything.resourcesOf(stack, 'AWS::IAM::Policy');
      const managed = everything.resourcesOf(stack, 'AWS::IAM::ManagedPolicy');
      for (const [roleId, role] of everything.resourcesOf(stack, 'AWS::IAM::Role')) {
        const inline = ((role.Policies ?? []) as { PolicyDocument: Json }[]).map((policy) => everything.policy(policy.PolicyDocument, stack));
        const attached = [...policies, ...managed]
          .filter(([, properties]) => ((properties.Roles ?? []) as Json[]).some((ref) => refOf(ref) === roleId))
          .map(([, properties]) => everything.policy(properties.PolicyDocument ?? null, stack));
        found.push({ name: `${stack.stackName}/${roleId}`, policies: [...inline, ...attached] });
      }
      for (const [id, properties] of managed.filter(([, properties]) => properties.Roles === undefined)) {
        found.push({ name: `${stack.stackName}/${id}`, policies: [everything.policy(properties.PolicyDocument ?? null, stack)] });
      }
    }
    return found;
  }
  function lockedCopies(): { bucket: string; bucketPolicy: PolicyDocument; keyArn: string; keyPolicy: PolicyDocument }[] {
    return [stacks.storage, stacks.replicaStorage].map((stack) => {
      const [bucketId] = everything.resourcesOf(stack, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
      const name = String(everything.resolve({ Ref: bucketId ?? '' }, stack));
      const [, policy] = everything.resourcesOf(stack, 'AWS::S3::BucketPolicy').find(([, properties]) => everything.resolve(properties.Bucket ?? null, stack) === name) ?? [];
      const [keyId, key] = everything.resourcesOf(stack, 'AWS::KMS::Key').find(([id]) => id.startsWith('Backups') || id.startsWith('Replica')) ?? [];
      return {
        bucket: name,
        bucketPolicy: everything.policy(policy?.PolicyDocument ?? null, stack),
        keyArn: String(everything.resolve({ 'Fn::GetAtt': [keyId ?? '', 'Arn'] }, stack)),
        keyPolicy: everything.policy(key?.KeyPolicy ?? null, stack),
      };
    });
  }
  const DESTRUCTIVE_OBJECT = ['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutObjectLegalHold'];
  const DESTRUCTIVE_BUCKET = ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutReplicationConfiguration', 's3:DeleteBucket'];
  const DESTRUCTIVE_KEY = ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'];

  it('covers every role of every stack and the instance policies', () => {
    const names = principals().map((principal) => principal.name);
    expect(names.length).toBeGreaterThan(20);
    expect(names.some((name) => name.includes('InstancePolicy'))).toBe(true);
    expect(names.some((name) => name.includes('Replication'))).toBe(true);
  });

  it('none may delete a locked version, bypass or extend a lock by legal hold, change a bucket\'s policy, lock, versioning, lifecycle or replication, or disable or delete a key', async () => {
    const allowed: string[] = [];
    for (const copy of lockedCopies()) {
      for (const { name, policies } of principals()) {
        const principal = `arn:aws:iam::${ACCOUNT}:role/${name.split('/').pop() ?? name}`;
        const ask = (action: string, resource: string, resourcePolicy: PolicyDocument) => decide({ principal, identityPolicies: policies, resourcePolicy, action, resource });
        for (const action of DESTRUCTIVE_OBJECT) {
          if ((await ask(action, `arn:aws:s3:::${copy.bucket}/${KEY}`, copy.bucketPolicy)) === 'Allowed') allowed.push(`${name}: ${action} on ${copy.bucket}`);
        }
        for (const action of DESTRUCTIVE_BUCKET) {
          if ((await ask(action, `arn:aws:s3:::${copy.bucket}`, copy.bucketPolicy)) === 'Allowed') allowed.push(`${name}: ${action} on ${copy.bucket}`);
        }
        for (const action of DESTRUCTIVE_KEY) {
          if ((await ask(action, copy.keyArn, copy.keyPolicy)) === 'Allowed') allowed.push(`${name}: ${action} on ${copy.keyArn}`);
        }
      }
    }
    expect(allowed).toEqual([]);
  });

  it('and none is even granted it: the guard is a second line, not the only one', async () => {
    // KMS needs a key policy that delegates to IAM (the default one does); S3 in the same account needs none.
    const delegating: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] };
    const granted: string[] = [];
    for (const copy of lockedCopies()) {
      for (const { name, policies } of principals()) {
        const principal = `arn:aws:iam::${ACCOUNT}:role/${name.split('/').pop() ?? name}`;
        for (const [actions, resource] of [
          [DESTRUCTIVE_OBJECT, `arn:aws:s3:::${copy.bucket}/${KEY}`],
          [DESTRUCTIVE_BUCKET, `arn:aws:s3:::${copy.bucket}`],
        ] as const) {
          for (const action of actions) {
            if ((await decide({ principal, identityPolicies: policies, action, resource })) === 'Allowed') granted.push(`${name}: ${action}`);
          }
        }
        for (const action of DESTRUCTIVE_KEY) {
          if ((await decide({ principal, identityPolicies: policies, resourcePolicy: delegating, action, resource: copy.keyArn })) === 'Allowed') granted.push(`${name}: ${action}`);
        }
      }
    }
    expect(granted).toEqual([]);
  });
});

describe('dead-letter delivery', () => {
  it('every schedule can deliver to its KMS-encrypted dead-letter queue with its own role (send, and the key for it)', async () => {
    type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
    const schedules = resolver.resourcesOf(stacks.jobs, 'AWS::Scheduler::Schedule');
    expect(schedules.length).toBeGreaterThan(3);
    const undeliverable: string[] = [];
    for (const [id, schedule] of schedules) {
      const target = resolver.resolve(schedule.Target ?? null, stacks.jobs) as { RoleArn: string; DeadLetterConfig?: { Arn: string } };
      if (!target.DeadLetterConfig) {
        undeliverable.push(`${id}: no dead-letter queue`);
        continue;
      }
      const roleName = target.RoleArn.split('/').pop() ?? '';
      // The resolver names a role <stack>-<logical ID>; policies name it by logical ID.
      const roleId = roleName.split('-').pop() ?? '';
      const policies = resolver
        .resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
        .filter(([, properties]) => ((properties.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === roleId))
        .map(([, properties]) => resolver.policy(properties.PolicyDocument ?? null, stacks.jobs));
      const [queueId, queue] = resolver.resourcesOf(stacks.jobs, 'AWS::SQS::Queue').find(([queueId]) => target.DeadLetterConfig?.Arn.endsWith(`:${queueId}`)) ?? [];
      const keyArn = String(resolver.resolve((queue?.KmsMasterKeyId ?? null) as Json, stacks.jobs));
      const principal = `arn:aws:iam::${ACCOUNT}:role/${roleName}`;
      if ((await decide({ principal, identityPolicies: policies, action: 'sqs:SendMessage', resource: target.DeadLetterConfig.Arn })) !== 'Allowed') undeliverable.push(`${id}: cannot send to ${queueId}`);
      const keyPolicy: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] };
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
        if ((await decide({ principal, identityPolicies: policies, action, resource: keyArn, resourcePolicy: keyPolicy })) !== 'Allowed') undeliverable.push(`${id}: no ${action} on ${keyArn}`);
      }
    }
    expect(undeliverable).toEqual([]);
  });
});

/** The jobs stack's roles of a built app, by role name prefix, as the evaluator sees their policies. */
function jobRoles(built: BackupKitStacks) {
  const resolver = new TemplateResolver([built.storage, built.replicaStorage, built.jobs]);
  const policiesOf = (prefix: string): PolicyDocument[] =>
    resolver
      .resourcesOf(built.jobs, 'AWS::IAM::Policy')
      .filter(([id]) => id.startsWith(prefix))
      .map(([, properties]) => resolver.policy(properties.PolicyDocument ?? null, built.jobs));
  const ask = (prefix: string, action: string, resource: string, context: Record<string, string> = {}) =>
    decide({ principal: `arn:aws:iam::${ACCOUNT}:role/${prefix}`, identityPolicies: policiesOf(prefix), action, resource, context });
  /** SendCommand to an instance, carrying `tags` (as ssm:resourceTag/<key>). */
  const send = (prefix: string, instanceId: string, tags: Record<string, string> = {}) =>
    ask(prefix, 'ssm:SendCommand', `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/${instanceId}`, Object.fromEntries(Object.entries(tags).map(([key, value]) => [`ssm:resourceTag/${key}`, value])));
  const backupBucketName = () => {
    const [bucketId] = resolver.resourcesOf(built.storage, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
    return String(resolver.resolve({ Ref: bucketId ?? '' }, built.storage));
  };
  return { ask, send, backupBucketName };
}

describe('restoring onto another instance (restore.targets.<target>.onto)', () => {
  const onto = buildTestApp({
    restore: {
      targets: {
        'repairs-media': { onto: { instanceIds: ['i-0dddddddddddddddd'] } },
        'orders-db': { onto: { tag: { key: 'backup-kit:restore-into', value: 'orders-db' } } },
      },
    },
  } as never).stacks;
  const { ask, send } = jobRoles(onto);

  it('the restore function may send to an allowed instance, by ID or carrying the allowed tag, and to no other', async () => {
    expect(await send('RestoreJobsRestoreRole', 'i-0dddddddddddddddd')).toBe('Allowed');
    expect(await send('RestoreJobsRestoreRole', 'i-0eeeeeeeeeeeeeeee', { 'backup-kit:restore-into': 'orders-db' })).toBe('Allowed');
    expect(await send('RestoreJobsRestoreRole', 'i-0eeeeeeeeeeeeeeee', { 'backup-kit:restore-into': 'billing-db' })).toBe('ImplicitlyDenied');
    expect(await send('RestoreJobsRestoreRole', 'i-0cccccccccccccccc')).toBe('ImplicitlyDenied');
  });

  it('the restore function may read the runs (the preflight\'s answer on the instance it restores onto)', async () => {
    expect(await ask('RestoreJobsRestoreRole', 'ssm:GetCommandInvocation', '*')).toBe('Allowed');
  });

  it('the drill function may not: drills go to the targets\' own instances only', async () => {
    expect(await send('RestoreJobsDrillRole', 'i-0dddddddddddddddd')).toBe('ImplicitlyDenied');
    expect(await send('RestoreJobsDrillRole', 'i-0eeeeeeeeeeeeeeee', { 'backup-kit:restore-into': 'orders-db' })).toBe('ImplicitlyDenied');
    expect(await send('RestoreJobsDrillRole', 'i-0123456789abcdef0')).toBe('Allowed');
  });
});

describe('rebuilding a server (restore.servers)', () => {
  const app = buildTestApp({
    restore: {
      targets: {
        'repairs-media': { onto: { instanceIds: ['i-0dddddddddddddddd'] } },
        'orders-db': { onto: { tag: { key: 'backup-kit:restore-into', value: 'orders-db' } } },
      },
      servers: { 'rs-systems': ['repairs-media', 'orders-db'] },
    },
  } as never).stacks;
  const { ask, send, backupBucketName } = jobRoles(app);
  const s3Call = (prefix: string, action: string, key: string) => ask(prefix, action, `arn:aws:s3:::${backupBucketName()}/${key}`);
  const RECORD = 'rebuilds/rs-systems/20261121T100000Z.json';

  it('the result function sends the next target only to the instances the server\'s targets may be restored onto', async () => {
    expect(await send('RestoreJobsResultRole', 'i-0dddddddddddddddd')).toBe('Allowed');
    expect(await send('RestoreJobsResultRole', 'i-0eeeeeeeeeeeeeeee', { 'backup-kit:restore-into': 'orders-db' })).toBe('Allowed');
    expect(await send('RestoreJobsResultRole', 'i-0eeeeeeeeeeeeeeee', { 'backup-kit:restore-into': 'billing-db' })).toBe('ImplicitlyDenied');
    // not to the targets' own instances: a rebuild never goes there
    expect(await send('RestoreJobsResultRole', 'i-0123456789abcdef0')).toBe('ImplicitlyDenied');
  });

  it('the restore and result functions write rebuild records, and no backup', async () => {
    expect(await s3Call('RestoreJobsRestoreRole', 's3:PutObject', RECORD)).toBe('Allowed');
    expect(await s3Call('RestoreJobsResultRole', 's3:PutObject', RECORD)).toBe('Allowed');
    expect(await s3Call('RestoreJobsResultRole', 's3:GetObject', RECORD)).toBe('Allowed');
    expect(await s3Call('RestoreJobsResultRole', 's3:PutObject', KEY)).toBe('ImplicitlyDenied');
    expect(await s3Call('RestoreJobsRestoreRole', 's3:PutObject', KEY)).toBe('ImplicitlyDenied');
    expect(await s3Call('RestoreJobsDrillRole', 's3:PutObject', RECORD)).toBe('ImplicitlyDenied');
  });

  it('without servers the result function sends nothing and writes no rebuild record', async () => {
    const plain = jobRoles(buildTestApp({ restore: { targets: { 'repairs-media': { onto: { instanceIds: ['i-0dddddddddddddddd'] } } } } } as never).stacks);
    expect(await plain.send('RestoreJobsResultRole', 'i-0dddddddddddddddd')).toBe('ImplicitlyDenied');
    expect(await plain.ask('RestoreJobsResultRole', 's3:PutObject', `arn:aws:s3:::${plain.backupBucketName()}/${RECORD}`)).toBe('ImplicitlyDenied');
  });
});
