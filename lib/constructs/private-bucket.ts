import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * What every bucket of the kit that holds data shares: versioned, SSE-KMS with a bucket key,
 * public access blocked, no ACLs, TLS 1.2 only, and server access logs to `accessLogs`.
 */
export function privateBucketProps(key: kms.IKey, accessLogs: s3.IBucket, accessLogPrefix: string): s3.BucketProps {
  return {
    versioned: true,
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: accessLogPrefix,
  };
}
