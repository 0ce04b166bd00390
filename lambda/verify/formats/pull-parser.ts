import { FormatError } from './format-report';

/**
 * What a format parser asks of the stream: the next `n` bytes (copied only when they span
 * chunks), the next `n` bytes or the end of the stream, or to pass over `n` bytes unread.
 */
export type PullRequest =
  | { readonly kind: 'bytes'; readonly n: number; readonly what: string }
  | { readonly kind: 'bytesOrEnd'; readonly n: number; readonly what: string }
  | { readonly kind: 'skip'; readonly n: number; readonly what: string };

/** A parser written as a generator: it yields requests and receives the bytes (or undefined at the end). */
export type PullParser = Generator<PullRequest, void, Buffer | undefined>;

export const bytes = (n: number, what: string): PullRequest => ({ kind: 'bytes', n, what });
export const bytesOrEnd = (n: number, what: string): PullRequest => ({ kind: 'bytesOrEnd', n, what });
export const skip = (n: number, what: string): PullRequest => ({ kind: 'skip', n, what });

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
        const missing = this.request.kind === 'skip' ? this.skipLeft : this.request.n - this.held;
        return `stream ends ${missing} byte(s) early at offset ${this.consumed}, while reading ${this.request.what}: the dump is truncated`;
      }
    }
    if (this.trailing > 0) {
      return `${this.trailing} unexpected byte(s) after the end of the dump at offset ${this.consumed}`;
    }
    return undefined;
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
