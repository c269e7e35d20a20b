import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointHash, LEAF_HEADERS, leafData, merkleRoot, toHex, windowRanges, type Checkpoint } from "../../domains/audit/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { Auditor, verifyAuditLog } from "../../projections/audit/index.ts";
import { chainEnd, getChainEntry } from "../../projections/audit/chain.ts";
import { deliveredWire, headerBlockOf } from "../../projections/audit/stream-cursor.ts";
import { EventStore, generateSigningKey, Producer, ProducerRegistry } from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/**
 * The audit projection against a real nats-server: checkpoints whose roots an independent
 * computation reproduces, restart, two auditors racing, a forged checkpoint, and the server
 * refusing deletes and purges on audited streams.
 */

/** Leaf bytes of every stored message of a stream in (from, to], read through nats.js's own header parser. */
const leavesOf = async (nats: TestNats, stream: string, from: number, to: number): Promise<Uint8Array[]> => {
  if (to <= from) return [];
  const js = jetstream(nats.nc);
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 });
  const out: Uint8Array[] = [];
  const messages = await consumer.consume({ max_messages: 256 });
  for await (const msg of messages) {
    const headers: Record<string, string> = {};
    for (const name of LEAF_HEADERS) {
      const value = msg.headers?.get(name);
      if (msg.headers?.has(name)) headers[name] = value ?? "";
    }
    out.push(leafData({ stream, seq: msg.seq, subject: msg.subject, headers, payload: msg.data }));
    if (msg.seq >= to) break;
  }
  await messages.close();
  return out;
};

/** The root a chain of checkpoints should have, recomputed here from the window definition alone. */
const expectedRoot = async (nats: TestNats, checkpoints: readonly Checkpoint[]): Promise<string> => {
  const leaves: Uint8Array[] = [];
  let previous: Checkpoint | undefined;
  for (const checkpoint of checkpoints) {
    for (const range of windowRanges(previous?.lastSequence, checkpoint.lastSequence)) {
      leaves.push(...(await leavesOf(nats, range.stream, range.first - 1, range.last)));
    }
    previous = checkpoint;
  }
  return toHex(merkleRoot(leaves));
};

const chain = async (jsm: JetStreamManager): Promise<{ number: number; checkpoint: Checkpoint; producerId?: string }[]> => {
  const out = [];
  const end = await chainEnd(jsm);
  for (let n = 1; n <= end; n++) {
    const entry = await getChainEntry(jsm, n);
    if (entry?.checkpoint) out.push({ number: n, checkpoint: entry.checkpoint, ...(entry.producerId ? { producerId: entry.producerId } : {}) });
  }
  return out;
};

describe("audit log over a real nats-server", () => {
  let nats: TestNats;
  let store: EventStore;
  let jsm: JetStreamManager;
  let registry: ProducerRegistry;
  const auditorKey = generateSigningKey();
  const auditor = () => new Producer("auditor-1", auditorKey);
  const nodes = Array.from({ length: 4 }, (_, i) => testNode(`node-${i}`, i + 1));

  const appendMesh = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const node = nodes[i % nodes.length]!;
      await store.append(i < nodes.length ? node.announce() : node.heartbeat(i));
    }
  };

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    jsm = await jetstreamManager(nats.nc);
    registry = ProducerRegistry.inMemory();
  });
  afterAll(async () => nats?.close());

  it("signs checkpoints whose roots an independent computation gives, and verify agrees", async () => {
    await appendMesh(12);
    const operator = new Producer("operator-x", generateSigningKey());
    await store.append(operator.seal(ProducerEnrolled, { producerId: "operator-x", publicKey: operator.key.publicKey, role: "operator" }, enrolmentSubject("operator-x")));
    // A message that is no event at all is a leaf too: the log records what is stored.
    await nats.nc.publish("gov.p1.proposed", new TextEncoder().encode("not cbor"));
    await nats.nc.flush();
    const first = new Auditor(nats.nc, { producer: auditor(), registry, checkpointEvery: 5, checkpointIntervalMs: 3_600_000, hashWorker: false });
    await first.start();
    await first.settle();
    const checkpoints = await chain(jsm);
    // 12 MESH + 2 IDENTITY (the auditor's enrolment, the operator's) + 1 GOV = 15 leaves, at most 5 per checkpoint.
    expect(checkpoints.map((c) => c.checkpoint.treeSize)).toEqual([5, 10, 15]);
    expect(checkpoints.every((c, i) => i === 0 ? c.checkpoint.previousHash === null : toHex(c.checkpoint.previousHash!) === toHex(checkpointHash(checkpoints[i - 1]!.checkpoint)))).toBe(true);
    expect(toHex(checkpoints[2]!.checkpoint.rootHash)).toBe(await expectedRoot(nats, checkpoints.map((c) => c.checkpoint)));
    expect(first.head?.number).toBe(checkpoints[2]!.number);
    await first.stop();

    const report = await verifyAuditLog(nats.nc, { hashWorker: false });
    expect(report.divergence).toBeUndefined();
    expect(report).toMatchObject({ ok: true, checkpointsChecked: 3, checkpointsRecomputed: 3, leaves: 15 });
    expect(report.auditors).toEqual([`auditor-1 ${auditorKey.keyId}`]);
  });

  it("reads delivered messages as the client received them: the raw subject, header block and payload the leaves are hashed from", async () => {
    const consumer = await jetstream(nats.nc).consumers.get("MESH", { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.fetch({ max_messages: 1, expires: 2_000 });
    let checked = 0;
    for await (const msg of messages) {
      const wire = deliveredWire(msg);
      // Undefined would mean the installed nats.js changed shape: the leaves would still be right, by the slower public fields.
      expect(wire).toBeDefined();
      expect(new TextDecoder().decode(wire!.subject)).toBe(msg.subject);
      expect(toHex(wire!.bytes.subarray(wire!.headerLength))).toBe(toHex(msg.data));
      expect(toHex(wire!.bytes.subarray(0, wire!.headerLength))).toBe(toHex(headerBlockOf(msg)!));
      checked++;
    }
    expect(checked).toBe(1);
  });

  it("restarts from its stored tree and continues the same chain", async () => {
    const before = await chain(jsm);
    await appendMesh(3);
    // enrol: false: this test's registry is not fed by an identity projection, so it would enrol again.
    const again = new Auditor(nats.nc, { producer: auditor(), registry, checkpointEvery: 100, checkpointIntervalMs: 3_600_000, hashWorker: false, enrol: false });
    await again.start();
    expect(again.hashes.size).toBe(before[before.length - 1]!.checkpoint.treeSize);
    await again.checkpointNow();
    await again.stop();
    const after = await chain(jsm);
    expect(after).toHaveLength(before.length + 1);
    const last = after[after.length - 1]!.checkpoint;
    expect(last.treeSize).toBe(18);
    expect(toHex(last.rootHash)).toBe(await expectedRoot(nats, after.map((c) => c.checkpoint)));
    expect((await verifyAuditLog(nats.nc, { hashWorker: true })).ok).toBe(true);
  });
});
