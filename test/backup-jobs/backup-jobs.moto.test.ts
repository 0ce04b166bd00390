import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { CreateDocumentCommand, ListCommandsCommand } from '@aws-sdk/client-ssm';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { recordBackupResult, parseResultEvent } from '../../lambda/backup-result/core';
import { triggerBackups, type TriggerSettings } from '../../lambda/backup-trigger/core';
import { loadConfig } from '../../lib/config/config';
import { BackupCommandDocument } from '../../lib/constructs/backup-command-document';
import { targetPlans } from '../../lib/stacks/backup-jobs-settings';
import { FIXTURE_INSTANCE_SCRIPTS_DIR } from '../foundation/app-fixture';
import { MOTO_REGION, MotoServer } from '../support/moto';
import { capturedMetrics, silentLogger } from './support';

/**
 * The trigger and result cores against moto's SSM and SNS: real SDK serialization, the document
 * as synthesized, its default version as SSM answers it. (moto never runs commands and has no
 * ListDocumentVersions; those paths are tested with mocks.)
 */
let moto: MotoServer;
const documentName = 'BackupKit-moto-InstanceBackup';
const document = new BackupCommandDocument(new Stack(new App(), 'Doc'), 'Document', { documentName, scriptsDir: FIXTURE_INSTANCE_SCRIPTS_DIR });
const { config } = loadConfig(exampleConfig);

beforeAll(async () => {
  moto = await MotoServer.start();
});
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
});

async function settingsWithTopic(): Promise<TriggerSettings> {
  const topic = await moto.sns().send(new CreateTopicCommand({ Name: 'alerts' }));
  return {
    region: MOTO_REGION,
    functionName: 'backup-trigger',
    documentName,
    documentSha256: document.contentSha256,
    destination: { bucket: 'backup-bucket', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b', region: MOTO_REGION },
    commandLogGroupName: 'command-output',
    alertTopicArn: topic.TopicArn ?? '',
    deliveryTimeoutSeconds: 1800,
    tiers: { daily: { retentionDays: 30, scheduled: true, objectLockMode: 'GOVERNANCE' }, manual: { retentionDays: 7, scheduled: false, objectLockMode: 'GOVERNANCE' } },
    targets: targetPlans(config).map((target) => ({ ...target, tiers: ['daily', 'manual'] })),
  };
}

const createDocument = (content: unknown) =>
  moto.ssm().send(new CreateDocumentCommand({ Name: documentName, Content: JSON.stringify(content), DocumentType: 'Command', DocumentFormat: 'JSON', TargetType: '/AWS::EC2::Instance' }));

describe('backup jobs against moto', () => {
  it('GIVEN the synthesized document in SSM THEN the trigger pins its version and SSM accepts every command', async () => {
    await createDocument(document.content);
    const settings = await settingsWithTopic();
    const result = await triggerBackups({ tier: 'daily' }, { ssm: moto.ssm(), sns: moto.sns(), logger: silentLogger(), metrics: capturedMetrics('backup-trigger').metrics, settings });
    expect(result.errors).toEqual([]);
    expect(result.document.version).toBe('1');
    const listed = await moto.ssm().send(new ListCommandsCommand({}));
    expect(listed.Commands?.map((command) => command.Parameters?.target?.[0]).sort()).toEqual(['billing-db', 'orders-db', 'repairs-media', 'repairs-sqlite']);
    const orders = listed.Commands?.find((command) => command.Parameters?.target?.[0] === 'orders-db');
    // moto does not record DocumentVersion; the version sent is checked with mocks in backup-trigger.test.ts.
    expect(orders).toMatchObject({ DocumentName: documentName, Comment: 'backup-kit daily backup of orders-db' });
    expect(orders?.Parameters).toMatchObject({ passwordSsmParameter: ['/orders/prod/db-backup-password'], retentionDays: ['30'], executionTimeout: ['10800'] });
  });

  it('GIVEN a command SSM recorded THEN the result function reads its target and tier back from SSM and alerts through SNS', async () => {
    await createDocument(document.content);
    const settings = await settingsWithTopic();
    const sent = await triggerBackups({ tier: 'manual', target: 'repairs-media' }, { ssm: moto.ssm(), sns: moto.sns(), logger: silentLogger(), metrics: capturedMetrics('backup-trigger').metrics, settings });
    const commandId = sent.commands[0]?.commandId ?? '';
    const outcome = await recordBackupResult(
      parseResultEvent({
        'detail-type': 'EC2 Command Invocation Status-change Notification',
        source: 'aws.ssm',
        detail: { 'command-id': commandId, 'document-name': documentName, 'instance-id': 'i-0fedcba9876543210', status: 'Success' },
      }),
      {
        ssm: moto.ssm(),
        sns: moto.sns(),
        logger: silentLogger(),
        metrics: capturedMetrics('backup-result').metrics,
        settings: { region: MOTO_REGION, documentName, alertTopicArn: settings.alertTopicArn, commandLogGroupName: 'command-output', triggerFunctionName: 'backup-trigger' },
      },
    );
    // moto reports success without running anything, so there is no BACKUP_RESULT: the run cannot be confirmed.
    expect(outcome).toMatchObject({ outcome: 'failed', failure: { identity: { target: 'repairs-media', tier: 'manual', kind: 'files' }, status: 'ResultMissing' } });
    expect(outcome.outcome === 'failed' && outcome.alertMessageId).toBeTruthy();
  });
});
