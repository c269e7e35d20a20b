/**
 * What one leaf of the audit log is: the canonical bytes of one stored message of an audited
 * stream, and the order in which the audited streams' messages enter the tree. Pure: the
 * projection, the verifier and an outside tool compute the same bytes from the same message.
 *
 * Leaf bytes (integers big-endian; `field(b)` is a 4-byte length, then the bytes of b):
 *
 *   "x0tta6bl4/audit/leaf/v1\n"            24 ASCII bytes, fixed
 *   field(stream name)                      ASCII, e.g. MESH
 *   stream sequence                         8 bytes, unsigned
 *   field(subject)                          UTF-8
 *   for each name of LEAF_HEADERS, in order:
 *     field(value)                          the header's first value, UTF-8, without the spaces
 *                                           and tabs around it
 *     or FF FF FF FF                        when the message has no such header
 *   field(payload)                          the stored payload bytes, as stored
 *
 * Every field is length-prefixed, so no two different messages have the same leaf bytes. Not in
 * the leaf: `traceparent` (not signed; it changes per hop), other headers, and the time the
 * server stored the message (a faithful copy of a stream into another server keeps its leaves).
 */

/** The audited streams, in the order their messages enter each checkpoint window. */
export const AUDITED_STREAMS = ["MESH", "HEAL", "FL", "GOV", "IDENTITY"] as const;
export type AuditedStream = (typeof AUDITED_STREAMS)[number];

export const LEAF_TAG = "x0tta6bl4/audit/leaf/v1\n";

/** The envelope headers a leaf covers, in leaf order: the signed ones and the signature. */
export const LEAF_HEADERS = [
  "X0-Type",
  "X0-Version",
  "Nats-Msg-Id",
  "X0-Producer",
  "X0-Key-Id",
  "X0-Occurred-At",
  "X0-Correlation-Id",
  "X0-Causation-Id",
  "X0-Signature",
] as const;

const ABSENT = 0xffffffff;
const utf8 = new TextEncoder();
const TAG = utf8.encode(LEAF_TAG);
const NAMES = LEAF_HEADERS.map((name) => utf8.encode(name));

/** One stored message as the leaf sees it. */
export interface LeafMessage {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  /** Header name → first value (only LEAF_HEADERS are read; a missing name is an absent header). */
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: Uint8Array;
}

/** The bytes every leaf buffer starts with: the RFC 9162 leaf prefix 0x00, then the tag. */
const withPrefix = (buffer: Uint8Array): Uint8Array => {
  buffer[0] = 0x00;
  buffer.set(TAG, 1);
  return buffer;
};

const assertSeq = (seq: number): void => {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`a stream sequence is an integer >= 0, got ${seq}`);
};

/**
 * Writes leaves into one growing buffer (the hot path of the auditor and the verifier encodes
 * hundreds of thousands of messages a second: no allocation per message). The buffer starts
 * with the RFC 9162 leaf prefix 0x00, so `prefixed()` is the input of the leaf hash without a
 * copy. Returned bytes are valid until the next call.
 */
export class LeafEncoder {
  private buffer = withPrefix(new Uint8Array(4096));
  /** Leaf bytes written after the prefix byte. */
  private length = 0;
  // Value ranges of LEAF_HEADERS found in a header block; -1 = absent.
  private readonly starts = new Int32Array(LEAF_HEADERS.length);
  private readonly ends = new Int32Array(LEAF_HEADERS.length);

  private ensure(total: number): void {
    if (1 + total <= this.buffer.length) return;
    this.buffer = withPrefix(new Uint8Array(Math.max(this.buffer.length * 2, 1 + total)));
  }

  private u32(at: number, n: number): number {
    const b = this.buffer;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 0xff;
    b[at + 2] = (n >>> 8) & 0xff;
    b[at + 3] = n & 0xff;
    return at + 4;
  }

  private field(at: number, bytes: Uint8Array): number {
    at = this.u32(at, bytes.length);
    this.buffer.set(bytes, at);
    return at + bytes.length;
  }

  /** Copies source[start, end) to `at`; returns where it ends. */
  private copy(at: number, source: Uint8Array, start: number, end: number): number {
    const buffer = this.buffer;
    // Short values: a byte loop costs less than a subarray and a set.
    if (end - start <= 48) {
      for (let k = start; k < end; k++) buffer[at++] = source[k]!;
      return at;
    }
    buffer.set(start === 0 && end === source.length ? source : source.subarray(start, end), at);
    return at + end - start;
  }

  /** Writes stream and sequence after the prefix and tag; returns where the subject starts. */
  private begin(stream: Uint8Array, seq: number): number {
    assertSeq(seq);
    const at = this.field(1 + TAG.length, stream);
    this.u32(at, Math.floor(seq / 0x1_0000_0000));
    return this.u32(at + 4, seq >>> 0);
  }

  /** The leaf of a message given as fields (a proof bundle, a test). */
  encode(message: LeafMessage): Uint8Array {
    const stream = utf8.encode(message.stream);
    const subject = utf8.encode(message.subject);
    const values = LEAF_HEADERS.map((name) => {
      const value = message.headers[name];
      return value === undefined ? undefined : utf8.encode(trimSpaces(value));
    });
    this.ensure(TAG.length + 16 + stream.length + subject.length + values.reduce((n, v) => n + 4 + (v?.length ?? 0), 0) + 4 + message.payload.length);
    let at = this.field(this.begin(stream, message.seq), subject);
    for (const value of values) at = value === undefined ? this.u32(at, ABSENT) : this.field(at, value);
    at = this.field(at, message.payload);
    this.length = at - 1;
    return this.buffer.subarray(1, at);
  }

  /**
   * The leaf of a message as the server delivers it: its raw `NATS/1.0` header block (undefined:
   * no headers) and payload. Gives the same bytes as `encode` with the block's parsed values.
   */
  encodeWire(stream: Uint8Array, seq: number, subject: Uint8Array, headerBlock: Uint8Array | undefined, payload: Uint8Array): Uint8Array {
    const block = headerBlock ?? EMPTY;
    this.write(stream, seq, subject, 0, subject.length, block, 0, block.length, payload, 0, payload.length);
    return this.buffer.subarray(1, 1 + this.length);
  }

  /**
   * `encodeWire` with subject, header block and payload given as ranges of one buffer (as a
   * batch of packed messages holds them), so no view is made per message. An empty header
   * range is no headers. Read the result with `prefixed()`.
   */
  encodeWireRanges(
    stream: Uint8Array,
    seq: number,
    source: Uint8Array,
    subjectStart: number,
    subjectEnd: number,
    headerStart: number,
    headerEnd: number,
    payloadStart: number,
    payloadEnd: number,
  ): void {
    this.write(stream, seq, source, subjectStart, subjectEnd, source, headerStart, headerEnd, source, payloadStart, payloadEnd);
  }

  private write(
    stream: Uint8Array,
    seq: number,
    subject: Uint8Array,
    subjectStart: number,
    subjectEnd: number,
    block: Uint8Array,
    blockStart: number,
    blockEnd: number,
    payload: Uint8Array,
    payloadStart: number,
    payloadEnd: number,
  ): void {
    const starts = this.starts;
    const ends = this.ends;
    scanHeaderBlock(block, blockStart, blockEnd, starts, ends);
    let headerBytes = 0;
    for (let i = 0; i < starts.length; i++) headerBytes += 4 + (starts[i]! < 0 ? 0 : ends[i]! - starts[i]!);
    const subjectLength = subjectEnd - subjectStart;
    const payloadLength = payloadEnd - payloadStart;
    this.ensure(TAG.length + 16 + stream.length + subjectLength + headerBytes + 4 + payloadLength);
    let at = this.begin(stream, seq);
    at = this.copy(this.u32(at, subjectLength), subject, subjectStart, subjectEnd);
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      if (start < 0) at = this.u32(at, ABSENT);
      else at = this.copy(this.u32(at, ends[i]! - start), block, start, ends[i]!);
    }
    at = this.copy(this.u32(at, payloadLength), payload, payloadStart, payloadEnd);
    this.length = at - 1;
  }

  /** 0x00 followed by the last leaf written: what SHA-256 takes for the RFC 9162 leaf hash. */
  prefixed(): Uint8Array {
    return this.buffer.subarray(0, 1 + this.length);
  }
}

const EMPTY = new Uint8Array(0);
const CR = 13;
const LF = 10;
const COLON = 58;
const isSpace = (b: number) => b === 32 || b === 9;

/** The value without the spaces and tabs around it (not JavaScript's wider notion of white space). */
const trimSpaces = (value: string): string => {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return value.slice(start, end);
};

const PREFIX = utf8.encode("NATS/1.0");

/** LEAF_HEADERS indices by name length, so a header line is compared with at most three names. */
const NAMES_BY_LENGTH: number[][] = [];
NAMES.forEach((name, h) => (NAMES_BY_LENGTH[name.length] ??= []).push(h));

/** Which LEAF_HEADERS entry a header name is, or -1. */
const headerIndex = (block: Uint8Array, start: number, length: number): number => {
  const candidates = NAMES_BY_LENGTH[length];
  if (!candidates) return -1;
  for (const h of candidates) {
    const name = NAMES[h]!;
    let k = 0;
    while (k < length && block[start + k] === name[k]) k++;
    if (k === length) return h;
  }
  return -1;
};

/** Longest LEAF_HEADERS name: a colon further into a line ends no name of ours. */
const MAX_NAME = Math.max(...NAMES.map((n) => n.length));

// Buffer's indexOf finds a byte with memchr; TypedArray's indexOf and a byte loop cost several
// times more per header line (measured: ~10 ns against ~45 ns a line). It takes any Uint8Array.
const indexOfByte = Buffer.prototype.indexOf as (this: Uint8Array, value: number, byteOffset: number) => number;

/** The next LF in block[from, end), or end. */
const lineEnd = (block: Uint8Array, from: number, end: number): number => {
  const at = indexOfByte.call(block, LF, from);
  return at < 0 || at > end ? end : at;
};

/**
 * Finds the first value of each LEAF_HEADERS name in the raw header block block[start, length):
 * lines end in LF (a CR before it is dropped), the first line is the `NATS/1.0` status line, a
 * header line is `Name:value`; names match exactly (case-sensitive, as the envelope writes
 * them); the value is trimmed of spaces and tabs. A block that does not start with `NATS/1.0`
 * has no headers. Positions found are in `block`.
 */
const scanHeaderBlock = (block: Uint8Array, start: number, length: number, starts: Int32Array, ends: Int32Array): void => {
  for (let h = 0; h < starts.length; h++) starts[h] = -1;
  if (length - start < PREFIX.length) return;
  for (let i = 0; i < PREFIX.length; i++) if (block[start + i] !== PREFIX[i]) return;
  for (let line = lineEnd(block, start, length) + 1, found = 0; line < length && found < NAMES.length; ) {
    const end = lineEnd(block, line, length);
    const textEnd = end > line && block[end - 1] === CR ? end - 1 : end;
    // The first colon of the line, looked for only as far as a name of ours can reach.
    let colon = line;
    const limit = Math.min(textEnd, line + MAX_NAME + 1);
    while (colon < limit && block[colon] !== COLON) colon++;
    if (colon > line && colon < limit) {
      const h = headerIndex(block, line, colon - line);
      if (h >= 0 && starts[h]! < 0) {
        let first = colon + 1;
        let stop = textEnd;
        while (first < stop && isSpace(block[first]!)) first++;
        while (stop > first && isSpace(block[stop - 1]!)) stop--;
        starts[h] = first;
        ends[h] = stop;
        found++;
      }
    }
    line = end + 1;
  }
};

const decoder = new TextDecoder();

/** The LEAF_HEADERS values of a raw header block, as `LeafMessage.headers` takes them. */
export const leafHeadersFromWire = (headerBlock: Uint8Array | undefined): Record<string, string> => {
  const starts = new Int32Array(LEAF_HEADERS.length);
  const ends = new Int32Array(LEAF_HEADERS.length);
  const block = headerBlock ?? EMPTY;
  scanHeaderBlock(block, 0, block.length, starts, ends);
  const headers: Record<string, string> = {};
  LEAF_HEADERS.forEach((name, i) => {
    if (starts[i]! >= 0) headers[name] = decoder.decode(block.subarray(starts[i]!, ends[i]!));
  });
  return headers;
};

const shared = new LeafEncoder();

/** The leaf bytes of a message given as fields (a fresh copy). */
export const leafData = (message: LeafMessage): Uint8Array => shared.encode(message).slice();

/** The leaf bytes of a message as delivered: raw header block and payload (a fresh copy). */
export const leafDataFromWire = (stream: string, seq: number, subject: string, headerBlock: Uint8Array | undefined, payload: Uint8Array): Uint8Array =>
  shared.encodeWire(utf8.encode(stream), seq, utf8.encode(subject), headerBlock, payload).slice();

/** One stream's part of a checkpoint window: sequences first..last, both included. */
export interface StreamRange {
  readonly stream: AuditedStream;
  readonly first: number;
  readonly last: number;
}

/**
 * The leaves a checkpoint adds to the tree, in order: for each audited stream in AUDITED_STREAMS
 * order, one leaf per message stored with a sequence after the previous checkpoint's last
 * sequence of that stream, up to this checkpoint's. The first checkpoint starts from 0.
 */
export const windowRanges = (previous: Readonly<Record<string, number>> | undefined, next: Readonly<Record<string, number>>): StreamRange[] => {
  const ranges: StreamRange[] = [];
  for (const stream of AUDITED_STREAMS) {
    const from = previous?.[stream] ?? 0;
    const to = next[stream] ?? 0;
    if (to > from) ranges.push({ stream, first: from + 1, last: to });
  }
  return ranges;
};
