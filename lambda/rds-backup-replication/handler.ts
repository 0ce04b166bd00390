import { RDSClient } from '@aws-sdk/client-rds';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { sendCfnResponse } from '../shared/cfn-response';
import { errorMessage } from '../../contracts/errors';
import { createLogger } from '../shared/powertools';
import { applyReplicationEvent, failedCreatePhysicalId } from './core';

const logger = createLogger();
const clients = new Map<string, RDSClient>();
const rdsFor = (region: string): RDSClient => {
  let client = clients.get(region);
  if (!client) {
    client = new RDSClient({ region });
    clients.set(region, client);
  }
  return client;
};

/** CloudFormation custom resource: replication of one instance's automated backups to the DR region. */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  logger.addContext(context);
  logger.info('replication request', { requestType: event.RequestType, logicalId: event.LogicalResourceId, properties: event.ResourceProperties });
  try {
    const result = await applyReplicationEvent(event, { rdsFor });
    logger.info('replication applied', { ...result });
    await sendCfnResponse(event, { status: 'SUCCESS', result });
  } catch (error) {
    const reason = `${(error as { name?: string }).name ?? 'Error'}: ${errorMessage(error)}`;
    logger.error('replication failed', { reason });
    const physicalResourceId = event.RequestType === 'Create' ? failedCreatePhysicalId(event.LogicalResourceId) : event.PhysicalResourceId;
    await sendCfnResponse(event, { status: 'FAILED', reason, physicalResourceId });
  }
}
