import { TEST_SETTINGS } from './helpers';

/** The environment the stack gives the verify functions; imported before the handlers read it at load. */
Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  REPLICA_REGION: 'eu-central-1',
  BACKUP_BUCKET: 'backups',
  REPLICA_BUCKET: 'replica',
  BACKUP_KEY_ARN: 'arn:aws:kms:eu-west-1:111111111111:key/k',
  ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:111111111111:alerts',
  VERIFY_SETTINGS: JSON.stringify(TEST_SETTINGS),
  VERIFY_QUEUE_URL: 'https://sqs/verify',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
});
