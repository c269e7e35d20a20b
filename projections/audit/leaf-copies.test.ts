import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LeafCopies } from "./leaf-copies.ts";

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString("utf8") : undefined);

/** Message i: stream i % 5, sequence 1000 + i, a header block on even i, a payload of i % 300 + 1 bytes. */
const message = (i: number) => {
  const header = i % 2 === 0 ? utf8.encode(`NATS/1.0\r\nNats-Msg-Id: m-${i}\r\n\r\n`) : new Uint8Array(0);
  const payload = utf8.encode(`payload-${i}-`.padEnd((i % 300) + 1, "x"));
  const bytes = new Uint8Array(header.length + payload.length);
  bytes.set(header);
  bytes.set(payload, header.length);
  return { stream: i % 5, seq: 1000 + i, subject: utf8.encode(`mesh.node-${i}.heartbeat`), bytes, headerLength: header.length, header, payload };
};

const add = (copies: LeafCopies, from: number, to: number, shift = 0) => {
  for (let i = from; i < to; i++) {
    const m = message(i + shift);
    copies.add(m.stream, m.seq, m.subject, m.bytes, m.headerLength);
  }
};

/** Leaf `index` reads back as message `index + shift`. */
const expectCopy = async (copies: LeafCopies, index: number, shift = 0) => {
  const m = message(index + shift);
  const copy = await copies.read(index);
  expect(copy, `leaf ${index}`).toBeDefined();
  expect({ stream: copy!.stream, seq: copy!.seq, subject: text(copy!.subject), header: text(copy!.headerBlock), payload: text(copy!.payload) }).toEqual({
    stream: m.stream,
    seq: m.seq,
    subject: text(m.subject),
    header: m.header.length > 0 ? text(m.header) : undefined,
    payload: text(m.payload),
  });
};

describe("local leaf copies", () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "x0-leaf-copies-")), "copies");
  });
  afterEach(async () => {
    await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("reads back every message by leaf index across segments, once flushed", async () => {
    const copies = await LeafCopies.open(dir, 0, { segmentBytes: 4096 });
    await copies.begin(0);
    add(copies, 0, 200);
    // Not on disk yet: nothing is served from a buffer.
    expect(await copies.read(199)).toBeUndefined();
    await copies.flush();
    for (let i = 0; i < 200; i++) await expectCopy(copies, i);
    expect(await copies.read(200)).toBeUndefined();
    expect(copies.ranges.length).toBeGreaterThan(5);
    expect(copies.ranges[0]![0]).toBe(0);
    expect(copies.ranges.at(-1)![1]).toBe(200);
    for (const name of await readdir(dir)) expect((await stat(join(dir, name))).mode & 0o777, name).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await copies.close();
  });

  it("forgets a dropped window and copies its replacement at the same indexes", async () => {
    const copies = await LeafCopies.open(dir, 0, { segmentBytes: 4096 });
    await copies.begin(0);
    add(copies, 0, 120);
    await copies.flush();
    // Cut inside a sealed segment, then the window is read again with other messages.
    await copies.truncate(50);
    expect(await copies.read(50)).toBeUndefined();
    await expectCopy(copies, 49);
    await copies.begin(50);
    add(copies, 50, 130, 1_000);
    await copies.flush();
    for (let i = 0; i < 50; i++) await expectCopy(copies, i);
    for (let i = 50; i < 130; i++) await expectCopy(copies, i, 1_000);
    await copies.close();
  });

  it("keeps its sealed segments across a restart, but none beyond the tree's size", async () => {
    const first = await LeafCopies.open(dir, 0, { segmentBytes: 4096 });
    await first.begin(0);
    add(first, 0, 100);
    await first.close();
    const again = await LeafCopies.open(dir, 100, { segmentBytes: 4096 });
    for (let i = 0; i < 100; i++) await expectCopy(again, i);
    await again.begin(100);
    add(again, 100, 110);
    await again.flush();
    await expectCopy(again, 105);
    await again.close();
    // A tree rebuilt shorter keeps only the segments wholly within it.
    const shorter = await LeafCopies.open(dir, 60, { segmentBytes: 4096 });
    const kept = shorter.ranges;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.at(-1)![1]).toBeLessThanOrEqual(60);
    expect(await shorter.read(60)).toBeUndefined();
    await expectCopy(shorter, 0);
    await shorter.close();
  });

  it("drops the segment that was being written when the process died, and continues after a gap", async () => {
    const crashed = await LeafCopies.open(dir, 0, { segmentBytes: 1 << 20 });
    await crashed.begin(0);
    add(crashed, 0, 40);
    await crashed.close();
    // What a crash leaves: the segment being written, without its offsets file.
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".offsets"))) await rm(join(dir, name));
    const again = await LeafCopies.open(dir, 40);
    expect(again.ranges).toEqual([]);
    expect(await again.read(0)).toBeUndefined();
    await again.begin(40);
    add(again, 40, 45);
    await again.flush();
    await expectCopy(again, 44);
    expect(await again.read(39)).toBeUndefined();
    await again.close();
  });

  it("deletes the oldest segments beyond its byte budget", async () => {
    const copies = await LeafCopies.open(dir, 0, { segmentBytes: 4096, maxBytes: 16_384 });
    await copies.begin(0);
    add(copies, 0, 400);
    await copies.flush();
    expect(copies.size).toBeLessThanOrEqual(16_384 + 4096 + 400);
    expect(await copies.read(0)).toBeUndefined();
    await expectCopy(copies, 399);
    expect(copies.ranges[0]![0]).toBeGreaterThan(0);
    await copies.close();
  });

  it("refuses offsets that do not fit their file, and never reads past what a record says", async () => {
    const copies = await LeafCopies.open(dir, 0, { segmentBytes: 1 << 20 });
    await copies.begin(0);
    add(copies, 0, 10);
    await copies.close();
    const [offsets] = (await readdir(dir)).filter((n) => n.endsWith(".offsets"));
    await writeFile(join(dir, offsets!), Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]));
    const reopened = await LeafCopies.open(dir, 10);
    expect(reopened.ranges).toEqual([]);
    expect(await reopened.read(0)).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
    await reopened.close();
  });
});
