import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Verdict } from '../../contracts/verdict';
import { verifyBackup } from '../../lambda/verify/verify-backup';
import { MOTO_REGION, type MotoServer } from './moto';
import { FIXTURE_RETENTION_DAYS } from './restore-fixtures';

/**
 * The verify job's own code against the emulator, for the local drills: verifies a backup of
 * `bucket` (written as `verdicts/<key>/<time>.json`, as in AWS) and says whether it passed.
 */
export async function localVerifier(moto: MotoServer, bucket: string, keyArn: string): Promise<(key: string) => Promise<Verdict>> {
  const s3 = moto.s3();
  const replicaBucket = `${bucket}-replica`;
  await s3.send(new CreateBucketCommand({ Bucket: replicaBucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  const sns = new SNSClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const topic = await sns.send(new CreateTopicCommand({ Name: `${bucket}-alerts` }));
  const metrics = new Metrics({ namespace: 'BackupKit', serviceName: 'verify' });
  // The verifier's metrics would print EMF lines; the drills report in their own words.
  (metrics as unknown as { console: { log: () => void } }).console = { log: () => undefined };
  const deps = {
    s3,
    replicaS3: moto.replicaS3(),
    sns,
    metrics,
    logger: new Logger({ logLevel: 'SILENT' }),
    bucket,
    replicaBucket,
    backupKeyArn: keyArn,
    alertTopicArn: topic.TopicArn ?? '',
    region: MOTO_REGION,
    settings: {
      tierMaxAgeHours: { daily: 26 },
      tierLockModes: { daily: 'GOVERNANCE' as const },
      tierRetentionDays: { daily: FIXTURE_RETENTION_DAYS },
      sizeAnomaly: { lowerRatio: 0.8, upperRatio: 2, history: 7, flagIdenticalSize: false },
      replicationAllowanceMinutes: 30,
      sqliteIntegrityCheckMaxBytes: 128 * 1024 * 1024,
      maxObjectBytes: 10 * 2 ** 30,
    },
  };
  return (key) => verifyBackup(deps, key);
}
