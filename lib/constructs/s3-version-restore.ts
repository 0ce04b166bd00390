import { Aws, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { MEDIA_BUCKETS_ENV } from '../../contracts/s3-version-restore';
import { join } from 'node:path';
import type { MediaBucketConfig } from '../config/sections/media-buckets';
import { HouseFunction } from './house-function';
import { acknowledgeWildcards } from './nag';

/** A versioned media bucket the job may restore. */
export interface MediaBucket {
  readonly bucket: s3.IBucket;
  /** The bucket's region. */
  readonly region: string;
  /**
   * The key the bucket's objects are encrypted with.
   * @default - SSE-S3: restored copies take the bucket's default encryption
   */
  readonly key?: kms.IKey;
  /**
   * Prefixes the job may restore and write.
   * @default - the whole bucket
   */
  readonly allowedPrefixes?: readonly string[];
}

export interface S3VersionRestoreProps {
  /** The buckets the job may act on; at least one. */
  readonly mediaBuckets: readonly MediaBucket[];
  /** Key that encrypts the function's logs. */
  readonly logKey: kms.IKey;
  /**
   * How long one invocation may run; a larger prefix continues on the next invocation.
   * @default - 15 minutes
   */
  readonly timeout?: Duration;
}

/**
 * The console-invoked job that brings a key or prefix of a media bucket back to its state at
 * a time T using versions only. Its role can copy and add delete markers within the allowed
 * prefixes, and holds no s3:DeleteObjectVersion: it cannot remove any version.
 */
export class S3VersionRestore extends Construct {
  readonly handler: HouseFunction;

  /** The buckets of the config's `mediaBuckets`, as typed references. */
  static bucketsFromConfig(scope: Construct, entries: readonly MediaBucketConfig[], primaryRegion: string): MediaBucket[] {
    return entries.map((entry, index) => {
      const region = entry.region ?? primaryRegion;
      return {
        bucket: s3.Bucket.fromBucketAttributes(scope, `MediaBucket${index}`, { bucketName: entry.bucket, region }),
        region,
        ...(entry.kmsKeyArn ? { key: kms.Key.fromKeyArn(scope, `MediaKey${index}`, entry.kmsKeyArn) } : {}),
        ...(entry.allowedPrefixes ? { allowedPrefixes: entry.allowedPrefixes } : {}),
      };
    });
  }

  constructor(scope: Construct, id: string, props: S3VersionRestoreProps) {
    super(scope, id);
    if (props.mediaBuckets.length === 0) {
      throw new Error('S3VersionRestore mediaBuckets: at least one bucket is required');
    }
    for (const media of props.mediaBuckets) {
      for (const prefix of media.allowedPrefixes ?? []) {
        if (prefix.length === 0 || /[*?]/.test(prefix)) {
          throw new Error(`S3VersionRestore mediaBuckets allowedPrefixes: '${prefix}' must be a non-empty literal prefix`);
        }
      }
    }
    const timeout = props.timeout ?? Duration.minutes(15);

    this.handler = new HouseFunction(this, 'Handler', {
      entry: join(__dirname, '../../lambda/s3-version-restore/handler.ts'),
      description: 'Restores a key or prefix of a versioned media bucket to its state at a given time (versions only)',
      logKey: props.logKey,
      serviceName: 's3-version-restore',
      timeout,
      memorySize: 512,
      environment: {
        [MEDIA_BUCKETS_ENV]: Stack.of(this).toJsonString(
          props.mediaBuckets.map((media) => ({
            bucket: media.bucket.bucketName,
            region: media.region,
            ...(media.key ? { kmsKeyArn: media.key.keyArn } : {}),
            ...(media.allowedPrefixes ? { allowedPrefixes: media.allowedPrefixes } : {}),
          })),
        ),
      },
    });

    const wildcards: string[] = [];
    props.mediaBuckets.forEach((media, index) => {
      const prefixes = media.allowedPrefixes ?? [''];
      const objectArns = prefixes.map((prefix) => media.bucket.arnForObjects(`${prefix}*`));
      wildcards.push(...prefixes.map((prefix) => `Resource::arn:<AWS::Partition>:s3:::${media.bucket.bucketName}/${prefix}*`));
      this.handler.role.addToPolicy(
        new iam.PolicyStatement({
          sid: `ReadVersioningState${index}`,
          actions: ['s3:GetBucketVersioning'],
          resources: [media.bucket.bucketArn],
        }),
      );
      this.handler.role.addToPolicy(
        new iam.PolicyStatement({
          sid: `ListVersions${index}`,
          actions: ['s3:ListBucketVersions'],
          resources: [media.bucket.bucketArn],
          ...(media.allowedPrefixes ? { conditions: { StringLike: { 's3:prefix': media.allowedPrefixes.map((prefix) => `${prefix}*`) } } } : {}),
        }),
      );
      this.handler.role.addToPolicy(
        new iam.PolicyStatement({
          sid: `ReadOldVersions${index}`,
          actions: ['s3:GetObjectVersion', 's3:GetObjectVersionTagging'],
          resources: objectArns,
        }),
      );
      // s3:DeleteObject on a versioned bucket only adds a delete marker; removing a version
      // needs s3:DeleteObjectVersion, which this role never has.
      this.handler.role.addToPolicy(
        new iam.PolicyStatement({
          sid: `WriteRestoredCopies${index}`,
          actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:DeleteObject'],
          resources: objectArns,
        }),
      );
      if (media.key) {
        this.handler.role.addToPolicy(
          new iam.PolicyStatement({
            sid: `UseMediaKeyThroughS3${index}`,
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: [media.key.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `s3.${media.region}.amazonaws.com` } },
          }),
        );
      }
    });
    acknowledgeWildcards(
      this.handler.role,
      wildcards,
      'The job restores any key under the media prefixes the config allows, so it reads and writes <bucket>/<allowed prefix>*; it cannot delete a version (no s3:DeleteObjectVersion).',
    );

    new CfnOutput(this, 'FunctionName', {
      description: 'S3 version restore: invoke from the Lambda console with { bucket, prefix|key, restoreTo, dryRun }',
      value: this.handler.function.functionName,
    });
    new CfnOutput(this, 'ConsoleLink', {
      description: 'S3 version restore function in the Lambda console',
      value: `https://${Aws.REGION}.console.aws.amazon.com/lambda/home?region=${Aws.REGION}#/functions/${this.handler.function.functionName}`,
    });
  }
}
