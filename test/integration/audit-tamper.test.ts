import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type RunningNatsServer } from "../../adapters/nats-server/index.ts";
import {
  AUDITED_STREAMS,
  CHECKPOINT_SUBJECT,
  CheckpointSigned,
  checkpointHash,
  checkpointView,
  equalHashes,
  leafData,
  leafHash,
  leafHeadersFromWire,
  signCheckpoint,
  toHex,
  verifyInclusionBundle,
  type InclusionBundle,
} from "../../domains/audit/index.ts";
import { Auditor, AuditProofs, verifyAuditLog } from "../../projections/audit/index.ts";
import { chainEnd, getChainEntry } from "../../projections/audit/chain.ts";
import { connectNats } from "../../streams/connection.ts";
import { EventStore, generateSigningKey, Producer, ProducerRegistry, type SigningKey } from "../../streams/index.ts";
import { streamConfig, streamNamed, streams } from "../../streams/topology.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/**
 * Tamper tests of issue 5 against real nats-servers: the server refuses deletes and purges on
 * audited streams; two auditors racing never fork the chain; a proof for the wrong checkpoint
 * is rejected; a stream rebuilt out of band (one event changed, one removed, two swapped) is
 * named at its first bad event; a forged checkpoint signature is named.
 */

interface CopiedMessage {
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
}

/** Every stored message of a stream, in order. */
const readAll = async (nc: NatsConnection, stream: string): Promise<CopiedMessage[]> => {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 512 });
  const out: CopiedMessage[] = [];
  for await (const msg of messages) {
    out.push({ subject: msg.subject, headers: msg.headers, data: msg.data });
    if (msg.seq >= info.state.last_seq) break;
  }
  return out;
};

/** A fresh nats-server holding a copy of `source`'s streams and audit bucket, with `rebuild` applied to MESH. */
const rebuiltCopy = async (
  source: NatsConnection,
  rebuild: (mesh: CopiedMessage[]) => CopiedMessage[],
  options: { readonly afterCopy?: (jsm: JetStreamManager) => Promise<void>; readonly meshDenyDelete?: boolean } = {},
): Promise<{ nc: NatsConnection; close: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), "x0-rebuilt-"));
  const server: RunningNatsServer = await startNatsServer({ dataDir: dir });
  const nc = await connectNats({ servers: server.url, name: "x0-rebuilt" });
  const close = async () => {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await copyInto(source, nc, rebuild, options);
  } catch (error) {
    await close();
    throw error;
  }
  return { nc, close };
};

const copyInto = async (
  source: NatsConnection,
  nc: NatsConnection,
  rebuild: (mesh: CopiedMessage[]) => CopiedMessage[],
  options: { readonly afterCopy?: (jsm: JetStreamManager) => Promise<void>; readonly meshDenyDelete?: boolean },
): Promise<void> => {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const def of streams) {
    const config = streamConfig(def, { storageBytes: 256 * 1024 ** 2 });
    // An out-of-band rebuild can remove a message from the middle: the copy of MESH allows it.
    await jsm.streams.add(def.name === "MESH" && options.meshDenyDelete === false ? { ...config, deny_delete: false } : config);
    const original = await readAll(source, def.name);
    for (const msg of def.name === "MESH" ? rebuild(original) : original) {
      await js.publish(msg.subject, msg.data, msg.headers ? { headers: msg.headers } : {});
    }
  }
  const from = await new Kvm(source).open("audit");
  const to = await new Kvm(nc).create("audit", { history: 1 });
  for await (const key of await from.keys()) {
    const entry = await from.get(key);
    if (entry?.operation === "PUT") await to.put(key, entry.value);
  }
  await options.afterCopy?.(jsm);
};

describe("audit log tamper tests over real nats-servers", () => {
  let nats: TestNats;
  let store: EventStore;
  let jsm: JetStreamManager;
  const registry = ProducerRegistry.inMemory();
  const keyA = generateSigningKey();
  const keyB = generateSigningKey();
  let a: Auditor;
  let b: Auditor;
  let copiesRoot: string | undefined;
  const nodes = Array.from({ length: 3 }, (_, i) => testNode(`tamper-${i}`, i + 1));

  const appendMesh = async (count: number, from = 0) => {
    for (let i = from; i < from + count; i++) {
      const node = nodes[i % nodes.length]!;
      await store.append(i < nodes.length ? node.announce() : node.heartbeat(i));
    }
  };

  /** What x0 up's identity projection does for an enrolled auditor: bind its key. */
  const bindAuditor = async (producerId: string, key: SigningKey) => {
    const info = await jsm.streams.info("IDENTITY");
    registry.introduce(producerId, key.publicKey, { stream: "IDENTITY", seq: info.state.last_seq });
  };

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    jsm = await jetstreamManager(nats.nc);
    await appendMesh(20);
    copiesRoot = await mkdtemp(join(tmpdir(), "x0-audit-race-copies-"));
    a = new Auditor(await nats.connect("auditor-a"), {
      producer: new Producer("auditor-a", keyA),
      registry,
      checkpointEvery: 8,
      checkpointIntervalMs: 3_600_000,
      hashWorker: false,
      copies: { dir: join(copiesRoot, "a") },
    });
    await a.start();
    await bindAuditor("auditor-a", keyA);
    await a.settle();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await nats?.close();
    if (copiesRoot) await rm(copiesRoot, { recursive: true, force: true });
  });

  /** Every leaf of the auditor's tree has a local copy that hashes to it (the loser's dropped window included). */
  const expectCopiesMatchTree = async (auditor: Auditor) => {
    const size = auditor.hashes.size;
    expect(auditor.leafCopies!.ranges.at(-1)?.[1]).toBe(size);
    for (let index = 0; index < size; index++) {
      const copy = (await auditor.leafCopies!.read(index))!;
      const hash = leafHash(
        leafData({ stream: AUDITED_STREAMS[copy.stream]!, seq: copy.seq, subject: Buffer.from(copy.subject).toString(), headers: leafHeadersFromWire(copy.headerBlock), payload: copy.payload }),
      );
      expect(toHex(hash), `${auditor.producerId} leaf ${index}`).toBe(toHex(auditor.hashes.nodeHash({ level: 0, index })));
    }
  };

  it("the server refuses to delete or purge messages of every audited stream", async () => {
    for (const name of ["MESH", "HEAL", "FL", "GOV", "IDENTITY", "AUDIT"]) {
      expect(streamNamed(name as "MESH").audited).toBe(true);
      const info = await jsm.streams.info(name);
      expect(info.config.deny_delete, name).toBe(true);
      expect(info.config.deny_purge, name).toBe(true);
    }
    await expect(jsm.streams.deleteMessage("MESH", 1)).rejects.toThrow(/delete/i);
    await expect(jsm.streams.deleteMessage("AUDIT", 1, false)).rejects.toThrow(/delete/i);
    await expect(jsm.streams.purge("MESH")).rejects.toThrow(/purge/i);
    await expect(jsm.streams.purge("IDENTITY", { filter: "identity.>" })).rejects.toThrow(/purge/i);
    expect((await jsm.streams.info("MESH")).state.messages).toBe(20);
  });

  it("two auditors racing for the same window never fork the chain: the loser adopts the winner's checkpoint", async () => {
    b = new Auditor(await nats.connect("auditor-b"), {
      producer: new Producer("auditor-b", keyB),
      registry,
      checkpointEvery: 8,
      checkpointIntervalMs: 3_600_000,
      hashWorker: false,
      copies: { dir: join(copiesRoot!, "b") },
    });
    await b.start();
    await bindAuditor("auditor-b", keyB);
    await a.settle();
    await b.settle();
    const before = await chainEnd(jsm);
    expect(b.head?.number).toBe(before);
    await appendMesh(5, 20);
    const [madeA, madeB] = await Promise.all([a.checkpointNow(), b.checkpointNow()]);
    const after = await chainEnd(jsm);
    // Exactly one of them appended; the other lost the race and adopted it.
    expect(after).toBe(before + 1);
    expect([madeA, madeB].filter((n) => n !== undefined)).toEqual([after]);
    expect(a.stats.conflicts + b.stats.conflicts).toBe(1);
    expect(a.head?.number).toBe(after);
    expect(b.head?.number).toBe(after);
    // The next window goes to whoever asks: each continues the other's chain.
    await appendMesh(3, 25);
    expect(await b.checkpointNow()).toBe(after + 1);
    await appendMesh(2, 28);
    expect(await a.checkpointNow()).toBe(after + 2);
    const report = await verifyAuditLog(nats.nc, { hashWorker: false, auditorKeys: [keyA.publicKey, keyB.publicKey] });
    expect(report.divergence).toBeUndefined();
    expect(report.ok).toBe(true);
    const producers = new Set<string>();
    for (let n = 1; n <= after + 2; n++) producers.add((await getChainEntry(jsm, n))!.producerId!);
    expect(producers).toEqual(new Set(["auditor-a", "auditor-b"]));
    await b.settle();
    await expectCopiesMatchTree(a);
    await expectCopiesMatchTree(b);
  });

  it("a proof bundle checked against another checkpoint than its own is rejected; the API refuses events a checkpoint does not cover", async () => {
    const proofs = new AuditProofs(nats.nc, a);
    const early = 2;
    const bundle = await proofs.inclusion("MESH", 3, early);
    expect(Result.isSuccess(verifyInclusionBundle(bundle, keyA.publicKey))).toBe(true);
    const later = (await getChainEntry(jsm, a.head!.number))!;
    const swapped: InclusionBundle = { ...bundle, checkpoint: checkpointView(later.number, later.checkpoint!) };
    const verdict = verifyInclusionBundle(swapped, later.checkpoint!.auditorKeyId === keyA.keyId ? keyA.publicKey : keyB.publicKey);
    expect(Result.isFailure(verdict) && verdict.failure.reason).toBe("not-included");
    const covered = (await getChainEntry(jsm, 1))!.checkpoint!.lastSequence.MESH!;
    await expect(proofs.inclusion("MESH", covered + 1, 1)).rejects.toMatchObject({ _tag: "AuditQueryError", reason: "not-covered" });
  });

  describe("a stream rebuilt out of band: verify names the first bad event", () => {
    /** The checkpoint whose window holds MESH `seq`. */
    const windowOf = async (seq: number): Promise<number> => {
      for (let n = 1; n <= (await chainEnd(jsm)); n++) if ((await getChainEntry(jsm, n))!.checkpoint!.lastSequence.MESH! >= seq) return n;
      throw new Error(`MESH ${seq} is in no checkpoint`);
    };

    const verifyCopy = async (rebuild: (mesh: CopiedMessage[]) => CopiedMessage[], options?: Parameters<typeof rebuiltCopy>[2]) => {
      const copy = await rebuiltCopy(nats.nc, rebuild, options);
      try {
        return await verifyAuditLog(copy.nc, { hashWorker: false });
      } finally {
        await copy.close();
      }
    };

    it("a faithful copy verifies (the leaves do not depend on the server or the storage time)", async () => {
      const report = await verifyCopy((mesh) => mesh);
      expect(report.divergence).toBeUndefined();
      expect(report.ok).toBe(true);
    });

    it("one event changed: names it", async () => {
      const report = await verifyCopy((mesh) => mesh.map((m, i) => (i === 9 ? { ...m, data: Uint8Array.from(m.data, (b, k) => (k === 5 ? b ^ 1 : b)) } : m)));
      expect(report.ok).toBe(false);
      expect(report.divergence).toMatchObject({ checkpoint: await windowOf(10), stream: "MESH", seq: 10, reason: "changed" });
    });

    it("one event removed from the middle of the stream: names the missing sequence", async () => {
      const report = await verifyCopy((mesh) => mesh, {
        meshDenyDelete: false,
        afterCopy: async (copy) => {
          await copy.streams.deleteMessage("MESH", 12);
        },
      });
      expect(report.divergence).toMatchObject({ checkpoint: await windowOf(12), stream: "MESH", seq: 12, reason: "missing" });
    });

    it("one event left out of a copy (later ones renumbered): names the first sequence that differs", async () => {
      const report = await verifyCopy((mesh) => mesh.filter((_, i) => i !== 11));
      expect(report.divergence).toMatchObject({ checkpoint: await windowOf(12), stream: "MESH", seq: 12 });
    });

    it("two events swapped: names the first of them", async () => {
      const report = await verifyCopy((mesh) => mesh.map((m, i) => (i === 13 ? mesh[14]! : i === 14 ? mesh[13]! : m)));
      expect(report.divergence).toMatchObject({ checkpoint: await windowOf(14), stream: "MESH", seq: 14, reason: "changed" });
    });

    it("the last events removed from the end: names the first missing one", async () => {
      const total = (await jsm.streams.info("MESH")).state.last_seq;
      const covered = (await getChainEntry(jsm, await chainEnd(jsm)))!.checkpoint!.lastSequence.MESH!;
      expect(covered).toBe(total);
      const report = await verifyCopy((mesh) => mesh.slice(0, -2));
      expect(report.divergence).toMatchObject({ checkpoint: await windowOf(total - 1), stream: "MESH", seq: total - 1, reason: "missing" });
    });
  });

  it("a forged checkpoint signature is named; the auditor ignores the forgery and keeps the chain going", async () => {
    const end = await chainEnd(jsm);
    const head = (await getChainEntry(jsm, end))!;
    const mallory = generateSigningKey();
    // The auditor's key id and the right link, but signed with another key.
    const forged = signCheckpoint(
      { treeSize: head.checkpoint!.treeSize, rootHash: head.checkpoint!.rootHash, previousHash: a.head!.hash, lastSequence: head.checkpoint!.lastSequence, time: Date.now() },
      { keyId: keyA.keyId, privateKey: mallory.privateKey },
    );
    const forger = new Producer("mallory", mallory);
    await store.append(forger.seal(CheckpointSigned, { ...forged, frontier: head.frontier! }, CHECKPOINT_SUBJECT), { expectedLastSubjectSequence: end });
    await appendMesh(2, 30);
    const next = await a.checkpointNow();
    expect(next).toBe(end + 2);
    expect(a.stats.ignored).toBe(1);
    // It links to the last valid checkpoint, over the forgery.
    expect(equalHashes((await getChainEntry(jsm, end + 2))!.checkpoint!.previousHash!, checkpointHash(head.checkpoint!))).toBe(true);
    const report = await verifyAuditLog(nats.nc, { hashWorker: false, auditorKeys: [keyA.publicKey, keyB.publicKey] });
    expect(report.ok).toBe(false);
    expect(report.divergence).toMatchObject({ checkpoint: end + 1, reason: "bad-signature" });
    expect(report.checkpointsRecomputed).toBe(end);
  });
});
