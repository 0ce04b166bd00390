import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { App, Stack } from 'aws-cdk-lib';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupResult } from '../../contracts/backup-command';
import { manifestSchema } from '../../contracts/manifest';
import { BackupCommandDocument } from '../../lib/constructs/backup-command-document';
import { withScriptState } from '../support/backup-script';
import { MOTO_REGION, MotoServer } from '../support/moto';
import { removeDir, run, scratchDir } from '../support/processes';
import { renderDocumentStep } from './support';

/**
 * The document as synthesized with the repository's real instance scripts, its step rendered the
 * way SSM renders it and run with bash against moto: the glue between the trigger's parameters,
 * the document and the scripts. (The scripts' own round trips per kind live with the scripts.)
 */
describe('backup document with the real instance scripts, against moto', () => {
  let moto: MotoServer;
  let scratch: string;
  let bucket: string;
  let keyArn: string;

  beforeAll(async () => {
    moto = await MotoServer.start();
    ({ bucket, keyArn } = await moto.createBackupBucket('backup-document-round-trip'));
    scratch = scratchDir('document-round-trip');
  });
  afterAll(async () => {
    await moto?.stop();
    if (scratch) removeDir(scratch);
  });

  const content = () => new BackupCommandDocument(new Stack(new App(), 'Doc'), 'Document', { documentName: 'BackupKit-test-InstanceBackup' }).content;

  function runStep(values: Record<string, string>, edit: (step: string) => string = (step) => step) {
    const script = join(scratch, `step-${Date.now()}.sh`);
    writeFileSync(script, edit(renderDocumentStep(content(), values)));
    return spawnSync('bash', [script], { encoding: 'utf8', env: withScriptState(moto.env({ AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0', TMPDIR: scratch })) });
  }

  const common = () => ({
    tier: 'daily',
    bucket,
    kmsKeyId: keyArn,
    retentionDays: '1',
    region: MOTO_REGION,
    objectLockMode: 'GOVERNANCE',
    dbHost: '',
    dbPort: '',
    dbName: '',
    dbUser: '',
    passwordSsmParameter: '',
    passwordSecretId: '',
    paths: '',
    excludes: '',
    executionTimeout: '600',
  });

  it('GIVEN a SQLite target WHEN the step runs THEN the backup and its manifest land under the tier and target, as BACKUP_RESULT says', async () => {
    const database = join(scratch, 'app db.sqlite3');
    run('sqlite3', [database, 'CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES (\'one\'), (\'two\');']);
    const step = runStep({ ...common(), target: 'app-sqlite', kind: 'sqlite', path: database });
    expect(step.stderr).not.toMatch(/No such file|command not found/);
    expect(step.status, step.stderr).toBe(0);
    const parsed = parseBackupResult(step.stdout);
    if (!parsed.found) throw new Error(parsed.reason);
    expect(parsed.result).toMatchObject({ target: 'app-sqlite', tier: 'daily', kind: 'sqlite', bucket });
    expect(parsed.result.key).toMatch(/^daily\/app-sqlite\/\d{4}\/\d{2}\/\d{2}\/app-sqlite_\d{8}T\d{6}Z\.sqlite\.gz$/);

    const s3 = moto.s3();
    const stored = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: parsed.result.key }))).Body!.transformToByteArray());
    expect(createHash('sha256').update(stored).digest('hex')).toBe(parsed.result.sha256);
    expect(stored.length).toBe(parsed.result.bytes);
    const manifestBody = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${parsed.result.key}.manifest.json` }))).Body!.transformToString();
    const manifest = manifestSchema.parse(JSON.parse(manifestBody));
    expect(manifest).toMatchObject({ target: 'app-sqlite', tier: 'daily', instance: 'i-0123456789abcdef0', sha256: parsed.result.sha256 });
    const restored = join(scratch, 'restored.sqlite3');
    writeFileSync(restored, gunzipSync(stored));
    expect(run('sqlite3', [restored, 'SELECT body FROM notes ORDER BY id']).trim()).toBe('one\ntwo');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: parsed.result.key }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
  });

  it('GIVEN a files target with excludes THEN the archive leaves the excluded paths out', async () => {
    const media = join(scratch, 'media');
    mkdirSync(join(media, 'cache'), { recursive: true });
    writeFileSync(join(media, 'photo.jpg'), 'jpeg bytes');
    writeFileSync(join(media, 'cache', 'thumb.jpg'), 'thumbnail');
    writeFileSync(join(media, 'upload.tmp'), 'partial');
    const step = runStep({ ...common(), target: 'app-media', kind: 'files', path: media, excludes: 'cache:*.tmp' });
    expect(step.status, step.stderr).toBe(0);
    const parsed = parseBackupResult(step.stdout);
    if (!parsed.found) throw new Error(parsed.reason);
    const stored = Buffer.from(await (await moto.s3().send(new GetObjectCommand({ Bucket: bucket, Key: parsed.result.key }))).Body!.transformToByteArray());
    const archive = join(scratch, 'media.tar');
    writeFileSync(archive, gunzipSync(stored));
    const listing = run('tar', ['-tf', archive]);
    expect(listing).toMatch(/photo\.jpg/);
    expect(listing).not.toMatch(/thumb\.jpg|upload\.tmp/);
  });

  it('GIVEN a path that does not exist THEN the step fails with the exit code of the script and writes no backup or manifest', async () => {
    const step = runStep({ ...common(), target: 'missing-sqlite', kind: 'sqlite', path: join(scratch, 'nope.sqlite3') });
    // Which code (bad input or dump) is the scripts' contract, tested with them; the step passes it on.
    expect([2, 4]).toContain(step.status);
    expect(step.stderr).toMatch(/nope\.sqlite3/);
    expect(parseBackupResult(step.stdout).found).toBe(false);
    const listed = await moto.s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'daily/missing-sqlite/' }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  it('GIVEN an unpacked script that is not the one whose SHA-256 the document lists THEN the step stops before running anything', async () => {
    const database = join(scratch, 'checked.sqlite3');
    run('sqlite3', [database, 'CREATE TABLE t (x); INSERT INTO t VALUES (1)']);
    // The listed digest of backup.sh changed: as if the bundle held another backup.sh than the one listed.
    const step = runStep({ ...common(), target: 'checked-sqlite', kind: 'sqlite', path: database }, (text) =>
      text.replace(/^[0-9a-f]{64}(  backup\.sh)$/m, `${'0'.repeat(64)}$1`),
    );
    expect(step.status).not.toBe(0);
    expect(step.stdout).toMatch(/^backup\.sh: FAILED$/m);
    expect(step.stderr).toMatch(/1 computed checksum did NOT match/);
    const listed = await moto.s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'daily/checked-sqlite/' }));
    expect(listed.Contents ?? []).toEqual([]);
  });
});
