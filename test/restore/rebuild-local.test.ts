import { describe, expect, it } from 'vitest';
import { rebuildScenario } from '../support/rebuild-scenario';

/** The rebuild end to end on this machine: real backups, real verification, the functions' code, the restore document run as the agent runs it. */

describe('rebuild a lost server onto a new one (PostgreSQL, SQLite, files, and configuration files in their own places)', () => {
  it('restores every target onto the new server, the database first, each equal to the lost server\'s data, and reports the total time', async () => {
    const report = await rebuildScenario({ rows: 2000 });
    // THEN the plan took each target's newest verified backup, the database first
    expect(report.plan.steps.map((step) => [step.target, step.backup.how])).toEqual([
      ['shop-db', 'newest verified'],
      ['app-sqlite', 'newest verified'],
      ['media', 'newest verified'],
      ['app-config', 'newest verified'],
    ]);
    // AND the read-only check on the new server found nothing missing (tools, PostgreSQL, directories, space)
    expect(report.plan.steps.map((step) => [step.target, step.preflight?.status])).toEqual([
      ['shop-db', 'ready'],
      ['app-sqlite', 'ready'],
      ['media', 'ready'],
      ['app-config', 'ready'],
    ]);
    // AND every step ran on the new server, one after another, and succeeded
    expect(report.record.steps.map((step) => [step.target, step.status])).toEqual([
      ['shop-db', 'succeeded'],
      ['app-sqlite', 'succeeded'],
      ['media', 'succeeded'],
      ['app-config', 'succeeded'],
    ]);
    // AND what came back equals what was lost
    expect(report.compared).toEqual([
      { target: 'media', kind: 'files', equal: true },
      { target: 'app-sqlite', kind: 'sqlite', equal: true },
      { target: 'app-config', kind: 'files', equal: true },
      { target: 'shop-db', kind: 'postgres', equal: true },
    ]);
    // AND one alert gives each result and the measured total
    expect(report.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(report.alert?.subject).toMatch(new RegExp(`^backup-kit rebuild done: app-server onto i-0bbbbbbbbbbbbbbbb in ${report.rtoSeconds} s`));
    expect(report.alert?.message).toMatch(/1\. shop-db \(postgres\): succeeded[\s\S]*2\. app-sqlite \(sqlite\): succeeded[\s\S]*3\. media \(files\): succeeded[\s\S]*4\. app-config \(files\): succeeded/);
  });
});
