import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { crc32, createGunzip, type Gunzip } from 'node:zlib';
import type { FormatInspector, FormatReport } from './formats';

/** What one streaming pass over a stored object found. */
export interface StreamFindings {
  /** Bytes of the stored (compressed) object read. */
  readonly bytes: number;
  /** SHA-256 (hex) of the stored object; undefined if the read stopped early. */
  readonly sha256: string | undefined;
  /** Bytes the gzip stream decompressed to (so far, if it failed). */
  readonly decompressedBytes: number;
  /** SHA-256 (hex) of everything decompressed, when asked for and the stream decompressed to its end. */
  readonly contentSha256?: string;
  /** Why decompression failed; undefined when the stream decompressed to its end. */
  readonly decompressionError: string | undefined;
  /** The format check, when decompression succeeded. */
  readonly format: FormatReport | undefined;
  /** Why the read stopped before the end (out of time); undefined when it read everything. */
  readonly stoppedEarly: string | undefined;
  readonly seconds: number;
}

export interface StreamCheckOptions {
  /**
   * Epoch milliseconds after which the pass stops and says so, instead of the invocation
   * timing out without a verdict.
   * @default - no deadline
   */
  readonly deadline?: number;
  /** Total size, for the out-of-time message. */
  readonly expectedBytes?: number;
  /**
   * Also hash what the stream decompresses to (the manifest's content digest).
   * @default false
   */
  readonly contentDigest?: boolean;
}

/** Larger than zlib's 16 KiB default: fewer, bigger chunks for the hash and the inspector. */
const GUNZIP_CHUNK = 128 * 1024;

/**
 * Decompressed bytes between two young-generation collections, where the runtime exposes gc()
 * (Lambda's Node.js bootstrap starts node with --expose-gc). Every output chunk is a new buffer
 * outside V8's heap, and V8 lets that garbage reach about 64 MiB before collecting on its own; a
 * minor collection every 16 MiB keeps the worker's peak RSS flat and lower whatever the object's
 * size, for about 2% of the pass (`bench/verify.ts`, which starts its verify child as Lambda does).
 */
const COLLECT_EVERY = 16 * 2 ** 20;
const collectYoung = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

/**
 * One pass over a stored backup: SHA-256 and byte count of the compressed bytes, gunzip to the
 * end, and the format inspector on the decompressed bytes, all in constant memory. Source reads
 * wait while gunzip is busy (backpressure), the inspector consumes each decompressed chunk as it
 * comes, and nothing accumulates. A gunzip failure does not stop the hash: the whole object is
 * still read so the verdict has both figures.
 */
export async function checkStream(source: AsyncIterable<Uint8Array>, inspector: FormatInspector, options: StreamCheckOptions = {}): Promise<StreamFindings> {
  const started = Date.now();
  const hash = createHash('sha256');
  let bytes = 0;
  let decompressedBytes = 0;
  let decompressionError: string | undefined;
  let inspectorError: string | undefined;
  let stoppedEarly: string | undefined;

  // The object's last 8 bytes, and a CRC-32 of everything it decompresses to: see trailerProblem.
  let tail: Buffer = Buffer.alloc(0);
  let decompressedCrc = 0;
  const contentHash = options.contentDigest ? createHash('sha256') : undefined;
  const gunzip: Gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
  gunzip.on('data', (chunk: Buffer) => {
    if (collectYoung && (decompressedBytes % COLLECT_EVERY) + chunk.length >= COLLECT_EVERY) collectYoung({ type: 'minor' });
    decompressedBytes += chunk.length;
    decompressedCrc = crc32(chunk, decompressedCrc);
    contentHash?.update(chunk);
    if (inspectorError !== undefined) return;
    try {
      inspector.write(chunk);
    } catch (error) {
      inspectorError = (error as Error).message;
    }
  });
  const gunzipDone = new Promise<void>((resolve) => {
    gunzip.once('end', resolve);
    gunzip.once('error', (error: Error) => {
      decompressionError ??= describeGunzipError(error, bytes);
      resolve();
    });
  });

  for await (const piece of source) {
    const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    hash.update(chunk);
    bytes += chunk.length;
    tail = Buffer.from(chunk.length >= GZIP_TRAILER_BYTES ? chunk.subarray(chunk.length - GZIP_TRAILER_BYTES) : Buffer.concat([tail, chunk]).subarray(-GZIP_TRAILER_BYTES));
    if (decompressionError === undefined && !gunzip.write(chunk)) {
      // A gunzip error settles gunzipDone; the drain wait must not turn it into a rejection.
      await Promise.race([once(gunzip, 'drain').catch(() => undefined), gunzipDone]);
    }
    if (options.deadline !== undefined && Date.now() > options.deadline) {
      const rate = bytes / Math.max(0.001, (Date.now() - started) / 1000);
      stoppedEarly = `ran out of time after reading ${bytes}${options.expectedBytes ? ` of ${options.expectedBytes}` : ''} bytes at ${(rate / 1e6).toFixed(1)} MB/s`;
      break;
    }
  }
  if (stoppedEarly !== undefined) {
    gunzip.destroy();
    return { bytes, sha256: undefined, decompressedBytes, decompressionError: undefined, format: undefined, stoppedEarly, seconds: (Date.now() - started) / 1000 };
  }
  if (decompressionError === undefined && bytes === 0) {
    decompressionError = 'the object is empty: there is no gzip stream';
    gunzip.destroy();
  } else {
    if (decompressionError === undefined) gunzip.end();
    await gunzipDone;
    if (decompressionError === undefined) decompressionError = trailerProblem(tail, decompressedCrc, decompressedBytes, bytes);
  }
  const sha256 = hash.digest('hex');
  let format: FormatReport | undefined;
  if (decompressionError === undefined) {
    format = await inspector.finish();
    if (inspectorError !== undefined) {
      format = { ...format, problems: [...format.problems, `format check failed: ${inspectorError}`] };
    }
  }
  const contentSha256 = decompressionError === undefined ? contentHash?.digest('hex') : undefined;
  return { bytes, sha256, decompressedBytes, ...(contentSha256 ? { contentSha256 } : {}), decompressionError, format, stoppedEarly, seconds: (Date.now() - started) / 1000 };
}

const GZIP_TRAILER_BYTES = 8;

/**
 * Exactly one gzip stream, ending at the object's end. Node's gunzip reads on past the end of a
 * gzip stream: into a second one appended after it (a second dump, whose data it simply adds),
 * and over trailing bytes that start with a NUL. A single stream's 8-byte trailer (CRC-32 and
 * length mod 2^32 of all it holds) is the object's last 8 bytes and describes everything
 * decompressed; after a second stream or trailing bytes it does not.
 */
function trailerProblem(tail: Buffer, crc: number, decompressedBytes: number, objectBytes: number): string | undefined {
  if (tail.length < GZIP_TRAILER_BYTES) return `the object is ${objectBytes} bytes: too short to hold a gzip stream`;
  const storedCrc = tail.readUInt32LE(0);
  const storedLength = tail.readUInt32LE(4);
  if (storedCrc === crc >>> 0 && storedLength === decompressedBytes % 2 ** 32) return undefined;
  return `the object is not exactly one gzip stream: its last 8 bytes are not the trailer of the ${decompressedBytes} bytes it decompresses to (a second gzip stream was appended after the first, or bytes follow the end of the gzip stream)`;
}

function describeGunzipError(error: Error, bytesRead: number): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(error.message)) {
    return `gzip stream ends early (after ${bytesRead} compressed bytes): the object is truncated`;
  }
  if (code === 'Z_DATA_ERROR') return `gzip data is corrupt: ${error.message}`;
  return `gzip failed: ${error.message}`;
}
