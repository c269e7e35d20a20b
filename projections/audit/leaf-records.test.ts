import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CompactTree, leafData, leafHash, toHex } from "../../domains/audit/index.ts";
import { LeafEncoder } from "../../domains/audit/leaf.ts";
import { FrontierTree, hashEncodedLeaf, hashPackedRecords, RECORD_HEAD_BYTES } from "./leaf-records.ts";
import { LeafHasher } from "./leaf-hasher.ts";

const utf8 = new TextEncoder();

describe("the worker's leaf hashing and tree", () => {
  it("FrontierTree gives CompactTree's root at every size, and resumes from a frontier", () => {
    const compact = new CompactTree();
    const frontier = new FrontierTree();
    expect(toHex(frontier.root())).toBe(toHex(compact.root()));
    for (let i = 0; i < 70; i++) {
      const leaf = leafHash(randomBytes(i % 5));
      compact.append(leaf);
      frontier.append(leaf);
      expect(toHex(frontier.root()), `size ${i + 1}`).toBe(toHex(compact.root()));
      const resumed = new FrontierTree(frontier.size, frontier.frontier());
      expect(toHex(resumed.root())).toBe(toHex(compact.root()));
    }
    expect(frontier.frontier().map(toHex)).toEqual(compact.frontier().peaks.map(toHex));
  });

  it("hashes packed records to merkle.ts's leaf hash of the documented leaf bytes", () => {
    const header = utf8.encode("NATS/1.0\r\nX0-Type: mesh.HeartbeatSent\r\nNats-Msg-Id: id-1\r\n\r\n");
    const payload = Uint8Array.of(1, 2, 3);
    const subject = utf8.encode("mesh.n.heartbeat");
    const records = new Uint8Array(2 * (RECORD_HEAD_BYTES + subject.length + payload.length) + header.length);
    const view = new DataView(records.buffer);
    let at = 0;
    for (const [seq, withHeader] of [[2 ** 33 + 1, true], [7, false]] as const) {
      const headerLength = withHeader ? header.length : 0;
      records[at] = 1; // HEAL
      view.setUint32(at + 1, Math.floor(seq / 2 ** 32));
      view.setUint32(at + 5, seq >>> 0);
      view.setUint32(at + 9, subject.length);
      view.setUint32(at + 13, headerLength);
      view.setUint32(at + 17, payload.length);
      at += RECORD_HEAD_BYTES;
      records.set(subject, at);
      if (withHeader) records.set(header, at + subject.length);
      records.set(payload, at + subject.length + headerLength);
      at += subject.length + headerLength + payload.length;
    }
    const out = new Uint8Array(64);
    const tree = new FrontierTree();
    hashPackedRecords(new LeafEncoder(), records, 2, out, tree);
    const expected = [
      leafHash(leafData({ stream: "HEAL", seq: 2 ** 33 + 1, subject: "mesh.n.heartbeat", headers: { "X0-Type": "mesh.HeartbeatSent", "Nats-Msg-Id": "id-1" }, payload })),
      leafHash(leafData({ stream: "HEAL", seq: 7, subject: "mesh.n.heartbeat", headers: {}, payload })),
    ];
    expect([toHex(out.subarray(0, 32)), toHex(out.subarray(32))]).toEqual(expected.map(toHex));
    const encoder = new LeafEncoder();
    encoder.encode({ stream: "HEAL", seq: 7, subject: "mesh.n.heartbeat", headers: {}, payload });
    expect(toHex(hashEncodedLeaf(encoder))).toBe(toHex(expected[1]!));
    const compact = new CompactTree();
    expected.forEach((leaf) => compact.append(leaf));
    expect(toHex(tree.root())).toBe(toHex(compact.root()));
  });

  it("gives the same hashes and roots on the worker thread as inline, over batches that reuse their buffers", async () => {
    // Payloads big enough that a window spans several batches, and one larger than a batch.
    const payloads = Array.from({ length: 301 }, (_, i) => randomBytes(i === 150 ? 600_000 : (i * 7919) % 9000));
    const results = [];
    for (const worker of [false, true]) {
      const hasher = new LeafHasher({ worker });
      hasher.startTree({ size: 0, peaks: [] });
      for (let i = 1; i <= 300; i++) {
        const header = i % 2 ? utf8.encode(`NATS/1.0\r\nNats-Msg-Id: ${i}\r\n\r\n`) : undefined;
        const payload = payloads[i]!;
        // Half as strings and parts, half as the client receives them: header block and payload back to back.
        if (i % 3 === 0) hasher.pushWire(i % 5, i, utf8.encode(`mesh.n${i}.links`), Buffer.concat([header ?? new Uint8Array(0), payload]), header?.length ?? 0);
        else hasher.push(i % 5, i, `mesh.n${i}.links`, header, payload);
      }
      const first = await hasher.end();
      hasher.push(0, 301, "mesh.x.links", undefined, Uint8Array.of(9));
      const second = await hasher.end();
      await hasher.close();
      results.push({ hashes: toHex(first.hashes) + toHex(second.hashes), roots: [first.tree!, second.tree!].map((t) => `${t.size}:${toHex(t.root)}`) });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0]!.roots[1]!.startsWith("301:")).toBe(true);
  });
});
