import { FormatError } from './format-report';

/**
 * What a format parser asks of the stream: the next `n` bytes (copied only when they span
 * chunks), the next `n` bytes or the end of the stream, or to pass over `n` bytes unread.
 */
export type PullRequest =
  | { readonly kind: 'bytes'; readonly n: number; readonly what: string }
  | { readonly kind: 'bytesOrEnd'; readonly n: number; readonly what: string }
  | { readonly kind: 'skip'; readonly n: number; readonly what: string }
  | ChunksRequest;

/**
 * A run of length-prefixed chunks (a sign byte and an `intSize`-byte little-endian length, then
 * that many bytes) up to a chunk of length 0, read by the driver itself: one step of the parser
 * per run instead of two per chunk (a table's COPY data is one chunk per row). Each payload is
 * handed to `onPiece` as it passes, as a range of the pushed buffer (pieces of any size, neither
 * copied nor wrapped: a row costs no allocation); without `onPiece` it is skipped. `n` is the size
 * of a length field.
 */
export interface ChunksRequest {
  readonly kind: 'chunks';
  readonly n: number;
  readonly intSize: number;
  readonly what: string;
  readonly onLength: (length: number) => void;
  /** Bytes `start` to `end` of `buffer` are payload; the buffer is not changed after the call. */
  readonly onPiece?: (buffer: Buffer, start: number, end: number) => void;
}

/** A parser written as a generator: it yields requests and receives the bytes (or undefined at the end). */
export type PullParser = Generator<PullRequest, void, Buffer | undefined>;

export const bytes = (n: number, what: string): PullRequest => ({ kind: 'bytes', n, what });
export const bytesOrEnd = (n: number, what: string): PullRequest => ({ kind: 'bytesOrEnd', n, what });
export const skip = (n: number, what: string): PullRequest => ({ kind: 'skip', n, what });
export const chunks = (intSize: number, what: string, onLength: (length: number) => void, onPiece?: ChunksRequest['onPiece']): PullRequest => ({
  kind: 'chunks',
  n: 1 + intSize,
  intSize,
  what,
  onLength,
  ...(onPiece ? { onPiece } : {}),
});

/**
 * Drives a pull parser from pushed chunks in constant memory: it holds at most one request's
 * worth of bytes, so a parser that asks for small pieces and skips payloads never buffers the
 * stream. The first problem stops the parse; later chunks are ignored cheaply.
 */
export class PullDriver {
  private request: PullRequest | undefined;
  private parts: Buffer[] = [];
  private held = 0;
  private skipLeft = 0;
  private consumed = 0;
  private finished = false;
  private problem: string | undefined;
  private trailing = 0;
  /** In a run of chunks: payload bytes of the current chunk still to pass (0: reading a length). */
  private payloadLeft = 0;

  constructor(private readonly parser: PullParser) {
    this.advance(undefined);
  }

  /** Bytes the parser has taken so far (its position in the stream). */
  get offset(): number {
    return this.consumed;
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.problem !== undefined) return;
      const request = this.request;
      if (this.finished || request === undefined) {
        this.trailing += chunk.length - pos;
        return;
      }
      const available = chunk.length - pos;
      if (request.kind === 'chunks') {
        pos = this.readChunks(request, chunk, pos);
        continue;
      }
      if (request.kind === 'skip') {
        const take = Math.min(this.skipLeft, available);
        pos += take;
        this.consumed += take;
        this.skipLeft -= take;
        if (this.skipLeft === 0) this.advance(undefined);
        continue;
      }
      if (this.held === 0 && available >= request.n) {
        const piece = chunk.subarray(pos, pos + request.n);
        pos += request.n;
        this.consumed += request.n;
        this.advance(piece);
        continue;
      }
      const take = Math.min(request.n - this.held, available);
      this.parts.push(chunk.subarray(pos, pos + take));
      this.held += take;
      pos += take;
      this.consumed += take;
      if (this.held === request.n) {
        const whole = Buffer.concat(this.parts, this.held);
        this.parts = [];
        this.held = 0;
        this.advance(whole);
      }
    }
  }

  /** Ends the stream; returns the first problem found, or undefined when the parse completed. */
  end(): string | undefined {
    if (this.problem !== undefined) return this.problem;
    const request = this.request;
    if (!this.finished && request !== undefined) {
      if (request.kind === 'bytesOrEnd' && this.held === 0) {
        this.advance(undefined);
        if (this.problem !== undefined) return this.problem;
      }
      if (!this.finished && this.request !== undefined) {
        const inPayload = this.request.kind === 'chunks' && this.payloadLeft > 0;
        const missing = this.request.kind === 'skip' ? this.skipLeft : inPayload ? this.payloadLeft : this.request.n - this.held;
        const what = this.request.kind === 'chunks' && !inPayload ? `chunk length in ${this.request.what}` : this.request.what;
        return `stream ends ${missing} byte(s) early at offset ${this.consumed}, while reading ${what}: the dump is truncated`;
      }
    }
    if (this.trailing > 0) {
      return `${this.trailing} unexpected byte(s) after the end of the dump at offset ${this.consumed}`;
    }
    return undefined;
  }

  /**
   * Reads chunks from `chunk` at `start` until the run ends or the chunk does; returns the new
   * position. The per-row path reads the length in place and calls no allocation.
   */
  private readChunks(request: ChunksRequest, chunk: Buffer, start: number): number {
    const { n, intSize, onPiece, onLength } = request;
    let pos = start;
    try {
      while (pos < chunk.length) {
        if (this.payloadLeft > 0) {
          const end = Math.min(pos + this.payloadLeft, chunk.length);
          if (onPiece) onPiece(chunk, pos, end);
          this.payloadLeft -= end - pos;
          pos = end;
          continue;
        }
        // A length field: whole in this chunk (the common case), else gathered across chunks.
        let negative: boolean;
        let length: number;
        if (this.held === 0 && chunk.length - pos >= n) {
          negative = chunk[pos] !== 0;
          length = littleEndian(chunk, pos + 1, intSize);
          pos += n;
        } else {
          const take = Math.min(n - this.held, chunk.length - pos);
          this.parts.push(chunk.subarray(pos, pos + take));
          this.held += take;
          pos += take;
          if (this.held < n) break;
          const field = Buffer.concat(this.parts, this.held);
          this.parts = [];
          this.held = 0;
          negative = field[0] !== 0;
          length = littleEndian(field, 1, intSize);
        }
        if (negative && length !== 0) {
          this.consumed += pos - start;
          this.fail(`${request.what}: negative chunk length ${-length}: corrupt data`);
          return chunk.length;
        }
        if (length === 0) {
          this.consumed += pos - start;
          this.advance(Buffer.alloc(0));
          return pos;
        }
        onLength(length);
        this.payloadLeft = length;
      }
    } catch (error) {
      this.consumed += pos - start;
      this.fail(error instanceof FormatError ? error.message : `parser failed: ${(error as Error).message}`);
      return chunk.length;
    }
    this.consumed += pos - start;
    return pos;
  }

  private fail(problem: string): void {
    this.problem = problem;
    this.request = undefined;
  }

  private advance(value: Buffer | undefined): void {
    let input = value;
    for (;;) {
      let step: IteratorResult<PullRequest, void>;
      try {
        step = this.parser.next(input);
      } catch (error) {
        this.problem = error instanceof FormatError ? error.message : `parser failed: ${(error as Error).message}`;
        this.request = undefined;
        return;
      }
      if (step.done) {
        this.finished = true;
        this.request = undefined;
        return;
      }
      const request = step.value;
      if (request.n < 0 || !Number.isFinite(request.n)) {
        this.problem = `invalid length ${request.n} while reading ${request.what} at offset ${this.consumed}`;
        this.request = undefined;
        return;
      }
      this.request = request;
      if (request.n === 0) {
        input = Buffer.alloc(0);
        continue;
      }
      if (request.kind === 'skip') this.skipLeft = request.n;
      return;
    }
  }
}

/** An unsigned little-endian integer of `size` bytes at `at`. */
function littleEndian(buffer: Buffer, at: number, size: number): number {
  let value = 0;
  let factor = 1;
  for (let i = 0; i < size; i++) {
    value += (buffer[at + i] ?? 0) * factor;
    factor *= 256;
  }
  return value;
}
