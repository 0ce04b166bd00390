import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startDetached, stopProcess, waitFor } from './processes';

export const MOTO_REGION = 'eu-west-1';

/** A moto server on loopback (with the corrections of moto_front.py), with the environment the AWS CLI and SDK v3 need to use it. */
export class MotoServer {
  private constructor(
    readonly endpoint: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<MotoServer> {
    const port = await freePort();
    // moto_server with the S3 rules moto does not follow put right (see moto_front.py).
    const child = startDetached('python3', [join(__dirname, 'moto_front.py'), '-H', '127.0.0.1', '-p', String(port)]);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitFor('moto_server to answer', async () => {
      try {
        return (await fetch(`${endpoint}/moto-api/`)).ok;
      } catch {
        return false;
      }
    });
    return new MotoServer(endpoint, child);
  }

  /** Environment for the AWS CLI (v1 or v2) and scripts that honour AWS_ENDPOINT_URL. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      AWS_ENDPOINT_URL: this.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SESSION_TOKEN: 'testing',
      AWS_DEFAULT_REGION: MOTO_REGION,
      AWS_REGION: MOTO_REGION,
      AWS_PAGER: '',
      ...extra,
    };
  }

  s3(): S3Client {
    return new S3Client({ endpoint: this.endpoint, region: MOTO_REGION, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  }

  /**
   * A client for a bucket the tests fill the way S3 replication would. Replication keeps each
   * version's ID; moto cannot, so this client reads the replica's copy of a version by key.
   */
  replicaS3(): S3Client {
    const client = this.s3();
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { VersionId?: string };
        delete input.VersionId;
        return next(args);
      },
      { step: 'initialize', name: 'replicaKeepsVersionIds' },
    );
    return client;
  }

  kms(): KMSClient {
    return new KMSClient({ endpoint: this.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  }

  ssm(): SSMClient {
    return new SSMClient({ endpoint: this.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  }

  sns(): SNSClient {
    return new SNSClient({ endpoint: this.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  }

  /**
   * A versioned bucket with Object Lock and a default retention, like the real backup bucket (so
   * the front's checksum rule applies to every upload), and a KMS key for SSE-KMS.
   */
  async createBackupBucket(name: string, options: { defaultRetentionDays?: number } = {}): Promise<{ bucket: string; keyArn: string }> {
    const s3 = this.s3();
    await s3.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: name,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: options.defaultRetentionDays ?? 1 } } },
      }),
    );
    const key = await this.kms().send(new CreateKeyCommand({ Description: `test key for ${name}` }));
    return { bucket: name, keyArn: key.KeyMetadata?.Arn ?? '' };
  }

  async reset(): Promise<void> {
    await fetch(`${this.endpoint}/moto-api/reset`, { method: 'POST' });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
  }
}
