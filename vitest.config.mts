import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { defineConfig } from 'vitest/config';

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

/**
 * The tests that run the instance scripts for real (databases, the S3 emulator, the AWS CLI):
 * most of the suite's time. `npm run test:unit` leaves them out for the edit loop; `npm test`
 * (and CI) runs everything.
 */
const ROUND_TRIPS = [
  'test/instance/*-backup.test.ts',
  'test/restore/restore-{files,sqlite,postgres,mysql,confinement}.test.ts',
  'test/verify/real-backups.test.ts',
  'test/backup-jobs/document-round-trip.test.ts',
];

/**
 * Files that neither mock an SDK client nor change process.env, nor start servers: they share one
 * module cache per worker (aws-cdk-lib is imported once, not once per file). Files with SDK mocks
 * stay isolated: a class-wide mock made at a module's load would outlive its file.
 */
const SHARED_MODULES = [
  'test/backup-jobs/{backup-jobs.construct,backup-jobs.template,contract,docs,targets-config}.test.ts',
  'test/foundation/{architecture,config,docs-links,handlers,house-function,metrics-contract,storage}.test.ts',
  'test/instance/lint.test.ts',
  'test/rds-restore/{config,template}.test.ts',
  'test/restore/s3-version-restore.template.test.ts',
  'test/security/{deploy-step,guard-alerts,iam-claims,isolated-account,policy-reference}.test.ts',
  'test/verify/{config,configured-targets,mysql-rows,mysql-trailer,stream-check,template}.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...ROUND_TRIPS, ...SHARED_MODULES] } },
      { extends: true, test: { name: 'unit-shared', include: SHARED_MODULES, isolate: false } },
      { extends: true, test: { name: 'round-trips', include: ROUND_TRIPS } },
    ],
    // CDK synth and the instance-script round trips are slow, and slower still while the other
    // workers run theirs (the longest took 170 s of a 26-minute run here): a generous budget.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Most of the suite waits on child processes (databases, the S3 emulator, the AWS CLI): one
    // worker per core plus one keeps both cores busy. Every file starts its own servers on free ports.
    maxWorkers: 3,
    setupFiles: ['test/setup.ts'],
    // The AWS CLI v1 through a fork server (the same CLI code without a Python start per call).
    globalSetup: ['test/support/aws-cli-server.ts'],
  },
});
