import { describe, expect, it } from "vitest";
import { LEAF_HEADERS, LEAF_TAG, LeafEncoder, leafData, leafDataFromWire, leafHeadersFromWire, windowRanges } from "./leaf.ts";
import { leafHash } from "./merkle.ts";

const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const field = (s: string | Uint8Array) => {
  const bytes = typeof s === "string" ? utf8.encode(s) : s;
  return Buffer.concat([u32(bytes.length), bytes]);
};
const block = (...lines: string[]) => utf8.encode(`NATS/1.0\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`);

const envelope: Record<string, string> = {
  "X0-Type": "mesh.HeartbeatSent",
  "X0-Version": "1",
  "Nats-Msg-Id": "0190a5b0-0000-7000-8000-000000000001",
  "X0-Producer": "node-1",
  "X0-Key-Id": "0123456789abcdef",
  "X0-Occurred-At": "2026-11-26T10:00:00.000Z",
  "X0-Correlation-Id": "0190a5b0-0000-7000-8000-000000000001",
  "X0-Causation-Id": "0190a5b0-0000-7000-8000-000000000001",
  "X0-Signature": "c2lnbmF0dXJl",
};

describe("leaf encoding", () => {
  it("is the documented byte string, written out by hand here", () => {
    const payload = Uint8Array.of(0xa1, 0x61, 0x78, 0x01);
    const expected = Buffer.concat([
      Buffer.from(LEAF_TAG),
      field("MESH"),
      Buffer.from([0, 0, 0, 0, 0, 0, 1, 0x2c]), // 300
      field("mesh.node-1.heartbeat"),
      ...LEAF_HEADERS.map((name) => (name === "X0-Causation-Id" ? Buffer.from([0xff, 0xff, 0xff, 0xff]) : field(envelope[name]!))),
      field(payload),
    ]);
    const headers = Object.fromEntries(Object.entries(envelope).filter(([name]) => name !== "X0-Causation-Id"));
    expect(hex(leafData({ stream: "MESH", seq: 300, subject: "mesh.node-1.heartbeat", headers, payload }))).toBe(hex(expected));
    expect(LEAF_TAG).toHaveLength(24);
  });

  it("gives the same bytes from the wire header block as from parsed fields", () => {
    const payload = utf8.encode("payload bytes");
    const wire = block(...Object.entries(envelope).map(([k, v]) => `${k}: ${v}`), "traceparent: 00-abc-def-01");
    expect(hex(leafDataFromWire("HEAL", 7, "heal.n.command", wire, payload))).toBe(hex(leafData({ stream: "HEAL", seq: 7, subject: "heal.n.command", headers: envelope, payload })));
    expect(leafHeadersFromWire(wire)).toEqual(envelope);
  });

  it("reads header values as documented: first value, trimmed of spaces and tabs, names case-sensitive", () => {
    const wire = block("X0-Type:  \tmesh.A \t", "X0-Type: mesh.B", "x0-version: 9", "Nats-Msg-Id:", "X0-Producer: a:b");
    expect(leafHeadersFromWire(wire)).toEqual({ "X0-Type": "mesh.A", "Nats-Msg-Id": "", "X0-Producer": "a:b" });
    const fields = leafData({ stream: "GOV", seq: 1, subject: "gov.p.voted", headers: { "X0-Type": " mesh.A\t", "Nats-Msg-Id": "", "X0-Producer": "a:b" }, payload: new Uint8Array() });
    expect(hex(leafDataFromWire("GOV", 1, "gov.p.voted", wire, new Uint8Array()))).toBe(hex(fields));
    // Bare LF line ends read the same as CRLF.
    expect(leafHeadersFromWire(utf8.encode("NATS/1.0\nX0-Type: mesh.A\n\n"))).toEqual({ "X0-Type": "mesh.A" });
  });

  it("tells an absent header from an empty one, and a message without headers from one with", () => {
    const base = { stream: "MESH", seq: 1, subject: "mesh.x.heartbeat", payload: new Uint8Array() };
    const absent = leafData({ ...base, headers: {} });
    const empty = leafData({ ...base, headers: { "X0-Type": "" } });
    expect(hex(absent)).not.toBe(hex(empty));
    expect(hex(leafDataFromWire("MESH", 1, "mesh.x.heartbeat", undefined, new Uint8Array()))).toBe(hex(absent));
    // A block that is not a NATS header block carries no headers.
    expect(hex(leafDataFromWire("MESH", 1, "mesh.x.heartbeat", utf8.encode("HTTP/1.1\r\nX0-Type: a\r\n\r\n"), new Uint8Array()))).toBe(hex(absent));
  });

  it("changes with every part it covers: stream, sequence, subject, a signed header, the payload", () => {
    const base = { stream: "MESH", seq: 5, subject: "mesh.n.links", headers: envelope, payload: Uint8Array.of(1, 2, 3) };
    const leaves = [
      base,
      { ...base, stream: "HEAL" },
      { ...base, seq: 6 },
      { ...base, subject: "mesh.n.metrics" },
      { ...base, headers: { ...envelope, "X0-Signature": "b3RoZXI=" } },
      { ...base, payload: Uint8Array.of(1, 2, 4) },
      // Bytes moved between adjacent fields must not give the same leaf.
      { ...base, subject: "mesh.n.link", payload: Uint8Array.of(0x73, 1, 2, 3) },
    ].map((m) => hex(leafHash(leafData(m))));
    expect(new Set(leaves).size).toBe(leaves.length);
    // traceparent is not covered (not signed; it changes per hop).
    const withTrace = leafDataFromWire("MESH", 5, "mesh.n.links", block(...Object.entries(envelope).map(([k, v]) => `${k}: ${v}`), "traceparent: 00-1-2-01"), base.payload);
    expect(hex(withTrace)).toBe(hex(leafData(base)));
  });

  it("gives the same leaf from ranges of one buffer as from separate parts, whatever bytes surround them", () => {
    const header = block(...Object.entries(envelope).map(([k, v]) => `${k}: ${v}`));
    // A block cut short (no final line end) must not read its value from the payload after it.
    const cut = utf8.encode("NATS/1.0\r\nX0-Type: mesh.X\r\nX0-Version: 1");
    const payload = utf8.encode("\nX0-Producer: intruder\n");
    for (const [headerBlock, subject] of [[header, "mesh.n.links"], [cut, "mesh.n.x"], [new Uint8Array(), "mesh.ü.x"]] as const) {
      const subjectBytes = utf8.encode(subject);
      const packed = new Uint8Array(7 + subjectBytes.length + headerBlock.length + payload.length + 5).fill(0x0a);
      const subjectAt = 7;
      const headerAt = subjectAt + subjectBytes.length;
      const payloadAt = headerAt + headerBlock.length;
      packed.set(subjectBytes, subjectAt);
      packed.set(headerBlock, headerAt);
      packed.set(payload, payloadAt);
      const encoder = new LeafEncoder();
      encoder.encodeWireRanges(utf8.encode("GOV"), 2 ** 33 + 9, packed, subjectAt, headerAt, headerAt, payloadAt, payloadAt, payloadAt + payload.length);
      const fromRanges = hex(encoder.prefixed());
      const fromParts = hex(leafDataFromWire("GOV", 2 ** 33 + 9, subject, headerBlock.length > 0 ? headerBlock : undefined, payload));
      expect(fromRanges).toBe(`00${fromParts}`);
    }
    expect(leafHeadersFromWire(cut)).toEqual({ "X0-Type": "mesh.X", "X0-Version": "1" });
  });

  it("encodes sequences above 2^32 in 8 bytes", () => {
    const encoder = new LeafEncoder();
    const bytes = encoder.encode({ stream: "MESH", seq: 2 ** 40 + 5, subject: "s", headers: {}, payload: new Uint8Array() });
    expect(hex(bytes.subarray(LEAF_TAG.length + 8, LEAF_TAG.length + 16))).toBe("0000010000000005");
    expect(hex(encoder.prefixed())).toBe(`00${hex(bytes)}`);
  });

  it("lays out a checkpoint window stream by stream in the fixed order, skipping streams with nothing new", () => {
    expect(windowRanges(undefined, { IDENTITY: 2, MESH: 3, HEAL: 0, FL: 0, GOV: 1 })).toEqual([
      { stream: "MESH", first: 1, last: 3 },
      { stream: "GOV", first: 1, last: 1 },
      { stream: "IDENTITY", first: 1, last: 2 },
    ]);
    expect(windowRanges({ MESH: 3, HEAL: 4, FL: 0, GOV: 1, IDENTITY: 2 }, { MESH: 5, HEAL: 4, FL: 0, GOV: 1, IDENTITY: 3 })).toEqual([
      { stream: "MESH", first: 4, last: 5 },
      { stream: "IDENTITY", first: 3, last: 3 },
    ]);
  });
});
