import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface AccessLogBucketProps {
  /**
   * How long server access logs are kept.
   * @default - logs are kept 365 days
   */
  readonly retention?: Duration;
}

/**
 * Destination of S3 server access logs: encrypted, versioned, TLS-only, lifecycle-expired.
 * S3 log delivery only writes to SSE-S3 buckets, so this one cannot use the backup key.
 */
export class AccessLogBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogBucketProps = {}) {
    super(scope, id);
    const retention = props.retention ?? Duration.days(365);
    if (retention.toDays() < 1) {
      throw new Error(`AccessLogBucket retention: must be at least 1 day (got ${retention.toDays()})`);
    }
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: retention, noncurrentVersionExpiration: Duration.days(30) },
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server access log destination of the backup buckets; logging it into itself would loop.',
    });
  }
}
