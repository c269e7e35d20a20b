import { LeafEncoder } from "../../domains/audit/leaf.ts";
import { sha256, sha256Into } from "../../domains/audit/sha256.ts";
import { AUDITED_STREAMS } from "../../domains/audit/leaf.ts";

/**
 * What the leaf hashing worker runs: the packed form in which messages travel to it, leaf
 * hashing, and the tree the leaves are appended to. Imports only the leaf encoding and SHA-256
 * (node:crypto): `domains/audit/merkle.ts` brings effect's Schema, whose import alone takes
 * seconds, and a worker is started per verification. Per message, a 21-byte head then its
 * bytes, so the header block and the payload, which nats.js receives back to back, are copied
 * in with one copy and read back as ranges (no view per field):
 *   u8 stream number (AUDITED_STREAMS index), u32 sequence high, u32 sequence low,
 *   u32 subject length, u32 header block length (0: no headers), u32 payload length,
 *   subject UTF-8, header block, payload
 */

export const RECORD_HEAD_BYTES = 21;
export const STREAM_NAMES = AUDITED_STREAMS.map((name) => new TextEncoder().encode(name));

/** Writes a record's head at `at` of `view`. */
export const writeRecordHead = (view: DataView, at: number, stream: number, seq: number, subjectLength: number, headerLength: number, payloadLength: number): void => {
  view.setUint8(at, stream);
  view.setUint32(at + 1, Math.floor(seq / 0x1_0000_0000));
  view.setUint32(at + 5, seq >>> 0);
  view.setUint32(at + 9, subjectLength);
  view.setUint32(at + 13, headerLength);
  view.setUint32(at + 17, payloadLength);
};

/** One packed record read back: views into the record's bytes. */
export interface PackedRecord {
  /** AUDITED_STREAMS index. */
  readonly stream: number;
  readonly seq: number;
  readonly subject: Uint8Array;
  /** Undefined when the message had no headers. */
  readonly headerBlock: Uint8Array | undefined;
  readonly payload: Uint8Array;
  /** Bytes the record takes, head included. */
  readonly length: number;
}

/** The record at the start of `bytes`; undefined when `bytes` does not hold a whole, well-formed one. */
export const readPackedRecord = (bytes: Uint8Array): PackedRecord | undefined => {
  if (bytes.length < RECORD_HEAD_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stream = view.getUint8(0);
  const subjectLength = view.getUint32(9);
  const headerLength = view.getUint32(13);
  const length = RECORD_HEAD_BYTES + subjectLength + headerLength + view.getUint32(17);
  if (stream >= STREAM_NAMES.length || length > bytes.length) return undefined;
  const header = RECORD_HEAD_BYTES + subjectLength;
  return {
    stream,
    seq: view.getUint32(1) * 0x1_0000_0000 + view.getUint32(5),
    subject: bytes.subarray(RECORD_HEAD_BYTES, header),
    headerBlock: headerLength > 0 ? bytes.subarray(header, header + headerLength) : undefined,
    payload: bytes.subarray(header + headerLength, length),
    length,
  };
};

/** RFC 9162 leaf hash of the leaf the encoder wrote last: SHA-256(0x00 || leaf), as merkle.ts `leafHash`. */
export const hashEncodedLeaf = (encoder: LeafEncoder): Uint8Array => sha256(encoder.prefixed());

const HASH = 32;

/**
 * The frontier of an RFC 9162 tree: its size and the roots of its perfect subtrees, largest
 * first — `CompactTree` of merkle.ts without the node reports (leaf-records.test.ts pins that
 * both give the same roots). Appending merges one peak per trailing 1 bit of the size. Peaks
 * live in one flat array and each merge hashes 0x01 || peak || node in one reused buffer, the
 * result landing where the next merge reads it: no allocation per leaf.
 */
export class FrontierTree {
  /** Peak k at [32k, 32k + 32); at most 53 (sizes are below 2^53). */
  private readonly peaks = new Uint8Array(64 * HASH);
  private count = 0;
  /** 0x01, left, right: the input of a node hash; the merged node is written back as the right. */
  private readonly pair = new Uint8Array(1 + 2 * HASH);

  constructor(
    public size = 0,
    peaks: readonly Uint8Array[] = [],
  ) {
    this.pair[0] = 0x01;
    for (const peak of peaks) this.peaks.set(peak, this.count++ * HASH);
  }

  /** Appends the leaf hash at source[offset, offset + 32). */
  appendAt(source: Uint8Array, offset: number): void {
    const { pair, peaks } = this;
    for (let i = 0; i < HASH; i++) pair[1 + HASH + i] = source[offset + i]!;
    for (let rest = this.size; rest % 2 === 1; rest = Math.floor(rest / 2)) {
      const left = --this.count * HASH;
      for (let i = 0; i < HASH; i++) pair[1 + i] = peaks[left + i]!;
      sha256Into(pair, pair, 1 + HASH);
    }
    const at = this.count++ * HASH;
    for (let i = 0; i < HASH; i++) peaks[at + i] = pair[1 + HASH + i]!;
    this.size++;
  }

  append(leaf: Uint8Array): void {
    this.appendAt(leaf, 0);
  }

  /** MTH of the leaves so far (the empty tree's is SHA-256 of nothing). */
  root(): Uint8Array {
    if (this.count === 0) return sha256(new Uint8Array(0));
    const fold = new Uint8Array(this.pair);
    fold.set(this.peaks.subarray((this.count - 1) * HASH, this.count * HASH), 1 + HASH);
    for (let k = this.count - 2; k >= 0; k--) {
      fold.set(this.peaks.subarray(k * HASH, (k + 1) * HASH), 1);
      sha256Into(fold, fold, 1 + HASH);
    }
    return fold.slice(1 + HASH);
  }

  frontier(): Uint8Array[] {
    return Array.from({ length: this.count }, (_, k) => this.peaks.slice(k * HASH, (k + 1) * HASH));
  }
}

/** Hashes the `count` packed records of `records` into `out` (32 bytes each, in order), appending each to `tree` when given. */
export const hashPackedRecords = (encoder: LeafEncoder, records: Uint8Array, count: number, out: Uint8Array, tree?: FrontierTree): void => {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const stream = records[at]!;
    const seq = view.getUint32(at + 1) * 0x1_0000_0000 + view.getUint32(at + 5);
    const subject = at + RECORD_HEAD_BYTES;
    const header = subject + view.getUint32(at + 9);
    const payload = header + view.getUint32(at + 13);
    const end = payload + view.getUint32(at + 17);
    encoder.encodeWireRanges(STREAM_NAMES[stream]!, seq, records, subject, header, header, payload, payload, end);
    sha256Into(encoder.prefixed(), out, i * HASH);
    tree?.appendAt(out, i * HASH);
    at = end;
  }
};
