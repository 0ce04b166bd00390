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
  targets: [
    {
      // PostgreSQL on the app server, found by tag; password in Parameter Store. Every target
      // takes part in every tier unless it lists its own, e.g. tiers: ['daily', 'manual'].
      name: 'orders-db',
      kind: 'postgres',
      instances: { tag: { key: 'backup-kit:role', value: 'orders-db' } },
      host: '127.0.0.1',
      database: 'orders',
      user: 'backup',
      password: { ssmParameter: '/orders/prod/db-backup-password' },
      timeoutMinutes: 180,
    },
    {
      // MySQL, password in Secrets Manager.
      name: 'billing-db',
      kind: 'mysql',
      instances: { instanceIds: ['i-0123456789abcdef0'] },
      host: 'localhost',
      database: 'billing',
      user: 'backup',
      password: { secretId: 'billing/prod/mysql-backup' },
    },
    {
      // SQLite file written by a small web app while it runs.
      name: 'repairs-sqlite',
      kind: 'sqlite',
      instances: { instanceIds: ['i-0fedcba9876543210'] },
      path: '/var/app/current/db.sqlite3',
    },
    {
      // Uploaded media beside it, without thumbnails that are rebuilt on demand.
      name: 'repairs-media',
      kind: 'files',
      instances: { instanceIds: ['i-0fedcba9876543210'] },
      path: '/var/app/current/media',
      excludes: ['cache/*', '*.tmp'],
    },
  ],
};
