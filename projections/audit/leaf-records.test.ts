import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CompactTree, leafData, leafHash, toHex } from "../../domains/audit/index.ts";
import { LeafEncoder } from "../../domains/audit/leaf.ts";
import { FrontierTree, hashEncodedLeaf, hashPackedRecords, NO_HEADERS } from "./leaf-records.ts";
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
    const records = new Uint8Array(9 + 4 + subject.length + 4 + header.length + 4 + payload.length + 9 + 4 + subject.length + 4 + 4 + payload.length);
    const view = new DataView(records.buffer);
    let at = 0;
    for (const [seq, withHeader] of [[2 ** 33 + 1, true], [7, false]] as const) {
      records[at] = 1; // HEAL
      view.setUint32(at + 1, Math.floor(seq / 2 ** 32));
      view.setUint32(at + 5, seq >>> 0);
      at += 9;
      view.setUint32(at, subject.length);
      records.set(subject, at + 4);
      at += 4 + subject.length;
      if (withHeader) {
        view.setUint32(at, header.length);
        records.set(header, at + 4);
        at += 4 + header.length;
      } else {
        view.setUint32(at, NO_HEADERS);
        at += 4;
      }
      view.setUint32(at, payload.length);
      records.set(payload, at + 4);
      at += 4 + payload.length;
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

  it("gives the same hashes and roots on the worker thread as inline", async () => {
    const results = [];
    for (const worker of [false, true]) {
      const hasher = new LeafHasher({ worker });
      hasher.startTree({ size: 0, peaks: [] });
      for (let i = 1; i <= 300; i++) hasher.push(i % 5, i, `mesh.n${i}.links`, i % 2 ? utf8.encode(`NATS/1.0\r\nNats-Msg-Id: ${i}\r\n\r\n`) : undefined, randomBytes(0));
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
