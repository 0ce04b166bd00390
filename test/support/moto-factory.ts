import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeStdinAndWait, readyLine } from './processes';

/**
 * vitest global setup: one `moto_front.py factory` for the run, which starts each test file's
 * moto server as a fork of itself (moto imported once instead of once per file). MotoServer.start
 * finds it through this variable; without it (BACKUP_KIT_PLAIN_MOTO=1, or a file run on its own
 * outside vitest) each server is started the plain way.
 */
export const MOTO_FACTORY_SOCKET = 'BACKUP_KIT_MOTO_FACTORY_SOCKET';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.BACKUP_KIT_PLAIN_MOTO === '1' || process.env[MOTO_FACTORY_SOCKET]) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'backup-kit-moto-'));
  const socket = join(dir, 'socket');
  const factory: ChildProcess = spawn('python3', [join(__dirname, 'moto_front.py'), 'factory', socket], { stdio: ['pipe', 'pipe', 'inherit'] });
  await readyLine(factory, 'moto_front.py factory');
  process.env[MOTO_FACTORY_SOCKET] = socket;
  return async () => {
    await closeStdinAndWait(factory);
    rmSync(dir, { recursive: true, force: true });
  };
}
