import { IDENTITY_BYTES } from './identity.ts';

/**
 * One entry of a run's index file: the violation's identity hash (16 bytes), where its record
 * lies in the run's record file (offset: 6 bytes, 2 bytes of padding, length: 4 bytes) and
 * its line in the run (4 bytes; 0 when recovered from the record file). Fixed size: the index
 * costs 32 bytes per violation.
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
 * How many entries at the start of an index file are whole and describe the record file's
 * lines one after the other from its start (each record followed by its newline), within
 * `recordBytes`: what a crash can leave valid, since the index is written after its records.
 * Also returns where the last of them ends in the record file.
 *
 * @example
 * ```ts
 * const { entries, end } = validPrefix(readFileSync('run-x.idx'), statSync('run-x.rec').size);
 * ```
 */
export function validPrefix(raw: Buffer, recordBytes: number): { entries: number; end: number } {
  const n = Math.floor(raw.length / ENTRY_BYTES);
  let end = 0;
  for (let i = 0; i < n; i++) {
    const at = i * ENTRY_BYTES;
    const offset = raw.readUIntLE(at + 16, 6);
    const length = raw.readUInt32LE(at + 24);
    if (offset !== end || length === 0 || offset + length + 1 > recordBytes) {
      return { entries: i, end };
    }
    end = offset + length + 1;
  }
  return { entries: n, end };
}

/**
 * A completed run's violations, sorted by identity with duplicates removed: membership by
 * binary search over typed arrays (no object per violation), and a mark per entry that the
 * current run sets as it meets the violation again.
 *
 * @example
 * ```ts
 * const index = RunIndex.from(entries);
 * const i = index.find(violationIdentity(msg)); // -1 when new
 * ```
 */
export class RunIndex {
  readonly count: number;
  /** The identities as four big-endian 32-bit words each, in order. */
  private readonly words: Uint32Array;
  private readonly offsets: Float64Array;
  private readonly lengths: Uint32Array;
  private readonly seen: Uint8Array;
  /** Scratch space for the identity being looked up (lookups are synchronous). */
  private readonly key = new Uint32Array(4);

  private constructor(words: Uint32Array, offsets: Float64Array, lengths: Uint32Array) {
    this.words = words;
    this.offsets = offsets;
    this.lengths = lengths;
    this.count = lengths.length;
    this.seen = new Uint8Array(this.count);
  }

  /** An index with no violations (no previous run). */
  static empty(): RunIndex {
    return new RunIndex(new Uint32Array(0), new Float64Array(0), new Uint32Array(0));
  }

  /** Builds the index from whole index entries (already validated). */
  static from(raw: Buffer): RunIndex {
    const n = Math.floor(raw.length / ENTRY_BYTES);
    const w = new Uint32Array(n * 4);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 4; k++) w[i * 4 + k] = raw.readUInt32BE(i * ENTRY_BYTES + k * 4);
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => compareWords(w, a * 4, w, b * 4));
    const words = new Uint32Array(n * 4);
    const offsets = new Float64Array(n);
    const lengths = new Uint32Array(n);
    let count = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      // The same violation twice (a repeat after a crash, or twice in one run) counts once.
      if (count > 0 && compareWords(w, i * 4, words, (count - 1) * 4) === 0) continue;
      words.set(w.subarray(i * 4, i * 4 + 4), count * 4);
      offsets[count] = raw.readUIntLE(i * ENTRY_BYTES + 16, 6);
      lengths[count] = raw.readUInt32LE(i * ENTRY_BYTES + 24);
      count += 1;
    }
    return new RunIndex(
      words.slice(0, count * 4),
      offsets.slice(0, count),
      lengths.slice(0, count),
    );
  }

  /** The entry number of `id`, or -1. */
  find(id: Buffer): number {
    const key = this.key;
    for (let k = 0; k < 4; k++) key[k] = id.readUInt32BE(k * 4);
    return this.findWords(key, 0);
  }

  /** Marks every violation of `other` (a run resumed after a restart) as met. */
  markSeenIn(other: RunIndex): void {
    for (let i = 0; i < other.count; i++) {
      const j = this.findWords(other.words, i * 4);
      if (j >= 0) this.seen[j] = 1;
    }
  }

  private findWords(key: Uint32Array, at: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareWords(this.words, mid * 4, key, at);
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

  /** The identity hash of entry `i`, as hex. */
  idHex(i: number): string {
    let s = '';
    for (let k = 0; k < 4; k++) s += this.words[i * 4 + k]!.toString(16).padStart(8, '0');
    return s;
  }

  /** Where entry `i`'s record lies in the record file. */
  refOf(i: number): { offset: number; length: number } {
    return { offset: this.offsets[i]!, length: this.lengths[i]! };
  }
}

function compareWords(a: Uint32Array, at: number, b: Uint32Array, bt: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[at + k]!;
    const y = b[bt + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
