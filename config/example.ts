import type { BackupKitConfigInput } from '../lib/config/config';

/**
 * The embedded example: `npx cdk synth` uses it when no config is selected, so a fresh
 * clone synthesizes with no account and no credentials. Copy it to `config/<name>.json`
 * (or `.ts`) and select it with `-c config=<name>` to describe your own estate.
 */
export const exampleConfig: BackupKitConfigInput = {
  prefix: 'backup-kit',
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  alertEmails: ['oncall@example.com'],
  timeZone: 'UTC',
  mediaBuckets: [
    {
      bucket: 'example-team-media',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      allowedPrefixes: ['photos/', 'uploads/'],
    },
  ],
};
