import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../../contracts/manifest';
import { backupEnv, fetchBackup, listKeys, runBackupScript } from '../support/backup-script';
import { MotoServer } from '../support/moto';
import { commandLines, removeDir, run, scratchDir, stopProcess, waitFor } from '../support/processes';

/**
 * Runs sqlite3, again while the database is locked: in rollback-journal mode a writer committing
 * every few milliseconds on a loaded machine can hold a reader off beyond its busy timeout (seen in
 * CI). The backup under test copes with that itself; the test's own reads only need to wait.
 */
function sqliteRead(args: readonly string[]): string {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return run('sqlite3', ['-batch', '-bail', '-cmd', '.timeout 10000', ...args]);
    } catch (error) {
      if (!/database is locked/.test(String(error)) || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.floor(Math.random() * 80));
    }
  }
}

const sqlite = (database: string, sql: string): string => sqliteRead([database, sql]).trim();

/** A database with fixed tables (one with an awkward name) and an `events` table for writers. */
function createDatabase(path: string, journalMode: string): void {
  sqlite(
    path,
    `PRAGMA journal_mode = ${journalMode};
     CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT NOT NULL, taken_at TEXT, data BLOB);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
     INSERT INTO photos SELECT i, 'photos/' || i || ' é.jpg', datetime('2024-01-01', '+' || i || ' minutes'), randomblob(2048) FROM n;
     CREATE TABLE "repair requests" (id INTEGER PRIMARY KEY, status TEXT, cost REAL);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 750)
     INSERT INTO "repair requests" SELECT i, CASE i % 3 WHEN 0 THEN 'open' ELSE 'done' END, i * 12.5 FROM n;
     CREATE TABLE events (id INTEGER PRIMARY KEY, note TEXT);
     CREATE INDEX photos_taken ON photos (taken_at);`,
  );
}

/**
 * The rows `query` returns from `database` but not from `other`, one line each (blobs as digests): a
 * short list that says which rows differ. A query, not `.dump`, which prints a read error as a
 * comment and still exits 0.
 */
function rowsOnlyInFirst(database: string, other: string, query: string): string[] {
  const rows = (path: string) => sqliteRead(['-cmd', '.mode quote', path, query]).trim().split('\n');
  const inOther = new Set(rows(other));
  return rows(database).filter((row) => !inOther.has(row));
}

describe('backup.sh, kind sqlite', () => {
  let moto: MotoServer;
  let bucket: string;
  let keyArn: string;
  let work: string;

  beforeAll(async () => {
    moto = await MotoServer.start();
    ({ bucket, keyArn } = await moto.createBackupBucket('sqlite-backups'));
    work = scratchDir('sqlite');
    chmodSync(work, 0o755);
  });

  afterAll(async () => {
    await moto?.stop();
    removeDir(work);
  });

  const inputs = (path: string, extra: Record<string, string | undefined> = {}) =>
    backupEnv(moto, { BK_TARGET: 'app-sqlite', BK_KIND: 'sqlite', BK_BUCKET: bucket, BK_KMS_KEY_ID: keyArn, BK_PATH: path, ...extra });

  it.each(['wal', 'delete'])(
    'takes a consistent copy through the online backup API while a writer inserts (journal_mode=%s)',
    async (journalMode) => {
      // GIVEN a database and a process inserting into it continuously
      const dir = join(work, journalMode);
      mkdirSync(dir);
      const path = join(dir, 'db.sqlite3');
      createDatabase(path, journalMode);
      const pause = join(dir, 'pause.fifo');
      const writer: ChildProcess = spawn(
        'bash',
        // One connection, one transaction per insert like an application's short ones, 5 ms apart
        // (a read that times out on a FIFO nobody writes: no process per pause or per insert). The
        // loop is this shell itself and sqlite3 its only child: once the shell is stopped, sqlite3
        // reads the end of its input and exits.
        [
          '-c',
          `mkfifo '${pause}' && exec 3<>'${pause}' && exec > >(exec sqlite3 -batch -bail -cmd '.timeout 20000' '${path}') && for ((i = 1; ; i++)); do printf "INSERT INTO events (note) VALUES ('event %d');\n" "$i"; read -r -t 0.005 -u 3 || :; done`,
        ],
        { stdio: 'ignore' },
      );
      try {
        const countEvents = (database: string) => Number(sqlite(database, 'SELECT count(*) FROM events'));
        await waitFor('the writer to start', () => countEvents(path) > 0);
        const before = countEvents(path);

        // WHEN the backup runs meanwhile
        const run1 = await runBackupScript(inputs(path, { BK_TARGET: `app-${journalMode}` }));
        const after = countEvents(path);

        // THEN it succeeds; the object matches the manifest and the result line
        expect(run1.status, run1.stderr).toBe(0);
        const stored = await fetchBackup(moto, bucket, run1.result!.key);
        expect(run1.result).toMatchObject({ kind: 'sqlite', bytes: stored.manifest.bytes, sha256: stored.manifest.sha256 });
        expect(run1.result!.key).toBe(backupKey('daily', `app-${journalMode}`, 'sqlite', new Date(stored.manifest.startedAt)));
        expect(stored.manifest).toMatchObject({ format: 'sqlite', compression: 'gzip' });
        expect(stored.manifest.tools).toHaveProperty('sqlite3');

        // AND the gunzipped copy is a sound database holding a snapshot taken during the run
        const restored = join(dir, 'restored.sqlite3');
        writeFileSync(restored, stored.dump);
        expect(sqlite(restored, 'PRAGMA integrity_check')).toBe('ok');
        const counted = stored.manifest.database?.rowCounts.events ?? -1;
        expect(countEvents(restored)).toBe(counted);
        expect(counted).toBeGreaterThanOrEqual(before);
        expect(counted).toBeLessThanOrEqual(after);
        expect(after).toBeGreaterThan(before);

        // AND the tables nobody wrote to are identical, and counted exactly
        for (const [table, query] of [
          ['photos', 'SELECT id, path, taken_at, hex(sha3(data)) FROM photos ORDER BY id'],
          ['"repair requests"', 'SELECT * FROM "repair requests" ORDER BY id'],
        ] as const) {
          expect(sqlite(restored, `.schema ${table}`)).toBe(sqlite(path, `.schema ${table}`));
          expect(rowsOnlyInFirst(restored, path, query), `rows of ${table} in the copy, not in the source`).toEqual([]);
          expect(rowsOnlyInFirst(path, restored, query), `rows of ${table} in the source, not in the copy`).toEqual([]);
        }
        expect(stored.manifest.database).toEqual({ tableCount: 3, rowCounts: { photos: 4000, 'repair requests': 750, events: counted } });
      } finally {
        await stopProcess(writer);
        // The writer's sqlite3 ends with it (a leftover would keep writing through the rest of the run).
        await waitFor("the writer's sqlite3 to end", () => !commandLines().some((line) => line.includes(path)), 10_000);
      }
    },
  );

  it('opens a database owned by another user as that user, leaving no root-owned files beside it', async () => {
    // GIVEN a WAL database owned by an application user
    const dir = join(work, 'owned');
    mkdirSync(dir);
    const path = join(dir, 'app.sqlite3');
    createDatabase(path, 'wal');
    const uid = Number(run('id', ['-u', 'postgres']).trim());
    const gid = Number(run('id', ['-g', 'postgres']).trim());
    for (const file of [dir, ...readdirSync(dir).map((name) => join(dir, name))]) chownSync(file, uid, gid);

    // WHEN root runs the backup
    const run1 = await runBackupScript(inputs(path, { BK_TARGET: 'owned' }));

    // THEN it succeeds and every file in the database's directory still belongs to the owner
    expect(run1.status, run1.stderr).toBe(0);
    expect(readdirSync(dir).map((name) => [name, statSync(join(dir, name)).uid])).toEqual(readdirSync(dir).map((name) => [name, uid]));
    const stored = await fetchBackup(moto, bucket, run1.result!.key);
    expect(stored.manifest.database?.rowCounts.photos).toBe(4000);
  });

  it.each([
    ['does not exist', () => join(work, 'missing.sqlite3'), /BK_PATH '.*missing\.sqlite3' is not a file/],
    ['is not a SQLite database', () => {
      const path = join(work, 'not-a-db.sqlite3');
      writeFileSync(path, 'just some text, not a database\n');
      return path;
    }, /is not a SQLite database/],
  ])('exits 4 (dump) when BK_PATH %s, and stores nothing', async (_case, path, message) => {
    const run1 = await runBackupScript(inputs(path(), { BK_TARGET: 'broken-sqlite' }));
    expect(run1.status).toBe(4);
    expect(run1.stderr).toMatch(message);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/broken-sqlite/'))).toEqual([]);
  });
});
