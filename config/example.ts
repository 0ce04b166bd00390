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
  rds: {
    instances: [
      {
        // Restorable to a point in time from the Lambda console, in eu-west-1 and, from its
        // replicated automated backups, in eu-central-1.
        identifier: 'orders-db',
        kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d',
        drReplication: {
          retentionDays: 7,
          kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c',
          subnetGroupName: 'orders-dr-db-subnets',
          securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
          parameterGroupName: 'orders-postgres16',
        },
      },
    ],
    // Restorable to a point in time too: a new cluster, then one instance per instance of the source.
    clusters: [{ identifier: 'billing-aurora', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f' }],
  },
  mediaBuckets: [
    {
      bucket: 'example-team-media',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      allowedPrefixes: ['photos/', 'uploads/'],
    },
  ],
  awsBackup: {
    // Managed data through AWS Backup (docs/aws-backup.md): each class is one plan with the
    // defaults (daily kept 35 days, monthly kept a year, both copied to eu-central-1), into
    // vaults with a GOVERNANCE Vault Lock of 7 to 3650 days.
    classes: {
      // orders-db beyond its 35-day point-in-time window, and the billing Aurora cluster.
      databases: {
        resources: {
          rdsInstances: ['arn:aws:rds:eu-west-1:111122223333:db:orders-db'],
          auroraClusters: ['arn:aws:rds:eu-west-1:111122223333:cluster:billing-aurora'],
        },
        restoreTesting: {
          // The monthly restore tests' copies: in the databases' subnets, behind a group that
          // admits only the probe function's group on the database port.
          network: { subnetGroupName: 'orders-db-subnets', securityGroupIds: ['sg-0f1e2d3c4b5a69788'] },
          // What orders-db's copy must answer, read-only, signed in as backup_probe with IAM
          // database authentication (docs/aws-backup.md, "SQL probes of the restore test copies").
          probes: { 'orders-db': { database: 'orders', statements: ["SELECT max(created_at) > now() - interval '2 days' FROM orders"] } },
        },
      },
      // The media bucket (versioned, as AWS Backup requires): a deleted bucket or deleted versions come back.
      media: {
        resources: { s3Buckets: ['example-team-media'] },
      },
    },
    // Where the probe function runs: the databases' private subnets, in its own security group.
    probeNetwork: { subnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0b1c2d3e4f5a60718'], securityGroupIds: ['sg-0a9b8c7d6e5f40312'] },
  },
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
  restore: {
    // A replace first backs the live data up into this on-demand tier (kept 7 days).
    safetyTier: 'predeploy',
    // Per-target settings (restore user, probes, work directory, drill opt-out) go under
    // targets: { '<target>': { ... } }; see docs/restore.md.
    drills: {
      // The first of each month at 05:00 (config time zone); alarm after 35 days without a good drill.
      schedule: 'cron(0 5 1 * ? *)',
      alarmAfterDays: 35,
      // Opt-in RDS drills of rds.instances, e.g. rds: [{ identifier: 'orders-db', instanceClass: 'db.t4g.micro' }]:
      // a point-in-time restore into a temporary instance, deleted once available (see docs/drills.md).
    },
  },
};
