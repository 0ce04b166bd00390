/**
 * How `npm test` splits and orders the test files (read by vitest.config.mts, checked by
 * test/foundation/test-loop.test.ts). Plain data: no vitest import.
 */

/**
 * The tests that run the instance scripts for real (databases, the S3 emulator, the AWS CLI):
 * most of the suite's time. `npm run test:unit` leaves them out for the edit loop; `npm test`
 * (and CI) runs everything.
 */
export const ROUND_TRIPS: readonly string[] = [
  'test/instance/*-backup.test.ts',
  'test/restore/restore-{files,file-set,sqlite,postgres,mysql,confinement}.test.ts',
  'test/restore/rebuild-local.test.ts',
  'test/restore/restore-preflight.test.ts',
  'test/verify/real-backups.test.ts',
  'test/backup-jobs/document-round-trip.test.ts',
  'test/aws-backup/database-probe.test.ts',
  'test/cli/status.test.ts',
  'test/evidence/report-browser.test.ts',
  'test/evidence/report-write.test.ts',
];

/**
 * Files that neither mock an SDK client nor change process.env, nor start servers: they share one
 * module cache per worker (aws-cdk-lib is imported once, not once per file: the unit files' CPU
 * time 305 s to 213 s). Files with SDK mocks stay isolated: a class-wide mock made at a module's
 * load would outlive its file and answer the next file's clients.
 */
export const SHARED_MODULES: readonly string[] = [
  'test/backup-jobs/backup-command-document.test.ts',
  'test/backup-jobs/backup-jobs.construct.test.ts',
  'test/backup-jobs/backup-jobs.template.test.ts',
  'test/backup-jobs/contract.test.ts',
  'test/backup-jobs/docs.test.ts',
  'test/backup-jobs/embedded-scripts.test.ts',
  'test/backup-jobs/targets-config.test.ts',
  'test/foundation/app.test.ts',
  'test/foundation/architecture.test.ts',
  'test/evidence/report.test.ts',
  'test/evidence/report.template.test.ts',
  'test/cli/rds-restore-command.test.ts',
  'test/cli/restore-command.test.ts',
  'test/aws-backup/database-probe.template.test.ts',
  'test/aws-backup/isolated-vault.test.ts',
  'test/aws-backup/managed-backup.template.test.ts',
  'test/aws-backup/managed-restore.template.test.ts',
  'test/aws-backup/vault-claims.test.ts',
  'test/foundation/aws-backup-config.test.ts',
  'test/foundation/backup-history.test.ts',
  'test/foundation/config.test.ts',
  'test/foundation/cost-estimate.test.ts',
  'test/foundation/docs-links.test.ts',
  'test/foundation/handlers.test.ts',
  'test/foundation/house-function.test.ts',
  'test/foundation/metrics-contract.test.ts',
  'test/foundation/objectives.test.ts',
  'test/foundation/scale.test.ts',
  'test/foundation/storage.test.ts',
  'test/foundation/test-loop.test.ts',
  'test/instance/common-helpers.test.ts',
  'test/instance/lint.test.ts',
  'test/rds-restore/config.test.ts',
  'test/rds-restore/template.test.ts',
  'test/restore/file-set-plan.test.ts',
  'test/restore/restore-dr.template.test.ts',
  'test/restore/s3-version-restore.template.test.ts',
  'test/security/deploy-step.test.ts',
  'test/security/guard-alerts.test.ts',
  'test/security/iam-claims.test.ts',
  'test/security/isolated-account.test.ts',
  'test/security/policy-reference.test.ts',
  'test/verify/config.test.ts',
  'test/verify/configured-targets.test.ts',
  'test/verify/lock-check.test.ts',
  'test/verify/mysql-rows.test.ts',
  'test/verify/mysql-trailer.test.ts',
  'test/verify/pg-copy-rows.test.ts',
  'test/verify/stream-check.test.ts',
  'test/verify/template.test.ts',
];

/**
 * Seconds each slow file took in a full `npm test` on the 2-core reference machine (the JSON
 * reporter's file times, under the load of the other workers). Rough is enough: they only order
 * the queue, longest first. A file missing here counts as quick; the shared-module files go first
 * whatever their time (test/support/longest-first.ts).
 */
export const EXPECTED_SECONDS: Readonly<Record<string, number>> = {
  'test/restore/restore-postgres.test.ts': 57,
  'test/instance/files-backup.test.ts': 51,
  'test/restore/restore-mysql.test.ts': 40,
  'test/restore/restore-file-set.test.ts': 39,
  'test/restore/restore-files.test.ts': 33,
  'test/restore/restore-confinement.test.ts': 32,
  'test/restore/restore-sqlite.test.ts': 32,
  'test/restore/rebuild-local.test.ts': 30,
  'test/verify/real-backups.test.ts': 24,
  'test/restore/s3-version-restore.moto.test.ts': 20,
  'test/instance/postgres-backup.test.ts': 16,
  'test/foundation/aws-cli-server.test.ts': 15,
  'test/verify/corruption-matrix.test.ts': 15,
  'test/foundation/first-week.test.ts': 15,
  'test/instance/sqlite-backup.test.ts': 10,
  'test/evidence/report-browser.test.ts': 10,
  'test/restore/restore-preflight.test.ts': 9,
  'test/restore/restore-jobs.template.test.ts': 7,
  'test/instance/mysql-backup.test.ts': 4,
  'test/backup-jobs/document-round-trip.test.ts': 3,
};
