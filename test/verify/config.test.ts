import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig } from '../../lib/config/config';
import { daysOfWeek, derivedMaxAgeHours, tierMaxAgeHours } from '../../lib/config/sections/verification';

const withVerification = (verification: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ ...exampleConfig, ...extra, verification });

describe('verification config', () => {
  it('GIVEN no verification section WHEN loaded THEN the defaults apply: 05:00, 26 h, 0.8x/2x of 7, 30 min replication allowance', () => {
    const { verification } = loadConfig({ prefix: 'kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1' }).config;
    expect(verification).toMatchObject({
      schedule: 'cron(0 5 * * ? *)',
      maxAgeHours: 26,
      sizeAnomaly: { lowerRatio: 0.8, upperRatio: 2, history: 7, flagIdenticalSize: true },
      replicationAllowanceMinutes: 30,
      sqliteIntegrityCheckMaxMiB: 128,
      workerMemoryMiB: 1769,
      maxConcurrency: 10,
      maxObjectGiB: 16,
    });
  });

  it('GIVEN the default tiers WHEN their age limits are derived THEN daily 26 h, weekly 8 days, monthly 32 days and on-demand none', () => {
    const { config } = loadConfig({ prefix: 'kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1' });
    expect(Object.fromEntries(Object.keys(config.tiers).map((tier) => [tier, tierMaxAgeHours(config, tier)]))).toEqual({
      daily: 26,
      weekly: 192,
      monthly: 768,
      manual: undefined,
      predeploy: undefined,
    });
  });

  it('GIVEN a weekday-only schedule WHEN derived THEN the weekend gap plus a day is allowed', () => {
    expect(daysOfWeek('MON-FRI')).toEqual([1, 2, 3, 4, 5]);
    expect(derivedMaxAgeHours('cron(0 2 ? * MON-FRI *)', 26)).toBe(4 * 24);
    expect(derivedMaxAgeHours('cron(0 2 ? * 1,4 *)', 26)).toBe(5 * 24);
  });

  it('GIVEN a per-tier override WHEN loaded THEN it wins over the derived value', () => {
    const { config } = loadConfig(withVerification({ tierMaxAgeHours: { weekly: 200 } }));
    expect(tierMaxAgeHours(config, 'weekly')).toBe(200);
  });

  it('GIVEN an override for a tier that does not exist WHEN loaded THEN synth fails naming the field', () => {
    expect(() => loadConfig(withVerification({ tierMaxAgeHours: { hourly: 2 } }))).toThrow(/verification\.tierMaxAgeHours\.hourly: no tier named 'hourly'/);
  });

  it('GIVEN a tier whose cadence cannot be derived WHEN loaded without an override THEN synth fails asking for one', () => {
    const tiers = { quarterly: { schedule: 'cron(0 4 1 1,4,7,10 ? *)', retentionDays: 400 } };
    // Backed up quarterly, the targets can only promise a quarter's data.
    const targets = (exampleConfig.targets ?? []).map((target) => ({ ...target, objectives: { rpoHours: 93 * 24 } }));
    expect(() => loadConfig(withVerification({}, { tiers, targets }))).toThrow(/verification\.tierMaxAgeHours\.quarterly: cannot derive the maximum backup age .* set it here in hours/);
    expect(() => loadConfig(withVerification({ tierMaxAgeHours: { quarterly: 94 * 24 } }, { tiers, targets }))).not.toThrow();
  });

  it('GIVEN a schedule that is not an EventBridge cron WHEN loaded THEN synth fails naming the field', () => {
    expect(() => loadConfig(withVerification({ schedule: '0 5 * * *' }))).toThrow(/verification\.schedule: '0 5 \* \* \*' is not an EventBridge Scheduler cron expression/);
  });

  it('GIVEN size ratios on the wrong side of 1 WHEN loaded THEN synth fails naming them', () => {
    expect(() => loadConfig(withVerification({ sizeAnomaly: { lowerRatio: 1.2 } }))).toThrow(/verification\.sizeAnomaly\.lowerRatio/);
    expect(() => loadConfig(withVerification({ sizeAnomaly: { upperRatio: 0.9 } }))).toThrow(/verification\.sizeAnomaly\.upperRatio/);
  });

  it('GIVEN a SQLite check limit the worker memory cannot hold WHEN loaded THEN synth fails naming both', () => {
    expect(() => loadConfig(withVerification({ sqliteIntegrityCheckMaxMiB: 512, workerMemoryMiB: 1024 }))).toThrow(/verification\.sqliteIntegrityCheckMaxMiB: 512 MiB needs about 1664 MiB of worker memory but workerMemoryMiB is 1024/);
  });

  it('GIVEN concurrency outside what SQS event sources allow WHEN loaded THEN synth fails', () => {
    expect(() => loadConfig(withVerification({ maxConcurrency: 1 }))).toThrow(/verification\.maxConcurrency/);
  });

  it('GIVEN replication without Replication Time Control and a short allowance WHEN loaded THEN a warning says replicas may be reported missing', () => {
    const { warnings } = loadConfig(withVerification({ replicationAllowanceMinutes: 30 }, { replication: { replicationTimeControl: false, metrics: true } }));
    expect(warnings.join('\n')).toMatch(/verification\.replicationAllowanceMinutes: 30 min with Replication Time Control off/);
  });
});
