import { IDENTITY_BYTES } from './identity.ts';

/**
 * One entry of a run's index file: the violation's identity hash (16 bytes), where its record
 * lies in the run's record file (offset: 6 bytes, length: 4 bytes) and its line in the run
 * (4 bytes, after 2 bytes of padding). Fixed size, so the index costs 32 bytes per violation.
 */
export const ENTRY_BYTES = 32;

/** Where an entry's record lies in the record file. */
export interface EntryRef {
  readonly offset: number;
  readonly length: number;
  readonly line: number;
}

/**
 * Writes one index entry into `out` at `at`.
 *
 * @example
 * ```ts
 * const e = Buffer.alloc(ENTRY_BYTES);
 * writeEntry(e, 0, hash, { offset: 0, length: 120, line: 2 });
 * ```
 */
export function writeEntry(out: Buffer, at: number, id: Buffer, ref: EntryRef): void {
  id.copy(out, at, 0, IDENTITY_BYTES);
  out.writeUIntLE(ref.offset, at + 16, 6);
  out.writeUInt16LE(0, at + 22);
  out.writeUInt32LE(ref.length, at + 24);
  out.writeUInt32LE(ref.line, at + 28);
}

/**
 * A completed run's violations, sorted by identity with duplicates removed: membership by
 * binary search over one buffer (no object per violation), and a bit per entry that the
 * current run sets as it meets the violation again.
 *
 * @example
 * ```ts
 * const index = RunIndex.from(readFileSync('run-x.idx'), recordFileSize);
 * const i = index.find(violationIdentity(msg)); // -1 when new
 * ```
 */
export class RunIndex {
  readonly count: number;
  private readonly sorted: Buffer;
  private readonly seen: Uint8Array;

  private constructor(sorted: Buffer, count: number) {
    this.sorted = sorted;
    this.count = count;
    this.seen = new Uint8Array(count);
  }

  /** An index with no violations (no previous run). */
  static empty(): RunIndex {
    return new RunIndex(Buffer.alloc(0), 0);
  }

  /**
   * Builds the index from an index file's bytes. A torn tail (a crash in the middle of an
   * append) is ignored: a partial entry, and entries whose record lies past `recordBytes`.
   */
  static from(raw: Buffer, recordBytes: number): RunIndex {
    const n = validEntries(raw, recordBytes);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => compareAt(raw, a * ENTRY_BYTES, raw, b * ENTRY_BYTES));
    const sorted = Buffer.allocUnsafe(n * ENTRY_BYTES);
    let count = 0;
    for (let k = 0; k < n; k++) {
      const at = order[k]! * ENTRY_BYTES;
      // The same violation twice (a repeat after a crash, or twice in one run) counts once.
      if (count > 0 && compareAt(raw, at, sorted, (count - 1) * ENTRY_BYTES) === 0) continue;
      raw.copy(sorted, count * ENTRY_BYTES, at, at + ENTRY_BYTES);
      count += 1;
    }
    return new RunIndex(sorted.subarray(0, count * ENTRY_BYTES), count);
  }

  /** The entry number of `id`, or -1. */
  find(id: Buffer): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareAt(this.sorted, mid * ENTRY_BYTES, id, 0);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Marks entry `i` as met in the current run. */
  markSeen(i: number): void {
    this.seen[i] = 1;
  }

  /** Clears every mark (a run starts over from its first line). */
  clearSeen(): void {
    this.seen.fill(0);
  }

  /** Entries not met in the current run: the violations that were resolved. */
  *unseen(): Generator<number> {
    for (let i = 0; i < this.count; i++) if (this.seen[i] === 0) yield i;
  }

  /** The identity hash of entry `i` (a view, not a copy). */
  idOf(i: number): Buffer {
    const at = i * ENTRY_BYTES;
    return this.sorted.subarray(at, at + IDENTITY_BYTES);
  }

  /** Where entry `i`'s record lies in the record file. */
  refOf(i: number): EntryRef {
    const at = i * ENTRY_BYTES;
    return {
      offset: this.sorted.readUIntLE(at + 16, 6),
      length: this.sorted.readUInt32LE(at + 24),
      line: this.sorted.readUInt32LE(at + 28),
    };
  }
}

/**
 * How many entries at the start of an index file are whole and point inside a record file of
 * `recordBytes`: what a crash in the middle of an append leaves valid.
 *
 * @example
 * ```ts
 * validEntries(readFileSync('run-x.idx'), statSync('run-x.rec').size);
 * ```
 */
export function validEntries(raw: Buffer, recordBytes: number): number {
  const n = Math.floor(raw.length / ENTRY_BYTES);
  for (let i = 0; i < n; i++) {
    const at = i * ENTRY_BYTES;
    if (raw.readUIntLE(at + 16, 6) + raw.readUInt32LE(at + 24) > recordBytes) return i;
  }
  return n;
}

/** Compares two 16-byte identities, four big-endian words at a time (no allocation). */
function compareAt(a: Buffer, at: number, b: Buffer, bt: number): number {
  for (let w = 0; w < IDENTITY_BYTES; w += 4) {
    const x = a.readUInt32BE(at + w);
    const y = b.readUInt32BE(bt + w);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
