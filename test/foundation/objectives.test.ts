import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { DEFAULT_OBJECTIVES, objectivesFor } from '../../contracts/objectives';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { cronLongestGapHours } from '../../contracts/cron';
import { DEFAULT_TIERS } from '../../lib/config/schema';
import { configErrorOf } from '../support/config-errors';

/** Recovery objectives: their defaults, and the RPOs no schedule could keep, refused at synth. */

const withTarget = (changes: object, tiers?: object): BackupKitConfigInput => ({
  ...exampleConfig,
  ...(tiers ? { tiers } : {}),
  targets: (exampleConfig.targets ?? []).map((target, index) => (index === 0 ? { ...target, ...changes } : target)),
}) as BackupKitConfigInput;

describe('recovery objectives', () => {
  it("default to the seeds': databases RPO 24 h and RTO 2 h, files RPO 24 h and RTO 4 h; a configured field overrides its default only", () => {
    expect(DEFAULT_OBJECTIVES).toEqual({ database: { rpoHours: 24, rtoHours: 2 }, files: { rpoHours: 24, rtoHours: 4 } });
    expect(['postgres', 'mysql', 'sqlite', 'rds', 'aurora', 'dynamodb'].map((kind) => objectivesFor(kind, undefined).rtoHours)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(['files', 's3', 'efs'].map((kind) => objectivesFor(kind, undefined).rtoHours)).toEqual([4, 4, 4]);
    expect(objectivesFor('files', { rpoHours: 48 })).toEqual({ rpoHours: 48, rtoHours: 4 });
  });

  it.each([
    ['cron(0 2 * * ? *)', 24],
    ['cron(0 3 ? * SUN *)', 168],
    ['cron(0 */6 * * ? *)', 6],
    ['cron(15 1,13 * * ? *)', 12],
    ['cron(0 2 ? * MON-FRI *)', 72],
    ['cron(0/30 8-18 ? * 2-6 *)', 61.5],
    ['cron(0 4 1 * ? *)', 744],
    ['cron(0 2 L * ? *)', undefined],
    ['cron(0 2 * * ? 2027)', undefined],
  ])('the longest gap between runs of %s is %s h', (schedule, gap) => {
    expect(cronLongestGapHours(schedule)).toBe(gap);
  });

  it('GIVEN an RPO shorter than the gaps of the target\'s most frequent tier THEN synth fails naming the RPO and the schedule', () => {
    expect(configErrorOf(withTarget({ objectives: { rpoHours: 6 } }))).toMatch(
      /targets\.0\.objectives\.rpoHours: 6 h is shorter than the longest gap between backups of target 'orders-db' in its most frequent tier \(tiers\.daily\.schedule 'cron\(0 2 \* \* \? \*\)': 24 h\)/,
    );
    const sixHourly = { ...DEFAULT_TIERS, hourly: { schedule: 'cron(0 */6 * * ? *)', retentionDays: 7, transitions: [] } };
    expect(() => loadConfig(withTarget({ objectives: { rpoHours: 6 } }, sixHourly))).not.toThrow();
  });

  it('GIVEN a target backed up weekly only, with the default RPO THEN synth fails saying the 24 h is the default', () => {
    expect(configErrorOf(withTarget({ tiers: ['weekly'] }))).toMatch(/targets\.0\.objectives\.rpoHours: 24 h \(the default for a postgres target\) is shorter than .*tiers\.weekly\.schedule 'cron\(0 3 \? \* SUN \*\)': 168 h/);
  });

  it('GIVEN a target in no scheduled tier THEN synth warns that only manual backups keep its RPO', () => {
    const { warnings } = loadConfig(withTarget({ tiers: ['manual'] }));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^targets\.0\.objectives\.rpoHours: target 'orders-db' is in no scheduled tier/)]));
  });

  it("GIVEN an AWS Backup class RPO shorter than its most frequent rule's gaps THEN synth fails naming both; a continuous rule keeps any", () => {
    const classes = (rules: object) => ({ ...exampleConfig, awsBackup: { classes: { media: { resources: { s3Buckets: ['example-team-media'] }, objectives: { rpoHours: 12 }, rules } } } }) as BackupKitConfigInput;
    expect(configErrorOf(classes({ daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35 } }))).toMatch(
      /awsBackup\.classes\.media\.objectives\.rpoHours: 12 h is shorter than the longest gap between recovery points of its most frequent rule \(awsBackup\.classes\.media\.rules\.daily\.schedule/,
    );
    expect(() => loadConfig(classes({ daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35 }, pitr: { schedule: 'cron(0 1 * * ? *)', retentionDays: 35, continuous: true } }))).not.toThrow();
  });

  it('GIVEN objectives that are not positive hours, or unknown fields THEN synth fails naming each', () => {
    const message = configErrorOf({ ...withTarget({ objectives: { rpoHours: 0, rtoHours: -1 } }), rds: { instances: [{ identifier: 'orders-db', objectives: { rpo: 24 } }] } });
    expect(message).toContain('targets.0.objectives.rpoHours');
    expect(message).toContain('targets.0.objectives.rtoHours');
    expect(message).toMatch(/rds\.instances\.0\.objectives: Unrecognized key.*rpo/);
  });
});
