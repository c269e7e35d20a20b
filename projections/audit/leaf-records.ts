import { hash } from "node:crypto";
import { AUDITED_STREAMS, LeafEncoder } from "../../domains/audit/leaf.ts";

/**
 * What the leaf hashing worker runs: the packed form in which messages travel to it, leaf
 * hashing, and the tree the leaves are appended to. Imports only the leaf encoding and
 * node:crypto: `domains/audit/merkle.ts` brings effect's Schema, whose import alone takes
 * seconds, and a worker is started per verification. Per message:
 *   u8 stream number (AUDITED_STREAMS index), u32 sequence high, u32 sequence low,
 *   u32 subject length, subject UTF-8, u32 header block length (FFFFFFFF: none), header block,
 *   u32 payload length, payload
 */

export const NO_HEADERS = 0xffffffff;
export const STREAM_NAMES = AUDITED_STREAMS.map((name) => new TextEncoder().encode(name));

/** RFC 9162 leaf hash of the leaf the encoder wrote last: SHA-256(0x00 || leaf), as merkle.ts `leafHash`. */
export const hashEncodedLeaf = (encoder: LeafEncoder): Buffer => hash("sha256", encoder.prefixed(), "buffer");

const pair = new Uint8Array(65);

/** RFC 9162 node hash SHA-256(0x01 || left || right), as merkle.ts `nodeHash`. */
const hashNode = (left: Uint8Array, right: Uint8Array): Uint8Array => {
  pair[0] = 0x01;
  pair.set(left, 1);
  pair.set(right, 33);
  return hash("sha256", pair, "buffer");
};

/**
 * The frontier of an RFC 9162 tree: its size and the roots of its perfect subtrees, largest
 * first — `CompactTree` of merkle.ts without the node reports (leaf-records.test.ts pins that
 * both give the same roots). Appending merges one peak per trailing 1 bit of the size.
 */
export class FrontierTree {
  private peaks: Uint8Array[] = [];

  constructor(
    public size = 0,
    peaks: readonly Uint8Array[] = [],
  ) {
    this.peaks = peaks.map((p) => new Uint8Array(p));
  }

  /** Appends a leaf hash; the tree keeps the array given (the caller does not reuse it). */
  append(leaf: Uint8Array): void {
    let node = leaf;
    for (let rest = this.size; rest % 2 === 1; rest = Math.floor(rest / 2)) node = hashNode(this.peaks.pop()!, node);
    this.peaks.push(node);
    this.size++;
  }

  /** MTH of the leaves so far (the empty tree's is SHA-256 of nothing). */
  root(): Uint8Array {
    if (this.peaks.length === 0) return hash("sha256", new Uint8Array(0), "buffer");
    let node = this.peaks[this.peaks.length - 1]!;
    for (let i = this.peaks.length - 2; i >= 0; i--) node = hashNode(this.peaks[i]!, node);
    return new Uint8Array(node);
  }

  frontier(): Uint8Array[] {
    return this.peaks.map((p) => new Uint8Array(p));
  }
}

/** Hashes the `count` packed records of `records` into `out` (32 bytes each, in order), appending each to `tree` when given. */
export const hashPackedRecords = (encoder: LeafEncoder, records: Uint8Array, count: number, out: Uint8Array, tree?: FrontierTree): void => {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const stream = records[offset]!;
    const seq = view.getUint32(offset + 1) * 0x1_0000_0000 + view.getUint32(offset + 5);
    offset += 9;
    const subjectLength = view.getUint32(offset);
    const subject = records.subarray(offset + 4, offset + 4 + subjectLength);
    offset += 4 + subjectLength;
    const headerLength = view.getUint32(offset);
    let header: Uint8Array | undefined;
    offset += 4;
    if (headerLength !== NO_HEADERS) {
      header = records.subarray(offset, offset + headerLength);
      offset += headerLength;
    }
    const payloadLength = view.getUint32(offset);
    const payload = records.subarray(offset + 4, offset + 4 + payloadLength);
    offset += 4 + payloadLength;
    encoder.encodeWire(STREAM_NAMES[stream]!, seq, subject, header, payload);
    const leaf = hashEncodedLeaf(encoder);
    out.set(leaf, i * 32);
    tree?.append(leaf);
  }
};
