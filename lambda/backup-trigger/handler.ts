import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { eventHandler } from '../shared/handlers';
import { createLogger, createMetrics } from '../shared/powertools';
import { loadTriggerSettings, parseTriggerEvent, triggerBackups, type TriggerResult } from './core';
import { houseEnvironment } from '../shared/env';

const settings = loadTriggerSettings(houseEnvironment());
const ssm = new SSMClient({});
const sns = new SNSClient({});
const logger = createLogger();
const metrics = createMetrics();

/**
 * Starts backups: `{ "tier": "daily" }` from a schedule, `{ "tier": "manual" | "predeploy",
 * "target"?: "name" }` from the console. Invalid events throw (nothing is sent); per-target
 * failures are in the answer and alerted, and do not fail the invocation (a retry would send
 * the other targets twice).
 */
export const handler = eventHandler({ logger, job: 'backup trigger', unchanged: 'nothing was sent' }, async (event): Promise<TriggerResult> => {
  const request = parseTriggerEvent(event, settings);
  // Metrics (BackupSendFailed per target) are published by the core as they happen.
  const result = await triggerBackups(request, { ssm, sns, logger, metrics, settings });
  logger.info(result.summary, { commands: result.commands, errors: result.errors });
  return result;
});
