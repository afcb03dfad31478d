import { mkdir, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** One Kafka message as kept on disk. */
export interface SpooledMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * Kafka rejects a produce request over the topic's `max.message.bytes` outright (not retriable), so batches are
 * bounded by bytes as well as by count. This one below 1 MiB fits Kafka's default even before compression.
 */
export const DEFAULT_BATCH_MAX_BYTES = 900 * 1024;

/** What a message counts for in a batch's byte bound (its value and key, plus an allowance for the framing). */
export function messageBytes(m: SpooledMessage): number {
  return m.value.length + m.key.length + 64;
}

/** The end index of the batch starting at `start`: at most `maxCount` messages and `maxBytes` (at least one). */
export function batchEnd(
  messages: readonly SpooledMessage[],
  start: number,
  maxCount: number,
  maxBytes: number,
): number {
  let end = start;
  let bytes = 0;
  while (end < messages.length && end - start < maxCount) {
    const size = messageBytes(messages[end] as SpooledMessage);
    if (end > start && bytes + size > maxBytes) break;
    bytes += size;
    end++;
  }
  return end;
}

const SEGMENT_RE = /^(\d{12})\.spool$/;
const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;
/** Stands for a message replay skips (acknowledged before): parsed to be counted, its value never decoded. */
const SKIPPED: SpooledMessage = { key: '', value: Buffer.alloc(0), headers: {} };

/**
 * Reads one spool segment's JSON lines a message at a time, `chunkBytes` of the file at a time, so replaying a
 * segment holds one read chunk and the batch being sent rather than the whole segment (as a string, its lines and
 * their decoded values: ~3× a 64-MiB segment at once). A line that does not parse — a torn write at the tail of a
 * segment, never acknowledged to anyone — is skipped. A segment that does not exist reads as empty.
 */
export class SegmentReader {
  /** Bytes read from the file so far (all of it once `next()` has returned undefined). */
  bytesRead = 0;
  private handle: FileHandle | null = null;
  private ended = false;
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** The start of the current line, when it began in an earlier chunk. */
  private partial: Buffer[] = [];

  constructor(
    readonly path: string,
    private readonly chunkBytes = READ_CHUNK_BYTES,
  ) {}

  /** The next message, or undefined at the end. With `skip`, the message is counted but its value not decoded. */
  async next(skip = false): Promise<SpooledMessage | undefined> {
    for (;;) {
      const nl = this.chunk.indexOf(NEWLINE, this.pos);
      if (nl !== -1) {
        const piece = this.chunk.subarray(this.pos, nl);
        this.pos = nl + 1;
        const line = this.partial.length > 0 ? Buffer.concat([...this.partial, piece]) : piece;
        this.partial = [];
        const m = parseLine(line, skip);
        if (m) return m;
        continue;
      }
      if (this.pos < this.chunk.length) this.partial.push(this.chunk.subarray(this.pos));
      this.chunk = await this.read();
      this.pos = 0;
      if (this.chunk.length === 0) {
        // The end: a last line without its newline is parsed too (it is skipped unless complete).
        const rest = this.partial.length > 0 ? Buffer.concat(this.partial) : undefined;
        this.partial = [];
        return rest ? parseLine(rest, skip) : undefined;
      }
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    this.ended = true;
    if (handle) await handle.close();
  }

  private async read(): Promise<Buffer> {
    if (this.ended) return Buffer.alloc(0);
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.ended = true;
        return Buffer.alloc(0);
      }
    }
    // A fresh buffer per read: lines spanning chunks keep views of earlier ones.
    const buffer = Buffer.allocUnsafe(this.chunkBytes);
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) {
      await this.close();
      return Buffer.alloc(0);
    }
    this.bytesRead += bytesRead;
    return buffer.subarray(0, bytesRead);
  }
}

function parseLine(line: Buffer, skip: boolean): SpooledMessage | undefined {
  if (line.length === 0) return undefined;
  let parsed: { k: string; v: string; h: Record<string, string> };
  try {
    parsed = JSON.parse(line.toString('utf8')) as { k: string; v: string; h: Record<string, string> };
  } catch {
    // torn write at the tail of a segment (crash mid-append): it was never acknowledged to anyone
    return undefined;
  }
  if (skip) return SKIPPED;
  return { key: parsed.k, value: Buffer.from(parsed.v, 'base64'), headers: parsed.h };
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.spool`;
}

/**
 * A durable, ordered, append-only spool of Kafka messages for when Kafka is unreachable. Segments of JSON lines
 * (fsynced per append); replay sends them in order and records its progress in a sidecar file after every
 * acknowledged batch, so a crash during replay re-sends at most one batch (the writer's idempotence absorbs it).
 * A torn last line (crash mid-append) is skipped.
 */
export class Spool {
  private segments: number[] = [];
  private handle: FileHandle | null = null;
  private handleSegment = -1;
  private handleBytes = 0;
  private totalBytes = 0;
  private opened = false;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    /** A segment is closed for appends beyond this size (the unit of one replay step). */
    private readonly segmentMaxBytes = SEGMENT_MAX_BYTES,
    /** How much of a segment replay reads at a time. */
    private readonly readChunkBytes = READ_CHUNK_BYTES,
  ) {}

  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    this.segments = names
      .map((n) => SEGMENT_RE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    this.totalBytes = 0;
    for (const s of this.segments) this.totalBytes += (await stat(join(this.dir, segmentName(s)))).size;
    this.opened = true;
  }

  isEmpty(): boolean {
    return this.segments.length === 0;
  }

  bytes(): number {
    return this.totalBytes;
  }

  /** False when the spool is full (nothing written). */
  async append(messages: SpooledMessage[]): Promise<boolean> {
    if (messages.length === 0) return true;
    const text = messages
      .map((m) => JSON.stringify({ k: m.key, v: m.value.toString('base64'), h: m.headers }))
      .join('\n')
      .concat('\n');
    const size = Buffer.byteLength(text);
    if (this.totalBytes + size > this.maxBytes) return false;
    if (!this.handle || this.handleBytes + size > this.segmentMaxBytes) await this.rotate();
    const handle = this.handle as FileHandle;
    try {
      await handle.appendFile(text);
      await handle.datasync();
    } catch (err) {
      // A write that failed part-way (disk full, I/O error) may have left a torn line: the next append starts a
      // new segment, so that line stays the last of its segment, which replay skips.
      this.handle = null;
      this.handleSegment = -1;
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.handleBytes += size;
    this.totalBytes += size;
    return true;
  }

  private async rotate(): Promise<void> {
    if (this.handle) await this.handle.close();
    const next = (this.segments.at(-1) ?? 0) + 1;
    // (Again: the directory may have been removed since the start.)
    await mkdir(this.dir, { recursive: true });
    this.handle = await open(join(this.dir, segmentName(next)), 'a');
    this.handleSegment = next;
    this.handleBytes = 0;
    this.segments.push(next);
  }

  /**
   * Keeps messages Kafka will never accept (larger than the topic allows) out of the replay path, durably, in
   * `<dir>/rejected/` as the same JSON lines (an operator can re-produce them after raising the topic limit).
   * Returns the file written.
   */
  async quarantine(messages: SpooledMessage[]): Promise<string> {
    const dir = join(this.dir, 'rejected');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${Date.now()}.jsonl`);
    const handle = await open(path, 'a');
    try {
      await handle.appendFile(
        messages
          .map((m) => JSON.stringify({ k: m.key, v: m.value.toString('base64'), h: m.headers }))
          .join('\n')
          .concat('\n'),
      );
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return path;
  }

  /**
   * Sends what is spooled, oldest first, in batches: everything, or the oldest `maxSegments` segments. Stops at
   * the first failed send (rethrows), keeping what was not acknowledged. Returns the number of messages sent.
   */
  async replay(
    send: (batch: SpooledMessage[]) => Promise<void>,
    batchSize = 500,
    batchMaxBytes = DEFAULT_BATCH_MAX_BYTES,
    maxSegments = Infinity,
  ): Promise<number> {
    let sent = 0;
    for (let replayed = 0; this.segments.length > 0 && replayed < maxSegments; replayed++) {
      const segment = this.segments[0] as number;
      const path = join(this.dir, segmentName(segment));
      const progressPath = `${path}.done`;
      if (segment === this.handleSegment && this.handle) {
        // Stop appending to the segment being replayed; later appends go to a new one.
        await this.handle.close();
        this.handle = null;
        this.handleSegment = -1;
      }
      // Progress = how many of this segment's messages Kafka has acknowledged.
      let done = 0;
      try {
        done = Number((await readFile(progressPath, 'utf8')).trim()) || 0;
      } catch {
        done = 0;
      }
      // The segment is read as a stream (one batch and one read chunk in memory, not the whole segment).
      const reader = new SegmentReader(path, this.readChunkBytes);
      let batch: SpooledMessage[] = [];
      let batchBytes = 0;
      let acknowledged = done;
      const flush = async (): Promise<void> => {
        await send(batch);
        sent += batch.length;
        acknowledged += batch.length;
        batch = [];
        batchBytes = 0;
        await writeFile(progressPath, String(acknowledged));
      };
      try {
        for (let index = 0; ; index++) {
          const m = await reader.next(index < done);
          if (m === undefined) break;
          if (index < done) continue;
          const size = messageBytes(m);
          if (batch.length > 0 && (batch.length >= batchSize || batchBytes + size > batchMaxBytes))
            await flush();
          batch.push(m);
          batchBytes += size;
        }
        if (batch.length > 0) await flush();
      } finally {
        await reader.close();
      }
      await rm(progressPath, { force: true });
      await rm(path, { force: true });
      this.segments.shift();
      this.totalBytes = Math.max(0, this.totalBytes - reader.bytesRead);
    }
    return sent;
  }

  async close(): Promise<void> {
    if (this.handle) await this.handle.close();
    this.handle = null;
    this.handleSegment = -1;
  }
}
