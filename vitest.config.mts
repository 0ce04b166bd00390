import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/support/longest-first.js';
import { ROUND_TRIPS, SHARED_MODULES } from './test/support/test-plan.js';

/**
 * pyenv puts a shell shim first on PATH that re-resolves the interpreter on every call: about a
 * third of an AWS CLI v1 call here. The instance-script tests make well over a thousand calls,
 * so the workers get pyenv's real bin directory first (the same CLI, without the detour).
 */
function skipPyenvShims(): void {
  const which = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
  const real = which.status === 0 ? which.stdout.trim() : '';
  if (real) process.env.PATH = `${dirname(real)}:${process.env.PATH ?? ''}`;
}
skipPyenvShims();

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
    setupFiles: ['test/setup.ts'],
    // The AWS CLI v1 through a fork server (the same CLI code without a Python start per call).
    globalSetup: ['test/support/aws-cli-server.ts', 'test/support/moto-factory.ts'],
  },
});
