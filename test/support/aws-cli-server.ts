import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { closeStdinAndWait, readyLine } from './processes';

/**
 * vitest global setup: puts an `aws` command first on PATH that runs the real AWS CLI v1 through
 * a server (aws_cli_server.py) whose workers have imported it already, so that the instance
 * scripts' hundreds of CLI calls do not each start Python and import botocore again. The CLI's code, requests and output are unchanged; the server is
 * checked against the CLI it stands for in test/foundation/aws-cli-server.test.ts.
 *
 * `BACKUP_KIT_PLAIN_AWS_CLI=1` turns it off; so does a CLI that is not a Python script (v2).
 */
export const SERVED_MARKER = 'BACKUP_KIT_AWS_CLI_SERVER';

/** The command a shell would run, found here: a shell started without a terminal may read ~/.bashrc, which can change PATH. */
function firstOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function pythonOf(script: string): string | undefined {
  const firstLine = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!(\S*python[0-9.]*)\s*$/.exec(firstLine);
  return match?.[1];
}

/**
 * Starts a server for the CLI at realAws in dir. Its `aws` command is dir/aws: the shim compiled
 * from aws_cli_shim.c when `cc` is there (a call starts in a millisecond, not Python's tens),
 * else the Python shim the server writes (dir/aws-python, kept either way). Undefined when that
 * CLI is not the Python v1.
 */
export async function startAwsCliServer(realAws: string, dir: string): Promise<ChildProcess | undefined> {
  const python = pythonOf(realAws);
  if (!python) return undefined;
  const socket = join(dir, 'socket');
  const pythonShim = join(dir, 'aws-python');
  const server: ChildProcess = spawn(python, [join(__dirname, 'aws_cli_server.py'), 'serve', socket, pythonShim, realAws], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await readyLine(server, 'aws_cli_server.py');
  const compiled = spawnSync(
    'cc',
    ['-O2', '-Wall', '-Werror', `-DSOCKET_PATH=${JSON.stringify(socket)}`, `-DREAL_AWS=${JSON.stringify(realAws)}`, '-o', join(dir, 'aws'), join(__dirname, 'aws_cli_shim.c')],
    { encoding: 'utf8' },
  );
  if (compiled.status !== 0) {
    if (!compiled.error) console.warn(`aws-cli-server: the C shim did not compile, the Python one stands in: ${compiled.stderr}`);
    copyFileSync(pythonShim, join(dir, 'aws'));
    chmodSync(join(dir, 'aws'), 0o755);
  }
  return server;
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.BACKUP_KIT_PLAIN_AWS_CLI === '1' || process.env[SERVED_MARKER]) return undefined;
  const realAws = firstOnPath('aws') ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'backup-kit-aws-cli-'));
  const server = realAws ? await startAwsCliServer(realAws, dir) : undefined;
  if (!server) {
    console.warn(`aws-cli-server: '${realAws || 'aws'}' is not the Python AWS CLI v1; the tests run it directly`);
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  process.env.PATH = `${dir}:${process.env.PATH ?? ''}`;
  process.env[SERVED_MARKER] = realAws;
  return async () => {
    await closeStdinAndWait(server);
    rmSync(dir, { recursive: true, force: true });
  };
}
