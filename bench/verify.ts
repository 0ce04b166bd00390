/**
 * Benchmark of the verify core: one streaming pass (SHA-256, gunzip, content digest, PostgreSQL custom-format
 * parse) over a generated gzip-compressed dump read from a local file, against `sha256sum` and
 * `gzip -t` on the same file in the same run, and peak RSS at two object sizes.
 *
 *   npx tsx bench/verify.ts [--gib 1.05] [--small-mib 100] [--runs 3] [--dir /tmp] [--data realistic|random]
 *   npx tsx bench/verify.ts --make <file> <compressed MiB>     (one dump, to verify by hand:)
 *   npx tsx bench/verify.ts --verify <file> [<times>]          (figures of one process as JSON)
 *
 * For the Lambda worker's one vCPU (its default 1,769 MB), run it under `taskset -c 0`.
 *
 * The dump is a valid pg_dump -Fc -Z0 archive (archive version 1.14, as PostgreSQL 15 writes it)
 * with one length-prefixed chunk per row, as pg_dump writes COPY data, so the format parser
 * does the work it does on a real dump. `--data realistic` (the default) writes rows like an
 * application's tables (ids, names, e-mail addresses, timestamps, amounts, statuses, short
 * notes), which gzip -1 shrinks about as much as it shrinks a real dump; `--data random` writes
 * random base64, which it hardly shrinks (the verifier's worst case per compressed byte is the
 * other way round: more rows per compressed byte).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspectorFor } from '../lambda/verify/formats';
import { checkStream } from '../lambda/verify/stream-check';
import { DATA_BLOCK_END, archiveHead, dataBlockStart } from '../test/support/pg-archive';

const TABLES = 20;
/** Interleaved runs of each tool per object (`--runs`). */
let RUNS = 3;
const ROW_TEXT = 120;

/** The archive as a stream: head, then per table a data block of row chunks totalling about `bytes`. */
function archiveStream(bytes: number): Readable {
  const perTable = Math.ceil(bytes / TABLES);
  async function* generate(): AsyncGenerator<Buffer> {
    yield archiveHead(TABLES);
    let id = 0;
    for (let table = 0; table < TABLES; table++) {
      yield dataBlockStart(table);
      let written = 0;
      while (written < perTable) {
        if (DATA === 'realistic') {
          const block = realisticRows(id, perTable - written);
          id += block.rows;
          written += block.bytes;
          yield block.buffer;
          continue;
        }
        // ~1 MiB of rows per yield: each row its own chunk, as pg_dump -Z0 writes COPY data.
        const text = Buffer.from(randomBytes(768 * 1024).toString('base64'), 'latin1');
        const block = Buffer.allocUnsafe(text.length + (text.length / ROW_TEXT) * 32);
        let used = 0;
        for (let at = 0; at + ROW_TEXT <= text.length && written < perTable; at += ROW_TEXT) {
          const header = used;
          used += 5;
          used += block.write(`${id++}\t`, used, 'latin1');
          used += text.copy(block, used, at, at + ROW_TEXT);
          block[used++] = 0x0a;
          const length = used - header - 5;
          block[header] = 0;
          block.writeUInt32LE(length, header + 1);
          written += length + 5;
        }
        yield block.subarray(0, used);
      }
      yield DATA_BLOCK_END;
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

const DATA = (() => {
  const index = process.argv.indexOf('--data');
  const value = index >= 0 ? process.argv[index + 1] : 'realistic';
  if (value !== 'realistic' && value !== 'random') throw new Error('--data: realistic or random');
  return value;
})();

const FIRST = ['Ana', 'Ben', 'Chloé', 'Dmitri', 'Ewa', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marta', 'Nils', 'Olu', 'Priya'];
const LAST = ['Silva', 'Jensen', 'Moreau', 'Ivanov', 'Nowak', 'Haddad', 'Okafor', 'Tanaka', 'García', 'Berg', 'Yilmaz', 'Schmidt', 'Costa', 'Larsen', 'Adeyemi', 'Rao'];
const STATUS = ['open', 'paid', 'shipped', 'cancelled', 'refunded'];
const WORDS = ['please', 'deliver', 'to', 'back', 'door', 'gift', 'wrap', 'call', 'before', 'arrival', 'fragile', 'leave', 'with', 'neighbour', 'invoice', 'attached', 'repair', 'screen', 'battery', 'replaced'];

/** About 1 MiB of rows like an orders table, each its own chunk, starting at row `first`. */
function realisticRows(first: number, limit: number): { buffer: Buffer; rows: number; bytes: number } {
  const buffer = Buffer.allocUnsafe(1024 * 1024 + 512);
  let used = 0;
  let rows = 0;
  let bytes = 0;
  while (used < 1024 * 1024 && bytes < limit) {
    const id = first + rows;
    const pick = (list: readonly string[], salt: number) => list[(id * 2654435761 + salt) % list.length >>> 0] ?? '';
    const day = 1 + (id % 28);
    const note = id % 3 === 0 ? '\\N' : `${pick(WORDS, 1)} ${pick(WORDS, 7)} ${pick(WORDS, 13)}`;
    const line = `${id}\t${1 + (id % 50000)}\t${pick(FIRST, 3)} ${pick(LAST, 5)}\t${pick(FIRST, 3).toLowerCase()}.${pick(LAST, 5).toLowerCase()}${id % 97}@example.com\t2026-${String(1 + (id % 12)).padStart(2, '0')}-${String(day).padStart(2, '0')} ${String(id % 24).padStart(2, '0')}:${String(id % 60).padStart(2, '0')}:${String((id * 7) % 60).padStart(2, '0')}+00\t${((id * 37) % 100000) / 100}\t${pick(STATUS, 11)}\t${note}\n`;
    const header = used;
    used += 5;
    const length = buffer.write(line, used, 'utf8');
    used += length;
    buffer[header] = 0;
    buffer.writeUInt32LE(length, header + 1);
    bytes += length + 5;
    rows++;
  }
  return { buffer: buffer.subarray(0, used), rows, bytes };
}

/** Raw archive bytes for about `compressed` bytes of gzip -1: it shrinks base64 rows to about 0.76 of their size, the realistic rows to about 0.24. */
function rawFor(compressed: number): number {
  return Math.ceil(compressed / (DATA === 'random' ? 0.76 : 0.24));
}

async function makeDump(path: string, rawBytes: number): Promise<void> {
  const gzip = spawn('gzip', ['-1', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => gzip.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gzip exited ${code}`)))));
  await Promise.all([pipeline(archiveStream(rawBytes), gzip.stdin), pipeline(gzip.stdout, createWriteStream(path)), done]);
}

interface Measured {
  seconds: number;
  maxRssMiB: number;
}

/** Runs a command under /usr/bin/time for wall time and peak RSS. */
function timed(command: string, args: string[]): Measured {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %M', command, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  const [seconds = '0', kib = '0'] = (result.stderr.trim().split('\n').pop() ?? '').split(' ');
  return { seconds: Number(seconds), maxRssMiB: Number(kib) / 1024 };
}

/** Child mode: verify one file (`times` times over, as a warm Lambda would) and print the figures as JSON. */
async function verifyOne(file: string, times: number): Promise<void> {
  const peak = { heapUsedMiB: 0, externalMiB: 0 };
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peak.heapUsedMiB = Math.max(peak.heapUsedMiB, usage.heapUsed / 2 ** 20);
    peak.externalMiB = Math.max(peak.externalMiB, usage.external / 2 ** 20); // arrayBuffers are part of it
  }, 50);
  const started = process.hrtime.bigint();
  let findings = await checkStream(createReadStream(file), inspectorFor('pg_custom', { sqliteIntegrityCheckMaxBytes: 1 }, { database: { tableCount: TABLES, rowCounts: {} } }), { contentDigest: true });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (let again = 1; again < times; again++) {
    findings = await checkStream(createReadStream(file), inspectorFor('pg_custom', { sqliteIntegrityCheckMaxBytes: 1 }, { database: { tableCount: TABLES, rowCounts: {} } }), { contentDigest: true });
  }
  const problems = [findings.decompressionError, ...(findings.format?.problems ?? [])].filter(Boolean);
  clearInterval(sampler);
  console.log(JSON.stringify({ bytes: findings.bytes, decompressedBytes: findings.decompressedBytes, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, ...peak, problems, figures: findings.format?.figures }));
}

type ChildFigures = Measured & { problems: string[]; decompressedBytes: number; heapUsedMiB: number; externalMiB: number; figures: Record<string, unknown> };

/** The worker's default memory (verification.workerMemoryMiB): one full vCPU. */
const WORKER_MEMORY_MIB = 1769;
/** The flags Lambda's Node.js bootstrap starts node with, for the worker's memory: the heap sizes V8 works with there, and gc() exposed. */
const LAMBDA_NODE_FLAGS = ['--expose-gc', `--max-semi-space-size=${Math.floor(WORKER_MEMORY_MIB / 10 / 2)}`, `--max-old-space-size=${WORKER_MEMORY_MIB - Math.floor(WORKER_MEMORY_MIB / 10)}`];

function verifyInChild(file: string, times = 1): ChildFigures {
  const result = spawnSync(process.execPath, [...LAMBDA_NODE_FLAGS, ...process.execArgv, __filename, '--verify', file, String(times)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`verify child failed: ${result.stderr}`);
  const line = result.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(line) as ChildFigures;
}

/** The run of median wall time. */
function median<T extends { seconds: number }>(runs: readonly T[]): T {
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number`);
  return value;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--verify') {
    await verifyOne(process.argv[3] ?? '', Number(process.argv[4] ?? 1));
    return;
  }
  if (process.argv[2] === '--make') {
    await makeDump(process.argv[3] ?? '', rawFor(Number(process.argv[4] ?? 100) * 2 ** 20));
    return;
  }
  if (!existsSync('/usr/bin/time')) throw new Error('this benchmark needs /usr/bin/time (Debian: apt-get install time)');
  const largeGiB = option('gib', 1.05);
  RUNS = option('runs', 3);
  const smallMiB = option('small-mib', 100);
  const dirIndex = process.argv.indexOf('--dir');
  const dir = mkdtempSync(join(dirIndex >= 0 ? (process.argv[dirIndex + 1] ?? '/tmp') : '/tmp', 'verify-bench-'));
  try {
    const files = [
      { label: 'small', path: join(dir, 'small.pgdump.gz'), target: smallMiB * 2 ** 20 },
      { label: 'large', path: join(dir, 'large.pgdump.gz'), target: largeGiB * 2 ** 30 },
    ];
    for (const file of files) {
      const started = Date.now();
      await makeDump(file.path, rawFor(file.target));
      console.log(`generated ${file.label}: ${(statSync(file.path).size / 2 ** 20).toFixed(0)} MiB compressed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    console.log('');
    const rows: string[] = [];
    const header = 'object'.padEnd(8) + 'MiB'.padStart(8) + 'tool'.padStart(14) + 'seconds'.padStart(10) + 'MB/s'.padStart(9) + 'peak RSS MiB'.padStart(14) + 'vs sha256sum'.padStart(14) + 'vs gzip -t'.padStart(12);
    let largestRate = 0;
    for (const file of files) {
      const size = statSync(file.path).size;
      // Warm the page cache so every tool reads from memory alike.
      timed('sh', ['-c', `cat '${file.path}' > /dev/null`]);
      // Interleaved runs, the median of each tool: on a shared machine one run of each says little.
      const runs: { sha: Measured[]; gzipTest: Measured[]; verify: ChildFigures[] } = { sha: [], gzipTest: [], verify: [] };
      for (let run = 0; run < RUNS; run++) {
        runs.sha.push(timed('sha256sum', [file.path]));
        runs.gzipTest.push(timed('gzip', ['-t', file.path]));
        runs.verify.push(verifyInChild(file.path));
      }
      const sha = median(runs.sha);
      const gzipTest = median(runs.gzipTest);
      const verify = median(runs.verify);
      if (verify.problems.length > 0) throw new Error(`the generated dump did not verify: ${verify.problems.join('; ')}`);
      const rate = (seconds: number) => size / 1e6 / seconds;
      for (const [tool, measured] of [['verify', verify], ['sha256sum', sha], ['gzip -t', gzipTest]] as const) {
        rows.push(
          file.label.padEnd(8) +
            (size / 2 ** 20).toFixed(0).padStart(8) +
            tool.padStart(14) +
            measured.seconds.toFixed(2).padStart(10) +
            rate(measured.seconds).toFixed(1).padStart(9) +
            measured.maxRssMiB.toFixed(0).padStart(14) +
            (sha.seconds / measured.seconds).toFixed(2).padStart(14) +
            (gzipTest.seconds / measured.seconds).toFixed(2).padStart(12),
        );
      }
      if (file.label === 'large') {
        largestRate = rate(verify.seconds);
        // The same object three times in one process: bytes processed triple, memory must not.
        const thrice = verifyInChild(file.path, 3);
        console.log(`large x3 in one process (${((3 * size) / 2 ** 30).toFixed(1)} GiB read): peak RSS ${thrice.maxRssMiB.toFixed(0)} MiB, peak JS heap used ${thrice.heapUsedMiB.toFixed(0)} MiB, peak buffers ${thrice.externalMiB.toFixed(0)} MiB`);
      }
      console.log(
        `${file.label}: verified ${verify.figures['tableDataEntries']} TABLE DATA entries, ${(verify.decompressedBytes / 2 ** 20).toFixed(0)} MiB decompressed;` +
          ` peak JS heap used ${verify.heapUsedMiB.toFixed(0)} MiB, peak buffers ${verify.externalMiB.toFixed(0)} MiB`,
      );
    }
    console.log('');
    console.log(header);
    for (const row of rows) console.log(row);
    console.log('');
    console.log(`Ratios are throughput relative to the native tool (above 1 = faster than it); same file, same run, page cache warm; median of ${RUNS} interleaved runs.`);
    const budget = 900 - 60;
    console.log(
      `Largest object per invocation at the measured ${largestRate.toFixed(0)} MB/s and ${budget} s (15 min less the 60 s verdict margin): ${((largestRate * budget) / 1e3).toFixed(0)} GB;` +
        ` S3 GetObject on one connection delivers about 80-90 MB/s, which caps it near ${((Math.min(largestRate, 85) * budget) / 1e3).toFixed(0)} GB.`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
