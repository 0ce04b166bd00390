import { Unzlib } from 'fflate';
import type { BackupManifest } from '../../../contracts/manifest';
import { FormatError, type FormatInspector, type FormatReport } from './format-report';
import { PullDriver, bytes, bytesOrEnd, chunks, skip, type PullParser, type PullRequest } from './pull-parser';

/**
 * PostgreSQL custom-format archive (`pg_dump -Fc`), read as pg_restore reads it
 * (pg_backup_archiver.c ReadHead/ReadToc, pg_backup_custom.c): the header, every table-of-contents
 * entry, then every data block and its length-prefixed chunks to the exact end of the stream.
 * Chunk payloads are skipped or counted as they pass (inflated first when the archive compresses
 * its table data with gzip), never held, so memory does not depend on the dump's size.
 */

const version = (major: number, minor: number, rev = 0): number => (major * 256 + minor) * 256 + rev;
const K_VERS_1_8 = version(1, 8);
const K_VERS_1_9 = version(1, 9);
const K_VERS_1_10 = version(1, 10);
const K_VERS_1_11 = version(1, 11);
const K_VERS_1_12 = version(1, 12);
const K_VERS_1_14 = version(1, 14);
const K_VERS_1_15 = version(1, 15);
const K_VERS_1_16 = version(1, 16);
/** Newest archive version this reader knows (PostgreSQL 17): a newer one fails rather than being guessed at. */
const NEWEST_KNOWN = version(1, 16, 255);

const ARCH_CUSTOM = 1;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
const K_OFFSET_POS_NOT_SET = 1;
const K_OFFSET_POS_SET = 2;
const K_OFFSET_NO_DATA = 3;
const COMPRESSION_NAMES = ['none', 'gzip', 'lz4', 'zstd'];
/** Strings read for their content; longer ones (function bodies, view definitions) are skipped. */
const MAX_READ_STRING = 1024 * 1024;
const NEWLINE = 0x0a;
/** pg_class.relkind values (r i S t v m c f p I), as the TOC's relation kind stores them. */
const RELKINDS = new Set([...'riStvmcfpI'].map((kind) => kind.charCodeAt(0)));
/** pg_dump ends each table's COPY data with the end-of-data line and two blank lines. */
const COPY_END = Buffer.from('\\.\n\n\n', 'latin1');

export interface PgArchiveFigures {
  archiveVersion: string;
  intSize: number;
  offSize: number;
  compression: string;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  tocEntries: number;
  tables: number;
  partitionedTables: number;
  tableDataEntries: number;
  dataBlocks: number;
  dataBytes: number;
}

interface TocEntryInfo {
  readonly dumpId: number;
  readonly desc: string;
  readonly name: string;
  readonly expectsData: boolean;
  /** Where the TOC says the entry's data block starts, when pg_dump could seek to record it. */
  readonly dataOffset: number | undefined;
  /** Stream offset of the entry's data-offset flag byte (for messages and for tools that edit archives). */
  readonly flagAt: number;
}

/** A data block as found in the stream: whose it is and where it starts. */
export interface DataBlockInfo {
  readonly dumpId: number;
  readonly start: number;
}

/** Rows of each table, counted in its COPY data (one line per row), by `schema.table`. */
export type TableRows = Map<string, number>;

/**
 * Counts the rows of one table's COPY data as it passes (one line each), keeping only its last
 * bytes. A row is a range of a buffer of many rows: the search for the next newline is carried
 * from one range to the next of the same buffer, so each newline costs one search and a row no
 * allocation.
 */
class CopyRows {
  private lines = 0;
  private buffer: Buffer | undefined;
  /** In `buffer`: the first newline at or after `searchedFrom`, or -1 for none. */
  private next = -1;
  private searchedFrom = 0;
  /** The data's last bytes end at `tailEnd` of `tail`: the last range's buffer, or a copy when that range was short. */
  private tail: Buffer = Buffer.alloc(0);
  private tailEnd = 0;

  add(buffer: Buffer, start: number, end: number): void {
    let next = buffer === this.buffer && start >= this.searchedFrom && (this.next === -1 || this.next >= start) ? this.next : buffer.indexOf(NEWLINE, start);
    while (next !== -1 && next < end) {
      this.lines++;
      next = buffer.indexOf(NEWLINE, next + 1);
    }
    this.buffer = buffer;
    this.next = next;
    this.searchedFrom = end;
    if (end - start >= COPY_END.length) {
      this.tail = buffer;
      this.tailEnd = end;
    } else {
      this.tail = Buffer.concat([this.tail.subarray(Math.max(0, this.tailEnd - COPY_END.length), this.tailEnd), buffer.subarray(start, end)]);
      this.tailEnd = this.tail.length;
    }
  }

  /** Its end-of-data line and blank lines are not rows. */
  rows(): number {
    return this.tail.subarray(Math.max(0, this.tailEnd - COPY_END.length), this.tailEnd).equals(COPY_END) ? this.lines - 3 : this.lines;
  }
}

const ADLER_MODULUS = 65521;
/** Bytes that can be summed before the Adler-32 sums must be reduced (zlib's NMAX). */
const ADLER_RUN = 5552;

/**
 * One data block of an archive that compresses its table data with gzip: pg_dump writes one zlib
 * stream per block, split over the block's chunks. Inflated as the chunks pass (fflate: a
 * synchronous streaming inflater, which this pull parser needs), with the stream's Adler-32
 * checked at its end, since fflate does not check it.
 */
class BlockInflater {
  private readonly unzlib: Unzlib;
  private sumA = 1;
  private sumB = 0;
  private pushed = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    onData: (piece: Buffer) => void,
    private readonly what: string,
  ) {
    this.unzlib = new Unzlib((data) => {
      const piece = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.adler(piece);
      onData(piece);
    });
  }

  push(piece: Buffer): void {
    this.pushed += piece.length;
    this.tail = Buffer.from(piece.length >= 4 ? piece.subarray(-4) : Buffer.concat([this.tail, piece]).subarray(-4));
    this.inflate(piece, false);
  }

  end(): void {
    if (this.pushed === 0) return;
    this.inflate(new Uint8Array(0), true);
    const checksum = ((this.sumB << 16) | this.sumA) >>> 0;
    if (this.tail.length < 4 || this.tail.readUInt32BE(0) !== checksum) {
      throw new FormatError(`${this.what}: the inflated data does not match its Adler-32 checksum: corrupt compressed data`);
    }
  }

  private inflate(piece: Uint8Array, final: boolean): void {
    try {
      this.unzlib.push(piece, final);
    } catch (error) {
      throw new FormatError(`${this.what}: the compressed data does not inflate (${(error as Error).message}): corrupt compressed data`);
    }
  }

  private adler(piece: Buffer): void {
    let { sumA: a, sumB: b } = this;
    for (let at = 0; at < piece.length; ) {
      const end = Math.min(at + ADLER_RUN, piece.length);
      for (; at < end; at++) {
        a += piece[at] ?? 0;
        b += a;
      }
      a %= ADLER_MODULUS;
      b %= ADLER_MODULUS;
    }
    this.sumA = a;
    this.sumB = b;
  }
}

/** Compressions whose table data this reader can read (and so count): none, and gzip (zlib streams). */
function readableCompression(compression: string | undefined): 'none' | 'gzip' | undefined {
  if (compression === 'none') return 'none';
  return compression?.startsWith('gzip') ? 'gzip' : undefined;
}

/** An OID as the TOC stores it: a decimal string. */
function expectOid(value: string | null, what: string, archiveVersion: string | undefined): void {
  if (value !== null && !/^\d{1,10}$/.test(value)) throw new FormatError(`${what} ${JSON.stringify(value.slice(0, 40))} is not an OID: corrupt TOC, or a header version (${archiveVersion}) other than the body's`);
}

function* readRawInt(intSize: number, what: string): Generator<PullRequest, number, Buffer | undefined> {
  const raw = yield bytes(1 + intSize, what);
  if (raw === undefined) throw new FormatError(`stream ended while reading ${what}`);
  let value = 0;
  for (let i = 0; i < intSize; i++) value += (raw[1 + i] ?? 0) * 2 ** (8 * i);
  return raw[0] === 0 ? value : -value;
}

/** ReadStr: an int length (negative = NULL) and that many bytes; long strings are skipped. */
function* readStr(intSize: number, what: string, keep = true): Generator<PullRequest, string | null, Buffer | undefined> {
  const length = yield* readRawInt(intSize, `length of ${what}`);
  if (length < 0) return null;
  if (!keep || length > MAX_READ_STRING) {
    yield skip(length, what);
    return '';
  }
  const raw = yield bytes(length, what);
  return raw === undefined ? '' : raw.toString('utf8');
}

/**
 * `position()` is the stream offset of the byte the parser received last; `rows` receives the row
 * count of every table whose data is stored uncompressed (the kit's `pg_dump -Z0`) or with gzip.
 */
export function* pgCustomParser(
  figures: Partial<PgArchiveFigures>,
  toc: TocEntryInfo[],
  rows: TableRows = new Map(),
  position: () => number = () => 0,
  blockList: DataBlockInfo[] = [],
): PullParser {
  const magic = yield bytes(5, 'the archive magic');
  if (magic?.toString('latin1') !== 'PGDMP') {
    throw new FormatError(`not a PostgreSQL custom-format archive: it starts with ${JSON.stringify(magic?.toString('latin1'))}, not "PGDMP"`);
  }
  const head = yield bytes(6, 'the archive version, int size, offset size and format');
  if (head === undefined) return;
  const [vmaj = 0, vmin = 0, vrev = 0, intSize = 0, offSize = 0, format = 0] = head;
  const archiveVersion = version(vmaj, vmin, vrev);
  figures.archiveVersion = `${vmaj}.${vmin}.${vrev}`;
  if (vmaj !== 1 || archiveVersion < K_VERS_1_12 || archiveVersion > NEWEST_KNOWN) {
    throw new FormatError(`unsupported archive version ${vmaj}.${vmin}.${vrev} (this verifier reads 1.12 to 1.16: PostgreSQL 9.0 to 17)`);
  }
  if (intSize < 1 || intSize > 8) throw new FormatError(`archive int size ${intSize} is not plausible (expected 4)`);
  if (offSize < 1 || offSize > 8) throw new FormatError(`archive offset size ${offSize} is not plausible (expected 8)`);
  figures.intSize = intSize;
  figures.offSize = offSize;
  if (format !== ARCH_CUSTOM) {
    throw new FormatError(`archive format byte is ${format}, not 1 (custom): not made with pg_dump -Fc`);
  }
  const readInt = (what: string) => readRawInt(intSize, what);
  if (archiveVersion >= K_VERS_1_15) {
    const algorithm = yield bytes(1, 'the compression algorithm');
    const code = algorithm?.[0] ?? 255;
    figures.compression = COMPRESSION_NAMES[code] ?? `unknown (${code})`;
    if (COMPRESSION_NAMES[code] === undefined) throw new FormatError(`unknown compression algorithm ${code} in the archive header`);
  } else {
    const level = yield* readInt('the compression level');
    figures.compression = level === 0 ? 'none' : `gzip (level ${level})`;
  }
  for (const field of ['sec', 'min', 'hour', 'mday', 'mon', 'year', 'isdst']) yield* readInt(`the creation time (${field})`);
  figures.database = (yield* readStr(intSize, 'the database name')) ?? '';
  figures.serverVersion = (yield* readStr(intSize, 'the server version')) ?? '';
  figures.pgDumpVersion = (yield* readStr(intSize, 'the pg_dump version')) ?? '';

  const tocCount = yield* readInt('the TOC entry count');
  if (tocCount < 0) throw new FormatError(`TOC entry count ${tocCount} is negative: corrupt header`);
  figures.tocEntries = tocCount;
  let tables = 0;
  let partitioned = 0;
  let tableData = 0;
  for (let index = 0; index < tocCount; index++) {
    const at = `TOC entry ${index + 1} of ${tocCount}`;
    // Each field is checked for what pg_dump can write: an archive whose header claims another
    // version than its body was written in misreads some field here, and fails instead of
    // drifting on to a parse that pg_restore would not share.
    const dumpId = yield* readInt(`${at}: dump ID`);
    if (dumpId <= 0) throw new FormatError(`${at}: dump ID ${dumpId} out of range: corrupt TOC`);
    const hadDumper = yield* readInt(`${at}: had-dumper flag`);
    if (hadDumper !== 0 && hadDumper !== 1) throw new FormatError(`${at}: had-dumper flag ${hadDumper} is not 0 or 1: corrupt TOC, or a header version (${figures.archiveVersion}) other than the body's`);
    if (archiveVersion >= K_VERS_1_8) expectOid(yield* readStr(intSize, `${at}: table OID`), `${at}: table OID`, figures.archiveVersion);
    expectOid(yield* readStr(intSize, `${at}: OID`), `${at}: OID`, figures.archiveVersion);
    const tag = (yield* readStr(intSize, `${at}: tag`)) ?? '';
    const desc = (yield* readStr(intSize, `${at}: description`)) ?? '';
    if (!/^[A-Z][A-Z0-9 _]*$/.test(desc)) throw new FormatError(`${at}: description ${JSON.stringify(desc.slice(0, 40))} is not an object type: corrupt TOC, or a header version (${figures.archiveVersion}) other than the body's`);
    if (archiveVersion >= K_VERS_1_11) {
      const section = yield* readInt(`${at}: section`);
      if (section < 1 || section > 4) throw new FormatError(`${at}: section ${section} is not 1 to 4: corrupt TOC, or a header version (${figures.archiveVersion}) other than the body's`);
    }
    const defn = (yield* readStr(intSize, `${at}: definition`, desc === 'TABLE')) ?? '';
    yield* readStr(intSize, `${at}: drop statement`, false);
    yield* readStr(intSize, `${at}: copy statement`, false);
    const namespace = (yield* readStr(intSize, `${at}: schema`)) ?? '';
    if (archiveVersion >= K_VERS_1_10) yield* readStr(intSize, `${at}: tablespace`, false);
    if (archiveVersion >= K_VERS_1_14) yield* readStr(intSize, `${at}: table access method`, false);
    let relkind = 0;
    if (archiveVersion >= K_VERS_1_16) {
      relkind = yield* readInt(`${at}: relation kind`);
      if (relkind !== 0 && !RELKINDS.has(relkind)) throw new FormatError(`${at}: relation kind ${relkind} is not one PostgreSQL has: corrupt TOC, or a header version (${figures.archiveVersion}) other than the body's`);
    }
    yield* readStr(intSize, `${at}: owner`, false);
    if (archiveVersion >= K_VERS_1_9) yield* readStr(intSize, `${at}: with-OIDs flag`, false);
    for (let dep = 0; ; dep++) {
      const dependency = yield* readStr(intSize, `${at}: dependency ${dep + 1}`);
      if (dependency === null) break;
      if (!/^\d+$/.test(dependency)) throw new FormatError(`${at}: dependency ${JSON.stringify(dependency.slice(0, 40))} is not a dump ID: corrupt TOC, or a header version (${figures.archiveVersion}) other than the body's`);
    }
    // pg_backup_custom.c _ReadExtraToc: where the entry's data is (flag byte, then offSize bytes).
    const offset = yield bytes(1 + offSize, `${at}: data offset`);
    const flag = offset?.[0] ?? 0;
    if (flag !== K_OFFSET_POS_NOT_SET && flag !== K_OFFSET_POS_SET && flag !== K_OFFSET_NO_DATA) {
      throw new FormatError(`${at}: data offset flag ${flag} is not 1, 2 or 3: corrupt TOC`);
    }
    let dataOffset: number | undefined;
    if (flag === K_OFFSET_POS_SET && offset) {
      dataOffset = 0;
      for (let i = 0; i < offSize; i++) dataOffset += (offset[1 + i] ?? 0) * 2 ** (8 * i);
    }
    if (desc === 'TABLE') {
      tables++;
      if (relkind === 112 /* 'p' */ || /\)\s*PARTITION BY /.test(defn)) partitioned++;
    }
    if (desc === 'TABLE DATA') tableData++;
    toc.push({ dumpId, desc, name: namespace ? `${namespace}.${tag}` : tag, expectsData: flag !== K_OFFSET_NO_DATA, dataOffset, flagAt: position() - offSize - 1 });
  }
  figures.tables = tables;
  figures.partitionedTables = partitioned;
  figures.tableDataEntries = tableData;

  // Data blocks follow the TOC, one per entry with data, in TOC order (pg_dump writes them so),
  // until the end of the archive. pg_restore finds each entry's data by its TOC entry: a block
  // the TOC does not lead to is never restored, so any disagreement fails here.
  const withData = toc.filter((entry) => entry.expectsData);
  const pending = new Map(withData.map((entry) => [entry.dumpId, entry]));
  const orderOf = new Map(withData.map((entry, index) => [entry.dumpId, index]));
  const byId = new Map(toc.map((entry) => [entry.dumpId, entry]));
  const compression = readableCompression(figures.compression);
  let lastOrder = -1;
  let blocks = 0;
  let dataBytes = 0;
  for (;;) {
    const type = yield bytesOrEnd(1, 'the next data block type');
    if (type === undefined) break;
    const blockStart = position() - 1;
    const blockType = type[0];
    if (blockType !== BLK_DATA && blockType !== BLK_BLOBS) {
      throw new FormatError(`data block ${blocks + 1}: type ${blockType} is neither table data (1) nor large objects (3): corrupt data section`);
    }
    const dumpId = yield* readInt(`data block ${blocks + 1}: dump ID`);
    blockList.push({ dumpId, start: blockStart });
    const entry = byId.get(dumpId);
    if (!entry) throw new FormatError(`data block ${blocks + 1}: dump ID ${dumpId} is not in the TOC: corrupt data section`);
    const what = `data of ${entry.desc} ${entry.name}`;
    if (!entry.expectsData) {
      throw new FormatError(`data block ${blocks + 1} (dump ID ${dumpId}): the TOC says ${entry.desc} ${entry.name} has no data, so pg_restore would not read this block and would restore it empty`);
    }
    if (!pending.delete(dumpId)) throw new FormatError(`data block ${blocks + 1}: a second data block for ${entry.desc} ${entry.name} (dump ID ${dumpId}): corrupt data section`);
    const order = orderOf.get(dumpId) ?? -1;
    if (order < lastOrder) throw new FormatError(`data block ${blocks + 1}: ${what} comes after the data of a later TOC entry: the blocks are out of order`);
    lastOrder = order;
    if (entry.dataOffset !== undefined && entry.dataOffset !== blockStart) {
      throw new FormatError(`data block ${blocks + 1}: ${what} starts at offset ${blockStart} but the TOC points pg_restore to offset ${entry.dataOffset}`);
    }
    const counter = blockType === BLK_DATA && entry.desc === 'TABLE DATA' && compression !== undefined ? new CopyRows() : undefined;
    const inflater = counter && compression === 'gzip' ? new BlockInflater((piece) => counter.add(piece, 0, piece.length), what) : undefined;
    // The chunks (a row each in COPY data) are read by the driver in one run: per chunk, no parser step.
    const onPiece = inflater
      ? (buffer: Buffer, start: number, end: number) => inflater.push(buffer.subarray(start, end))
      : counter
        ? (buffer: Buffer, start: number, end: number) => counter.add(buffer, start, end)
        : undefined;
    const readChunks = function* (label: string): Generator<PullRequest, void, Buffer | undefined> {
      yield chunks(intSize, label, (length) => (dataBytes += length), onPiece);
    };
    if (blockType === BLK_DATA) {
      yield* readChunks(what);
      inflater?.end();
      if (counter) rows.set(entry.name, counter.rows());
    } else {
      for (;;) {
        const oid = yield* readInt(`large object OID in ${what}`);
        if (oid === 0) break;
        yield* readChunks(`large object ${oid} in ${what}`);
      }
    }
    blocks++;
  }
  figures.dataBlocks = blocks;
  figures.dataBytes = dataBytes;
  if (pending.size > 0) {
    const names = [...pending.values()].slice(0, 5).map((entry) => `${entry.desc} ${entry.name}`);
    throw new FormatError(`${pending.size} TOC entr${pending.size === 1 ? 'y has' : 'ies have'} no data block (${names.join(', ')}${pending.size > 5 ? ', ...' : ''}): the archive is incomplete`);
  }
}

export class PgCustomInspector implements FormatInspector {
  private readonly figures: Partial<PgArchiveFigures> = {};
  private readonly toc: TocEntryInfo[] = [];
  private readonly rows: TableRows = new Map();
  private readonly driver: PullDriver;

  constructor(private readonly manifest?: Pick<BackupManifest, 'database'>) {
    this.driver = new PullDriver(pgCustomParser(this.figures, this.toc, this.rows, () => this.driver.offset));
  }

  write(chunk: Buffer): void {
    this.driver.write(chunk);
  }

  async finish(): Promise<FormatReport> {
    const problems: string[] = [];
    const problem = this.driver.end();
    if (problem) problems.push(`PostgreSQL archive: ${problem}`);
    const expectedTables = this.manifest?.database?.tableCount;
    const { tableDataEntries, partitionedTables = 0 } = this.figures;
    // Partitioned parents carry no data of their own; their partitions each have a TABLE DATA entry.
    if (!problem && expectedTables !== undefined && tableDataEntries !== undefined && tableDataEntries < expectedTables - partitionedTables) {
      problems.push(
        `PostgreSQL archive: ${tableDataEntries} TABLE DATA entries but the manifest counted ${expectedTables} tables (${partitionedTables} partitioned): tables are missing from the dump`,
      );
    }
    const skipped: string[] = [];
    const figures: Record<string, string | number | boolean> = { ...this.figures };
    if (!problem) compareRowCounts(this.manifest?.database?.rowCounts, this.rows, this.figures.compression ?? 'unknown', problems, skipped, figures);
    this.toc.length = 0;
    return { format: 'pg_custom', problems, skipped, figures };
  }
}

/**
 * Each table's rows in the archive against the manifest's count, taken in the snapshot pg_dump
 * dumped: they must be equal. Tables the backup did not count (above its size limit) are named
 * in the figures, not passed silently.
 */
function compareRowCounts(
  expected: Readonly<Record<string, number>> | undefined,
  rows: TableRows,
  compression: string,
  problems: string[],
  skipped: string[],
  figures: Record<string, string | number | boolean>,
): void {
  if (expected === undefined) {
    skipped.push('row counts: the manifest has none');
    return;
  }
  if (readableCompression(compression) === undefined) {
    skipped.push(`row counts: the archive compresses its table data with ${compression}, which this verifier cannot inflate; the kit's own archives do not compress it (pg_dump -Z0), so this one was made otherwise and its rows were not counted`);
    return;
  }
  const differences: string[] = [];
  for (const [table, count] of Object.entries(expected)) {
    const found = rows.get(table);
    if (found === undefined) differences.push(`table ${table}: the manifest counted ${count} rows, the archive holds no data for it`);
    else if (found !== count) differences.push(`table ${table}: ${found} rows in the archive, the manifest counted ${count}`);
  }
  if (differences.length > 0) {
    problems.push(`PostgreSQL archive: row counts differ from the manifest (counted in the snapshot that was dumped): ${differences.slice(0, 5).join('; ')}${differences.length > 5 ? `; and ${differences.length - 5} more` : ''}`);
  }
  const uncounted = [...rows.keys()].filter((table) => !(table in expected));
  figures.tablesRowCounted = Object.keys(expected).length;
  figures.rowsInArchive = [...rows.values()].reduce((sum, count) => sum + count, 0);
  if (uncounted.length > 0) figures.tablesNotRowCounted = `${uncounted.length} (above the backup's row-count size limit): ${uncounted.slice(0, 5).join(', ')}${uncounted.length > 5 ? ', ...' : ''}`;
}

/** The TOC and data blocks of a whole (decompressed) archive, and the first problem found; for tools and tests. */
export function readPgArchive(archive: Buffer): { toc: TocEntryInfo[]; blocks: DataBlockInfo[]; rows: TableRows; problem: string | undefined } {
  const toc: TocEntryInfo[] = [];
  const blocks: DataBlockInfo[] = [];
  const rows: TableRows = new Map();
  const driver: PullDriver = new PullDriver(pgCustomParser({}, toc, rows, () => driver.offset, blocks));
  driver.write(archive);
  return { toc, blocks, rows, problem: driver.end() };
}
