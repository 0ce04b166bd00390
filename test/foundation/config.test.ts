import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { configErrorOf } from '../support/config-errors';

// The base fields only, so these tests do not depend on later sections of the example.
const baseInput: BackupKitConfigInput = { prefix: 'backup-kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1' };

function withChanges(changes: Partial<BackupKitConfigInput>): unknown {
  return { ...baseInput, ...changes };
}

describe('config: defaults', () => {
  it('GIVEN only the required fields WHEN loaded THEN the field defaults apply', () => {
    const { config, warnings } = loadConfig(baseInput);

    expect(config.timeZone).toBe('UTC');
    expect(config.tiers.daily).toEqual({ schedule: 'cron(0 2 * * ? *)', retentionDays: 30, transitions: [] });
    expect(config.tiers.weekly).toEqual({
      schedule: 'cron(0 3 ? * SUN *)',
      retentionDays: 90,
      transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }],
    });
    expect(config.tiers.monthly?.retentionDays).toBe(365);
    expect(config.tiers.monthly?.transitions).toEqual([
      { storageClass: 'GLACIER', afterDays: 30 },
      { storageClass: 'DEEP_ARCHIVE', afterDays: 120 },
    ]);
    expect(config.tiers.manual).toEqual({ retentionDays: 7, transitions: [] });
    expect(config.tiers.predeploy).toEqual({ retentionDays: 7, transitions: [] });
    expect(config.noncurrentVersions).toEqual({ transitions: [{ storageClass: 'GLACIER', afterDays: 30 }], expireAfterDays: 365 });
    expect(config.objectLock).toEqual({ mode: 'GOVERNANCE', defaultRetentionDays: 7 });
    expect(config.replication).toEqual({ replicationTimeControl: true, metrics: true });
    expect(config.abortIncompleteUploadsAfterDays).toBe(7);
    expect(warnings).toEqual([]);
  });

  it('GIVEN compliance mode WHEN loaded THEN it is kept', () => {
    const { config } = loadConfig(withChanges({ objectLock: { mode: 'COMPLIANCE', defaultRetentionDays: 3 } }));
    expect(config.objectLock).toEqual({ mode: 'COMPLIANCE', defaultRetentionDays: 3 });
  });
});

describe('config: invalid input fails with the field and the reason', () => {
  it('GIVEN the DR region equal to the primary THEN both fields are named', () => {
    const message = configErrorOf(withChanges({ primaryRegion: 'eu-west-1', drRegion: 'eu-west-1' }));
    expect(message).toMatch(/drRegion: must differ from primaryRegion \(both are 'eu-west-1'\)/);
  });

  it('GIVEN an unknown region THEN the region field is named', () => {
    expect(configErrorOf(withChanges({ drRegion: 'eu-moon-1' }))).toMatch(/drRegion: unknown AWS region 'eu-moon-1'/);
    expect(configErrorOf(withChanges({ primaryRegion: 'us-east-9' }))).toMatch(/primaryRegion: unknown AWS region 'us-east-9'/);
  });

  it('GIVEN an unknown time zone THEN timeZone is named', () => {
    expect(configErrorOf(withChanges({ timeZone: 'Mars/Olympus' }))).toMatch(/timeZone: unknown IANA time zone 'Mars\/Olympus'/);
  });

  it('GIVEN an IANA time zone THEN it is accepted', () => {
    expect(loadConfig(withChanges({ timeZone: 'Europe/Berlin' })).config.timeZone).toBe('Europe/Berlin');
  });

  it('GIVEN an expiration not after the last transition THEN the tier retention is named', () => {
    const message = configErrorOf(
      withChanges({
        tiers: { weekly: { retentionDays: 60, transitions: [{ storageClass: 'GLACIER', afterDays: 60 }] } },
      }),
    );
    expect(message).toMatch(/tiers\.weekly\.retentionDays: expiration \(day 60\) must be after the last transition \(GLACIER at day 60\)/);
  });

  it('GIVEN a Standard-IA transition before day 30 THEN the transition is named', () => {
    const message = configErrorOf(
      withChanges({ tiers: { weekly: { retentionDays: 90, transitions: [{ storageClass: 'STANDARD_IA', afterDays: 10 }] } } }),
    );
    expect(message).toMatch(/tiers\.weekly\.transitions\.0\.afterDays: S3 does not transition to STANDARD_IA before day 30 \(got 10\)/);
  });

  it('GIVEN a transition out of Standard-IA within 30 days THEN S3 rule is cited', () => {
    const message = configErrorOf(
      withChanges({
        tiers: {
          monthly: {
            retentionDays: 400,
            transitions: [
              { storageClass: 'STANDARD_IA', afterDays: 30 },
              { storageClass: 'GLACIER', afterDays: 40 },
            ],
          },
        },
      }),
    );
    expect(message).toMatch(/tiers\.monthly\.transitions\.1\.afterDays: S3 requires 30 days in STANDARD_IA/);
  });

  it('GIVEN a default Object Lock retention longer than the shortest tier THEN it is an error naming both', () => {
    const message = configErrorOf(withChanges({ objectLock: { mode: 'GOVERNANCE', defaultRetentionDays: 10 } }));
    expect(message).toMatch(
      /objectLock\.defaultRetentionDays: 10 days is longer than the shortest tier's retention \(tiers\.manual\.retentionDays = 7\)/,
    );
  });

  it('GIVEN noncurrent expiry not after its transition THEN noncurrentVersions.expireAfterDays is named', () => {
    const message = configErrorOf(withChanges({ noncurrentVersions: { transitions: [{ storageClass: 'GLACIER', afterDays: 30 }], expireAfterDays: 20 } }));
    expect(message).toMatch(/noncurrentVersions\.expireAfterDays: expiration \(day 20\) must be after the last transition/);
  });

  it('GIVEN RTC without metrics THEN replication.metrics is named', () => {
    expect(configErrorOf(withChanges({ replication: { replicationTimeControl: true, metrics: false } }))).toMatch(
      /replication\.metrics: must be true while replication\.replicationTimeControl is true/,
    );
  });

  it('GIVEN a malformed schedule THEN the tier schedule is named', () => {
    expect(configErrorOf(withChanges({ tiers: { daily: { schedule: '0 2 * * *', retentionDays: 30 } } }))).toMatch(
      /tiers\.daily\.schedule: '0 2 \* \* \*' is not an EventBridge Scheduler cron expression/,
    );
    expect(configErrorOf(withChanges({ tiers: { daily: { schedule: 'cron(0 2 * * * *)', retentionDays: 30 } } }))).toMatch(
      /tiers\.daily\.schedule: .*exactly one of day-of-month and day-of-week must be '\?'/,
    );
  });

  it('GIVEN an unknown field THEN it is rejected rather than ignored', () => {
    expect(configErrorOf({ ...baseInput, retentionDayz: 3 })).toMatch(/retentionDayz/);
  });

  it('GIVEN a bad prefix, account and e-mail THEN each field is named', () => {
    const message = configErrorOf(withChanges({ prefix: 'Backup_Kit', account: '12345', alertEmails: ['not-an-email'] }));
    expect(message).toMatch(/prefix: must be 2-20 characters/);
    expect(message).toMatch(/account: must be a 12-digit AWS account ID/);
    expect(message).toMatch(/alertEmails\.0: must be an e-mail address/);
  });
});

describe('config: warnings for legal but costly settings', () => {
  it('GIVEN a retention shorter than a class minimum storage duration THEN a warning names the tier and the class', () => {
    const { warnings } = loadConfig(
      withChanges({
        tiers: {
          daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30, transitions: [] },
          monthly: { retentionDays: 100, transitions: [{ storageClass: 'DEEP_ARCHIVE', afterDays: 10 }] },
          manual: { retentionDays: 7 },
        },
      }),
    );
    expect(warnings).toEqual([
      'tiers.monthly.transitions.0: DEEP_ARCHIVE bills at least 180 days but objects stay 90 days (day 10 to 100); S3 charges the difference',
    ]);
  });

  it('GIVEN a tier in COMPLIANCE mode THEN the warning names the tier, its days and that nobody can delete its backups', () => {
    const { config, warnings } = loadConfig(withChanges({ tiers: { daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30 }, monthly: { schedule: 'cron(0 4 1 * ? *)', retentionDays: 365, objectLockMode: 'COMPLIANCE' } } }));
    expect(config.tiers.monthly?.objectLockMode).toBe('COMPLIANCE');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^tiers\.monthly\.objectLockMode: backups of tier 'monthly' are locked in COMPLIANCE mode: no one \(root, the break-glass role, AWS Support\) can delete one/);
    expect(warnings[0]).toContain('billed for 365 days in both the primary and the replica bucket');
  });

  it('GIVEN COMPLIANCE as the buckets\' default THEN every tier without its own mode is warned about, and a GOVERNANCE tier is not', () => {
    const { warnings } = loadConfig(
      withChanges({
        objectLock: { mode: 'COMPLIANCE', defaultRetentionDays: 3 },
        tiers: { daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30 }, manual: { retentionDays: 7, objectLockMode: 'GOVERNANCE' } },
      }),
    );
    expect(warnings.map((warning) => warning.split(':')[0])).toEqual(['objectLock.mode', 'tiers.daily.retentionDays']);
  });

  it('GIVEN an Object Lock mode S3 does not know THEN the tier field is named', () => {
    expect(configErrorOf(withChanges({ tiers: { daily: { retentionDays: 30, objectLockMode: 'LEGAL_HOLD' as 'COMPLIANCE' } } }))).toMatch(/tiers\.daily\.objectLockMode: Invalid option/);
  });

  it('GIVEN database targets drilled without a restore user THEN each is named with the privilege its backup user needs; a restore user or drill: false silences it', () => {
    const drillWarnings = (restore: unknown) => loadConfig({ ...exampleConfig, restore } as never).warnings.filter((warning) => warning.includes('drilled without a restore user'));
    expect(drillWarnings(undefined)).toEqual([
      expect.stringMatching(/^restore\.targets\.orders-db\.user: target 'orders-db' is drilled without a restore user: .* backup user 'backup', which needs CREATEDB/),
      expect.stringMatching(/^restore\.targets\.billing-db\.user: .* needs the CREATE and DROP privileges/),
    ]);
    expect(
      drillWarnings({
        targets: { 'orders-db': { user: 'restore', password: { ssmParameter: '/orders/restore-password' } }, 'billing-db': { drill: false } },
      }),
    ).toEqual([]);
    expect(drillWarnings({ drills: { enabled: false } })).toEqual([]);
  });
});

describe("config: tier names the kit's own prefixes take", () => {
  it.each(['verdicts', 'expected-since', 'drills', 'rebuilds', 'reports'])("GIVEN a tier named '%s' THEN synth refuses it: an instance could forge what the kit writes there", (name) => {
    const tiers = { daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30 }, [name]: { retentionDays: 7 } };
    expect(() => loadConfig({ ...exampleConfig, tiers, targets: (exampleConfig.targets ?? []).map((target) => ({ ...target, tiers: ['daily'] })) } as never)).toThrow(
      new RegExp(`tiers\\.${name}: the prefix '${name}/' of the backup bucket holds .*, which no instance may write; name the tier differently`),
    );
  });
});
