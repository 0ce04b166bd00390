import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/support/longest-first.js';
import { ROUND_TRIPS, SHARED_MODULES } from './test/support/test-plan.js';

/**
 * Two launchers stand between a test and the program it runs: pyenv's shell shim re-resolves the
 * interpreter on every AWS CLI call (about a third of a v1 call here), and Debian's Perl
 * pg_wrapper picks a PostgreSQL client version on every psql, pg_dump and pg_restore (40 ms
 * each). The workers get the directories they lead to first on PATH: the same programs, without
 * the detour. Resolved once per run (vitest loads this file once per project).
 */
function skipLaunchers(): void {
  const marker = 'BACKUP_KIT_LAUNCHERS_SKIPPED';
  if (process.env[marker]) return;
  const direct: string[] = [];
  const which = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) direct.push(dirname(which.stdout.trim()));
  const postgres = ['17', '16', '15', '14'].map((version) => `/usr/lib/postgresql/${version}/bin`).find((dir) => existsSync(`${dir}/psql`));
  if (postgres) direct.push(postgres);
  process.env.PATH = [...direct, process.env.PATH ?? ''].join(':');
  process.env[marker] = direct.join(':') || 'none';
}
skipLaunchers();

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...ROUND_TRIPS, ...SHARED_MODULES] } },
      { extends: true, test: { name: 'unit-shared', include: [...SHARED_MODULES], isolate: false } },
      { extends: true, test: { name: 'round-trips', include: [...ROUND_TRIPS] } },
    ],
    // CDK synth and the instance-script round trips are slow, and slower still while the other
    // workers run theirs (the longest took 170 s of a 26-minute run here): a generous budget.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Most of the suite waits on child processes (databases, the S3 emulator, the AWS CLI): one
    // worker per core plus one keeps both cores busy. Every file starts its own servers on free ports.
    maxWorkers: 3,
    sequence: { sequencer: LongestFirst },
    // aws-cdk-lib validates every synthesized template against CloudFormation's rules (a WASM
    // engine: about 3 s to start in each worker, half a second per app), a third of the unit
    // tests' CPU. The template tests assert properties; the validation's proof is the real synth's
    // (the bin/app.ts test and `cdk synth` in CI, where cdk.json makes a finding fail it), and
    // test/foundation/template-validation.test.ts turns it back on for itself.
    env: { CDK_VALIDATION: 'false' },
    setupFiles: ['test/setup.ts'],
    // One TMPDIR for the run, removed at its end; the AWS CLI v1 through a fork server (the same CLI
    // code without a Python start per call).
    globalSetup: ['test/support/run-tmpdir.ts', 'test/support/aws-cli-server.ts', 'test/support/moto-factory.ts'],
  },
});
