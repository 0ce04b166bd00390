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
  verification: {
    schedule: 'cron(0 5 * * ? *)',
    maxAgeHours: 26,
    // Weekly and monthly tiers derive 8 and 32 days from their schedules; override per tier here.
    tierMaxAgeHours: { weekly: 192 },
    sizeAnomaly: { lowerRatio: 0.8, upperRatio: 2, history: 7, flagIdenticalSize: true },
    replicationAllowanceMinutes: 30,
    sqliteIntegrityCheckMaxMiB: 128,
    maxConcurrency: 10,
  },
};
