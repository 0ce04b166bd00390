import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { MOTO_FACTORY_SOCKET } from './moto-factory';
import { freePort, startDetached, stopProcess, waitFor } from './processes';

export const MOTO_REGION = 'eu-west-1';

/** A moto server on loopback (with the corrections of moto_front.py), with the environment the AWS CLI and SDK v3 need to use it. */
export class MotoServer {
  private constructor(
    readonly endpoint: string,
    private readonly stopServer: () => Promise<void>,
  ) {}

  static async start(): Promise<MotoServer> {
    const port = await freePort();
    // moto_server with the S3 rules moto does not follow put right (see moto_front.py): forked by
    // the run's factory when there is one, else started here.
    const factory = process.env[MOTO_FACTORY_SOCKET];
    let stopServer: () => Promise<void>;
    if (factory) {
      const pid = await forkedServer(factory, port);
      stopServer = () => stopPid(pid);
    } else {
      const child = startDetached('python3', [join(__dirname, 'moto_front.py'), '-H', '127.0.0.1', '-p', String(port)]);
      stopServer = () => stopProcess(child);
    }
    const endpoint = `http://127.0.0.1:${port}`;
    await waitFor('moto_server to answer', async () => {
      try {
        return (await fetch(`${endpoint}/moto-api/`)).ok;
      } catch {
        return false;
      }
    });
    return new MotoServer(endpoint, stopServer);
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
    await this.stopServer();
  }
}

/** Asks the factory for a server on `port`; its pid. */
async function forkedServer(socketPath: string, port: number): Promise<number> {
  const reply = await new Promise<string>((resolve, reject) => {
    let data = '';
    const connection = createConnection(socketPath, () => connection.write(`${port}\n`));
    connection.on('data', (chunk) => (data += chunk.toString()));
    connection.on('end', () => resolve(data));
    connection.on('error', reject);
  });
  const pid = Number(reply.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the moto factory answered '${reply}'`);
  return pid;
}

/** Stops a process that is not this one's child (the factory reaps it): TERM, then KILL after 5 s. */
async function stopPid(pid: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + 5_000;
  while (alive()) {
    if (Date.now() > deadline) signal('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
