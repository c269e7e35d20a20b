import { mkdtemp, open, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpApi, type HttpApi } from "../../adapters/http/index.ts";
import { CheckpointView, ConsistencyView, InclusionBundle, verifyConsistencyView, verifyInclusionBundle } from "../../domains/audit/index.ts";
import { Auditor, AuditProofs, knowledgeBaseAsOf, ReplayAuditCheck } from "../../projections/audit/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { EventStore, generateSigningKey, Producer, ProducerRegistry } from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/**
 * The audit log's read side against a real nats-server, through the query API: proofs checked
 * offline with the standalone verifier, the knowledge base as of a past time, and replay
 * against checkpoints.
 */

const decodeJson = <S extends Schema.Top>(schema: S, body: unknown): S["Type"] =>
  Schema.decodeUnknownSync(Schema.toCodecJson(schema) as unknown as Schema.Decoder<S["Type"]>)(body);

describe("audit API, proofs, as-of and replay over a real nats-server", () => {
  let nats: TestNats;
  let store: EventStore;
  let auditor: Auditor;
  let http: HttpApi;
  const key = generateSigningKey();
  const nodes = [testNode("asof-a", 1), testNode("asof-b", 2)];
  let between: Date;
  let copiesDir: string | undefined;

  const get = async (path: string) => {
    const res = await fetch(`${http.url}${path}`);
    return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
  };

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    await store.append(nodes[0]!.announce());
    await store.append(nodes[0]!.heartbeat(1));
    await new Promise((r) => setTimeout(r, 30));
    between = new Date();
    await new Promise((r) => setTimeout(r, 30));
    await store.append(nodes[1]!.announce());
    for (let i = 0; i < 9; i++) await store.append(nodes[i % 2]!.heartbeat(10 + i));
    const registry = ProducerRegistry.inMemory();
    copiesDir = await mkdtemp(join(tmpdir(), "x0-audit-api-copies-"));
    auditor = new Auditor(nats.nc, {
      producer: new Producer("auditor-api", key),
      registry,
      checkpointEvery: 4,
      checkpointIntervalMs: 3_600_000,
      hashWorker: false,
      // As x0 up runs it: proofs read their events from the local copies first.
      copies: { dir: copiesDir },
    });
    await auditor.start();
    await auditor.settle();
    // The live knowledge base stays empty: GET /nodes?asOf= must not fill it.
    const live = new KnowledgeBaseProjection(undefined, { name: "live" });
    http = await startHttpApi({ kb: live.kb, nc: nats.nc, producers: ProducerRegistry.inMemory(), audit: new AuditProofs(nats.nc, auditor), port: 0 });
  });
  afterAll(async () => {
    await http?.close();
    await auditor?.stop();
    await nats?.close();
    if (copiesDir) await rm(copiesDir, { recursive: true, force: true });
  });

  it("lists signed checkpoints newest first and serves one by number", async () => {
    const list = await get("/audit/checkpoints?limit=2");
    expect(list.status).toBe(200);
    const items = (list.body as unknown[]).map((c) => decodeJson(CheckpointView, c));
    const last = Number(list.headers.get("x-last-checkpoint"));
    expect(items.map((c) => c.number)).toEqual([last, last - 1]);
    expect(items[0]!.treeSize).toBe(auditor.head!.checkpoint.treeSize);
    const one = await get(`/audit/checkpoints/${last - 1}`);
    expect(one.body).toEqual(list.body && (list.body as unknown[])[1]);
    expect((await get("/audit/checkpoints/999")).status).toBe(404);
    expect((await get("/audit/checkpoints/0")).status).toBe(400);
    expect((await get("/audit/checkpoints?limit=1000")).status).toBe(400);
  });

  it("serves an inclusion bundle that the standalone verifier accepts offline, and one for every checkpoint that covers the event", async () => {
    const response = await get("/audit/proof/inclusion?stream=MESH&seq=3");
    expect(response.status).toBe(200);
    const bundle = decodeJson(InclusionBundle, response.body);
    expect(bundle.event).toMatchObject({ stream: "MESH", seq: 3, subject: "mesh.asof-b.announced" });
    expect(bundle.checkpoint.number).toBe(auditor.head!.number);
    const verdict = verifyInclusionBundle(JSON.parse(JSON.stringify(response.body)), key.publicKey);
    expect(Result.isSuccess(verdict) && verdict.success).toMatchObject({ stream: "MESH", seq: 3, leafIndex: 2 });
    // The first checkpoint that covers it too.
    const first = await get("/audit/proof/inclusion?stream=MESH&seq=3&checkpoint=1");
    expect(first.status).toBe(200);
    expect(Result.isSuccess(verifyInclusionBundle(first.body, key.publicKey))).toBe(true);
    // A changed payload no longer matches its leaf.
    const tampered = { ...bundle, event: { ...bundle.event, payload: Buffer.from("forged").toString("base64") } };
    expect(Result.isFailure(verifyInclusionBundle(tampered, key.publicKey))).toBe(true);
    // Another auditor's key does not sign it.
    expect(Result.isFailure(verifyInclusionBundle(bundle, generateSigningKey().publicKey))).toBe(true);
  });

  it("reads the event from its local copy, and from the stream when the copy no longer hashes to its leaf", async () => {
    const copies = auditor.leafCopies!;
    const good = await get("/audit/proof/inclusion?stream=MESH&seq=4");
    expect(good.status).toBe(200);
    const bundle = decodeJson(InclusionBundle, good.body);
    const copy = await copies.read(bundle.leaf.index);
    expect(copy && Buffer.from(copy.payload).toString("base64")).toBe(bundle.event.payload);
    // Flip one payload byte of that copy on disk.
    const record = Buffer.concat([copy!.subject, copy!.headerBlock ?? new Uint8Array(0), copy!.payload]);
    const files = (await readdir(copiesDir!)).filter((n) => n.endsWith(".leaves"));
    let flipped = 0;
    for (const name of files) {
      const bytes = await readFile(join(copiesDir!, name));
      const at = bytes.indexOf(record);
      if (at < 0) continue;
      const last = at + record.length - 1;
      const handle = await open(join(copiesDir!, name), "r+");
      await handle.write(Uint8Array.of(bytes[last]! ^ 0xff), 0, 1, last);
      await handle.close();
      flipped++;
    }
    expect(flipped).toBe(1);
    expect(Buffer.from((await copies.read(bundle.leaf.index))!.payload).toString("base64")).not.toBe(bundle.event.payload);
    // The proof is the same, the event now read from MESH.
    const again = await get("/audit/proof/inclusion?stream=MESH&seq=4");
    expect(again.status).toBe(200);
    expect(again.body).toEqual(good.body);
    expect(Result.isSuccess(verifyInclusionBundle(again.body, key.publicKey))).toBe(true);
  });

  it("refuses what it cannot prove, with the reason", async () => {
    expect((await get("/audit/proof/inclusion?stream=MESH&seq=12&checkpoint=1")).status).toBe(404);
    expect((await get("/audit/proof/inclusion?stream=QUARANTINE&seq=1")).status).toBe(400);
    expect((await get("/audit/proof/inclusion?stream=MESH")).status).toBe(400);
    expect((await get("/audit/proof/inclusion?stream=HEAL&seq=1")).status).toBe(404);
    expect((await get("/audit/proof/consistency?from=3&to=2")).status).toBe(400);
    const missing = await get("/audit/proof/consistency?from=1&to=99");
    expect(missing.status).toBe(404);
    const bad = await get("/audit/proof/inclusion?stream=MESH&seq=0&checkpoint=x");
    expect(bad.status).toBe(400);
    expect((bad.body as { detail: string }).detail).toMatch(/seq: .*checkpoint: /u);
  });

  it("serves consistency proofs between checkpoints that the standalone verifier accepts", async () => {
    const last = auditor.head!.number;
    for (let from = 1; from < last; from++) {
      const response = await get(`/audit/proof/consistency?from=${from}&to=${last}`);
      expect(response.status).toBe(200);
      decodeJson(ConsistencyView, response.body);
      const verdict = verifyConsistencyView(response.body, key.publicKey);
      expect(Result.isSuccess(verdict), `${from} -> ${last}: ${Result.isFailure(verdict) ? verdict.failure.message : ""}`).toBe(true);
    }
    const good = (await get(`/audit/proof/consistency?from=1&to=${last}`)).body as ConsistencyView;
    const forged = { ...good, proof: good.proof.map((h, i) => (i === 0 ? "00".repeat(32) : h)) };
    expect(Result.isFailure(verifyConsistencyView(forged, key.publicKey))).toBe(true);
  });

  it("rebuilds the knowledge base as of a past time without touching the live one", async () => {
    const then = await knowledgeBaseAsOf(nats.nc, between);
    expect([...then.kb.nodes()].map((n) => n.nodeId)).toEqual(["asof-a"]);
    expect(then.kb.node("asof-a")?.heartbeat?.uptime).toBe(1);
    expect(then.throughSeq).toBe(2);
    const now = await knowledgeBaseAsOf(nats.nc, new Date(Date.now() + 1_000));
    expect([...now.kb.nodes()].map((n) => n.nodeId).sort()).toEqual(["asof-a", "asof-b"]);
    const response = await get(`/nodes?asOf=${encodeURIComponent(between.toISOString())}`);
    expect(response.status).toBe(200);
    expect((response.body as { nodeId: string }[]).map((n) => n.nodeId)).toEqual(["asof-a"]);
    expect(response.headers.get("x-as-of-sequence")).toBe("2");
    expect(response.headers.get("x-total-count")).toBe("1");
    // Asked again, the same past time gives the same answer; the live knowledge base is untouched.
    expect((await get(`/nodes?asOf=${encodeURIComponent(between.toISOString())}&limit=5`)).body).toEqual(response.body);
    expect((await get("/nodes")).body).toEqual([]);
    const refused = await get("/nodes?asOf=yesterday");
    expect(refused.status).toBe(400);
    expect((refused.body as { detail: string }).detail).toContain("asOf");
  });

  it("checks replayed events against the latest checkpoint (x0 replay --verify)", async () => {
    await store.append(nodes[0]!.heartbeat(99));
    const check = await ReplayAuditCheck.open(nats.nc, "MESH");
    try {
      const covered = auditor.head!.checkpoint.lastSequence.MESH!;
      const verdicts = [];
      for (let seq = 1; seq <= covered + 1; seq++) verdicts.push(await check.check(seq));
      expect(verdicts.slice(0, covered).every((v) => v.status === "included")).toBe(true);
      expect(verdicts[covered]).toMatchObject({ status: "pending" });
    } finally {
      await check.close();
    }
  });
});
