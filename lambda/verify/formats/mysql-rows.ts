/**
 * Counts, in one pass over a mysqldump / mariadb-dump plain-SQL stream, the rows of every
 * `INSERT INTO `table` VALUES (...),(...);` statement per table, and the dump headers and
 * completion lines (a file holding two dumps has two of each). A byte-level state machine that
 * keeps only the current table name and a few bytes of line prefix, so memory does not depend on
 * the dump's size; strings are skipped with `indexOf`, not byte by byte.
 */

const enum State {
  LineStart,
  Prefix,
  SkipLine,
  Name,
  NameQuote,
  AfterName,
  Values,
  Tuple,
  String,
  StringEscape,
  StringQuote,
}

const NEWLINE = 0x0a;
const BACKTICK = 0x60;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const SEMICOLON = 0x3b;

const INSERT = Buffer.from('INSERT INTO `');
const HEADERS = [Buffer.from('-- MySQL dump '), Buffer.from('-- MariaDB dump ')];
const COMPLETED = Buffer.from('-- Dump completed');
const PREFIXES = [INSERT, ...HEADERS, COMPLETED];
const LONGEST_PREFIX = Math.max(...PREFIXES.map((prefix) => prefix.length));
// mysqldump writes "VALUES (", mariadb-dump 10.11 "VALUES\n(" with one row per line.
const VALUES = Buffer.from('VALUES');
/** MySQL names are at most 64 characters (256 bytes in UTF-8, doubled backticks included with room). */
const MAX_NAME_BYTES = 512;

export class MysqlRowCounter {
  /** Rows per table, by the table's name as the dump writes it. */
  readonly rows = new Map<string, number>();
  headers = 0;
  completions = 0;
  private state = State.LineStart;
  private readonly prefix = Buffer.alloc(LONGEST_PREFIX);
  private prefixLength = 0;
  private name: number[] = [];
  private table = '';
  private valuesMatched = 0;
  private depth = 0;

  write(chunk: Buffer): void {
    let i = 0;
    const length = chunk.length;
    while (i < length) {
      switch (this.state) {
        case State.LineStart:
          this.prefixLength = 0;
          this.state = State.Prefix;
          break;
        case State.Prefix: {
          const byte = chunk[i++] as number;
          if (byte === NEWLINE) {
            this.state = State.LineStart;
            break;
          }
          this.prefix[this.prefixLength++] = byte;
          this.state = this.afterPrefixByte();
          break;
        }
        case State.SkipLine: {
          const next = chunk.indexOf(NEWLINE, i);
          if (next < 0) return;
          i = next + 1;
          this.state = State.LineStart;
          break;
        }
        case State.Name: {
          const byte = chunk[i++] as number;
          if (byte === BACKTICK) this.state = State.NameQuote;
          else if (this.name.length >= MAX_NAME_BYTES) {
            // No table name is this long: a damaged line, not an INSERT; nothing more is held.
            this.name = [];
            this.state = byte === NEWLINE ? State.LineStart : State.SkipLine;
          } else this.name.push(byte);
          break;
        }
        case State.NameQuote: {
          // A doubled backtick is one backtick of the name; anything else ends the name.
          if (chunk[i] === BACKTICK) {
            this.name.push(BACKTICK);
            i++;
            this.state = State.Name;
          } else {
            this.table = Buffer.from(this.name).toString('utf8');
            this.name = [];
            this.valuesMatched = 0;
            this.state = State.AfterName;
          }
          break;
        }
        case State.AfterName: {
          // Past an optional column list to "VALUES".
          const byte = chunk[i++] as number;
          if (byte === NEWLINE) {
            this.state = State.LineStart;
          } else if (byte === VALUES[this.valuesMatched]) {
            this.valuesMatched++;
            if (this.valuesMatched === VALUES.length) {
              this.depth = 0;
              this.state = State.Values;
            }
          } else {
            this.valuesMatched = byte === VALUES[0] ? 1 : 0;
          }
          break;
        }
        case State.Values: {
          const byte = chunk[i++] as number;
          if (byte === OPEN) {
            this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + 1);
            this.depth = 1;
            this.state = State.Tuple;
          } else if (byte === SEMICOLON) {
            this.state = State.SkipLine;
          }
          // Commas, spaces and line breaks between rows.
          break;
        }
        case State.Tuple: {
          const byte = chunk[i++] as number;
          if (byte === QUOTE) this.state = State.String;
          else if (byte === OPEN) this.depth++;
          else if (byte === CLOSE && --this.depth === 0) this.state = State.Values;
          break;
        }
        case State.String: {
          const quote = chunk.indexOf(QUOTE, i);
          const escape = chunk.indexOf(BACKSLASH, i);
          if (quote < 0 && escape < 0) return;
          if (escape >= 0 && (quote < 0 || escape < quote)) {
            i = escape + 1;
            this.state = State.StringEscape;
          } else {
            i = quote + 1;
            this.state = State.StringQuote;
          }
          break;
        }
        case State.StringEscape:
          i++;
          this.state = State.String;
          break;
        case State.StringQuote:
          // '' inside a string (NO_BACKSLASH_ESCAPES) is a quote; anything else ended the string.
          if (chunk[i] === QUOTE) {
            i++;
            this.state = State.String;
          } else {
            this.state = State.Tuple;
          }
          break;
      }
    }
  }

  /** What the line prefix read so far makes of the line. */
  private afterPrefixByte(): State {
    const read = this.prefix.subarray(0, this.prefixLength);
    let stillPossible = false;
    for (const candidate of PREFIXES) {
      if (read.length > candidate.length || !candidate.subarray(0, read.length).equals(read)) continue;
      if (read.length < candidate.length) {
        stillPossible = true;
        continue;
      }
      if (candidate === INSERT) {
        this.name = [];
        return State.Name;
      }
      if (candidate === COMPLETED) this.completions++;
      else this.headers++;
      return State.SkipLine;
    }
    return stillPossible ? State.Prefix : State.SkipLine;
  }
}
