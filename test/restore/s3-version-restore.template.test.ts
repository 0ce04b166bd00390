import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { ConfigError, loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { buildTestApp } from '../foundation/app-fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function jobsTemplate(overrides: Partial<BackupKitConfigInput>): Template {
  return Template.fromStack(buildTestApp(overrides).stacks.jobs);
}

const objectArn = (path: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${path}`]] });

describe('S3 version restore in the template', () => {
  const template = jobsTemplate({
    mediaBuckets: [
      { bucket: 'team-media', kmsKeyArn: KEY_ARN, allowedPrefixes: ['photos/'] },
      { bucket: 'dr-media', region: 'eu-central-1' },
    ],
  });

  it('has the function with the media buckets, regions resolved, in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('versioned media bucket'),
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 's3-version-restore',
          MEDIA_BUCKETS: JSON.stringify([
            { bucket: 'team-media', region: 'eu-west-1', kmsKeyArn: KEY_ARN, allowedPrefixes: ['photos/'] },
            { bucket: 'dr-media', region: 'eu-central-1' },
          ]),
        }),
      },
    });
  });

  const hasStatement = (statement: Record<string, unknown>) =>
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike(statement)]) },
    });

  it('may copy and add delete markers only under the allowed prefix, listing only that prefix', () => {
    hasStatement({
      Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:PutObject', 's3:PutObjectTagging'],
      Resource: objectArn('team-media/photos/*'),
    });
    hasStatement({ Action: 's3:ListBucketVersions', Resource: objectArn('team-media'), Condition: { StringLike: { 's3:prefix': ['photos/*'] } } });
  });

  it('uses the media key only through S3 in the bucket region', () => {
    hasStatement({
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: KEY_ARN,
      Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
    });
  });

  it('may act on the whole of a bucket that names no prefixes', () => {
    hasStatement({
      Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:PutObject', 's3:PutObjectTagging'],
      Resource: objectArn('dr-media/*'),
    });
  });

  it('never grants deleting a version or changing bucket settings', () => {
    // Allow statements only: a Deny that names these actions (AWS Backup's restore role) takes them away.
    const allowed = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Effect: string }[]).filter((statement) => statement.Effect === 'Allow'),
    );
    expect(allowed.length).toBeGreaterThan(10);
    expect(JSON.stringify(allowed)).not.toMatch(/s3:DeleteObjectVersion|s3:PutBucket|s3:PutLifecycle|s3:\*|"s3:Delete\*"/);
  });
});

describe('mediaBuckets config', () => {
  it('refuses the same bucket twice, naming the second entry', () => {
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'team-media' }, { bucket: 'team-media' }] })).toThrow(
      /mediaBuckets\.1\.bucket: 'team-media' is already listed at mediaBuckets\.0/,
    );
  });

  it('refuses a key in another region than the bucket', () => {
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'team-media', region: 'us-east-1', kmsKeyArn: KEY_ARN }] })).toThrow(
      /mediaBuckets\.0\.kmsKeyArn: the key is in eu-west-1 but the bucket is in us-east-1/,
    );
  });

  it('refuses a pattern, an alias and a nested prefix', () => {
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'team-media', allowedPrefixes: ['photos/*'] }] })).toThrow(
      /mediaBuckets\.0\.allowedPrefixes\.0: must be a literal prefix/,
    );
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'team-media', kmsKeyArn: 'alias/media' }] })).toThrow(
      /mediaBuckets\.0\.kmsKeyArn: must be a KMS key ARN/,
    );
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'team-media', allowedPrefixes: ['photos/', 'photos/2026/'] }] })).toThrow(
      /mediaBuckets\.0\.allowedPrefixes\.1: 'photos\/2026\/' is already covered by 'photos\/'/,
    );
  });

  it('refuses a bucket name S3 would refuse', () => {
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'Team_Media' }] })).toThrow(ConfigError);
    expect(() => loadConfig({ ...exampleConfig, mediaBuckets: [{ bucket: 'Team_Media' }] })).toThrow(/mediaBuckets\.0\.bucket: must be an S3 bucket name/);
  });

  it('creates no function when no media bucket is named', () => {
    const template = jobsTemplate({ mediaBuckets: [] });
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (resource) => (resource as { Properties: { Description?: string } }).Properties.Description ?? '',
    );
    expect(functions.some((description) => description.includes('versioned media bucket'))).toBe(false);
  });
});
