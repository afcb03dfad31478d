/**
 * Where the writer keeps its rows' JSON lines: written back to back into large buffers, so a row costs no
 * allocation of its own (it was a `Buffer` per row from Node's pool, and a copy of all of them into one body per
 * insert), and a batch's body is a handful of views.
 *
 * A chunk is never written twice: a range handed out stays valid as long as someone holds the chunk.
 */
export interface LineRange {
  chunk: Buffer;
  start: number;
  end: number;
}

const NEWLINE = 0x0a;

export class LineArena {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;

  constructor(private readonly chunkBytes = 1024 * 1024) {}

  /** Writes `text` and a newline; returns where they are. */
  appendLine(text: string): LineRange {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a line that might not fit is measured exactly.
    const room = this.chunk.length - this.used;
    if (room < text.length * 3 + 1) {
      const need = Buffer.byteLength(text, 'utf8') + 1;
      if (room < need) {
        this.chunk = Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, need));
        this.used = 0;
      }
    }
    const chunk = this.chunk;
    const start = this.used;
    const written = chunk.write(text, start, 'utf8');
    chunk[start + written] = NEWLINE;
    this.used = start + written + 1;
    return { chunk, start, end: this.used };
  }
}

/** The body of an insert of `lines`, in order: one view per run of lines that lie back to back in a chunk. */
export function bodyOf(lines: Iterable<LineRange>): Buffer[] {
  const parts: Buffer[] = [];
  let chunk: Buffer | null = null;
  let start = 0;
  let end = 0;
  for (const line of lines) {
    if (line.chunk === chunk && line.start === end) {
      end = line.end;
      continue;
    }
    if (chunk) parts.push(chunk.subarray(start, end));
    ({ chunk, start, end } = line);
  }
  if (chunk) parts.push(chunk.subarray(start, end));
  return parts;
}
