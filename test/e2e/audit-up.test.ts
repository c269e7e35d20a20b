import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex, verifyConsistencyView, verifyInclusionBundle, type CheckpointView, type InclusionBundle } from "../../domains/audit/index.ts";
import { connectNats } from "../../streams/connection.ts";
import { EventStore, loadOrCreateSigningKey } from "../../streams/index.ts";
import { readEvents } from "../../streams/event-reader.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { testNode } from "../support/mesh.ts";
import { runX0, stopAll, waitFor, x0, type Running } from "../support/x0.ts";

/**
 * The audit chain as a user runs it: `x0 up` starts the auditor, events flow, checkpoints appear
 * on GET /audit/checkpoints, proofs fetched from the API verify offline with `x0 audit
 * verify-proof` (and the standalone verifier), GET /nodes?asOf= answers for a past time, and the
 * auditor stops with x0 up and carries on after a restart with the same identity.
 */

interface Up {
  readonly proc: Running;
  readonly api: string;
  readonly natsUrl: string;
}

const startUp = async (dataDir: string): Promise<Up> => {
  const proc = x0(["up", "--data-dir", dataDir, "--port", "0", "--no-heal", "--audit-interval", "1"]);
  const api = await waitFor("x0 up to print its API URL", () => /API\s+(http:\/\/\S+)/u.exec(proc.stdout)?.[1], 60_000).catch((error: Error) => {
    throw new Error(`${error.message}\nstdout:\n${proc.stdout}\nstderr:\n${proc.stderr}`);
  });
  return { proc, api, natsUrl: /NATS_URL=(\S+)/u.exec(proc.stdout)![1]! };
};

const getJson = async (url: string): Promise<{ status: number; body: unknown }> => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as unknown };
};

/** The newest checkpoint once one covers MESH up to `meshSeq`. */
const checkpointCovering = (api: string, meshSeq: number) =>
  waitFor(`a checkpoint covering MESH ${meshSeq}`, async () => {
    const { status, body } = await getJson(`${api}/audit/checkpoints?limit=1`);
    const newest = status === 200 ? (body as CheckpointView[])[0] : undefined;
    return newest && (newest.lastSequence["MESH"] ?? 0) >= meshSeq ? newest : undefined;
  }, 30_000);

describe("x0 up runs the auditor; its proofs verify offline (real processes, embedded nats-server)", { timeout: 180_000 }, () => {
  let dataDir: string;
  let up: Up;
  let nc: NatsConnection;
  let store: EventStore;
  let auditorKey: string;
  let between: Date;
  let first: CheckpointView;
  let second: CheckpointView;
  const early = [testNode("early-a", 1), testNode("early-b", 2)];
  const late = [testNode("late-c", 3), testNode("late-d", 4), testNode("late-e", 5)];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "x0-audit-up-"));
    up = await startUp(dataDir);
    nc = await connectNats({ servers: up.natsUrl, name: "audit-up-test" });
    store = new EventStore(nc);
    // The auditor's key, read from where x0 up keeps it: the verifier pins it rather than trusting the bundle's copy.
    auditorKey = toHex((await loadOrCreateSigningKey(join(dataDir, "keys", "auditor.key"))).publicKey);

    for (const node of early) await store.append(node.announce());
    for (const node of early) await store.append(node.heartbeat(10));
    first = await checkpointCovering(up.api, 4);
    await new Promise((r) => setTimeout(r, 50));
    between = new Date();
    await new Promise((r) => setTimeout(r, 50));
    for (const node of late) await store.append(node.announce());
    const last = await store.append(late[0]!.heartbeat(20));
    second = await checkpointCovering(up.api, last.seq);
  });
  afterAll(async () => {
    await nc?.close();
    await stopAll();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("signs checkpoints as the events arrive, listed newest first and served one by one", async () => {
    expect(up.proc.stdout).toMatch(/audit\s+auditor auditor-[0-9a-f]{16} signs a checkpoint every 100000 events or 1 s/u);
    expect(second.number).toBeGreaterThan(first.number);
    expect(second.treeSize).toBeGreaterThan(first.treeSize);
    const { status, body } = await getJson(`${up.api}/audit/checkpoints/${first.number}`);
    expect(status).toBe(200);
    expect(body).toEqual(first);
    expect((await getJson(`${up.api}/audit/checkpoints/${second.number + 1000}`)).status).toBe(404);
    expect((await getJson(`${up.api}/audit/checkpoints/0`)).status).toBe(400);
  });

  it("serves an inclusion bundle that x0 audit verify-proof accepts offline with the pinned key, and rejects a forged one", async () => {
    const { status, body } = await getJson(`${up.api}/audit/proof/inclusion?stream=MESH&seq=3`);
    expect(status).toBe(200);
    const bundle = body as InclusionBundle;
    expect(bundle.event).toMatchObject({ stream: "MESH", seq: 3, subject: "mesh.early-a.heartbeat" });
    expect(bundle.checkpoint.number).toBeGreaterThanOrEqual(second.number);
    const verdict = verifyInclusionBundle(bundle, new Uint8Array(Buffer.from(auditorKey, "hex")));
    expect(Result.isSuccess(verdict)).toBe(true);

    const good = join(dataDir, "inclusion.json");
    const forged = join(dataDir, "forged.json");
    await writeFile(good, JSON.stringify(bundle));
    await writeFile(forged, JSON.stringify({ ...bundle, event: { ...bundle.event, payload: Buffer.from("not what was stored").toString("base64") } }));
    const [ok, rejected] = await Promise.all([
      runX0(["audit", "verify-proof", good, "--auditor-key", auditorKey]),
      runX0(["audit", "verify-proof", forged, "--auditor-key", auditorKey]),
    ]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`OK: MESH 3 (mesh.early-a.heartbeat) is leaf ${bundle.leaf.index} of checkpoint ${bundle.checkpoint.number}`);
    expect(rejected.code).toBe(1);
    expect(rejected.stdout).toContain("REJECTED");
  });

  it("serves a consistency proof between two checkpoints that verifies offline", async () => {
    const { status, body } = await getJson(`${up.api}/audit/proof/consistency?from=${first.number}&to=${second.number}`);
    expect(status).toBe(200);
    expect(Result.isSuccess(verifyConsistencyView(body, new Uint8Array(Buffer.from(auditorKey, "hex"))))).toBe(true);
    const file = join(dataDir, "consistency.json");
    await writeFile(file, JSON.stringify(body));
    const run = await runX0(["audit", "verify-proof", file, "--auditor-key", auditorKey]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`checkpoint ${second.number} (${second.treeSize} leaves) extends checkpoint ${first.number} (${first.treeSize} leaves)`);
    expect((await getJson(`${up.api}/audit/proof/consistency?from=${second.number}&to=${first.number}`)).status).toBe(400);
  });

  it("GET /nodes?asOf= gives the knowledge base of a past time: fewer nodes than now", async () => {
    const now = await waitFor("the live knowledge base to hold every node", async () => {
      const { body } = await getJson(`${up.api}/nodes`);
      return (body as unknown[]).length === early.length + late.length ? (body as { nodeId: string }[]) : undefined;
    });
    const { status, body } = await getJson(`${up.api}/nodes?asOf=${encodeURIComponent(between.toISOString())}`);
    expect(status).toBe(200);
    expect((body as { nodeId: string }[]).map((n) => n.nodeId)).toEqual(["early-a", "early-b"]);
    expect((body as unknown[]).length).toBeLessThan(now.length);
    expect((await getJson(`${up.api}/nodes?asOf=2026-13-01T00:00:00Z`)).status).toBe(400);
  });

  it("x0 audit verify recomputes every checkpoint of the running log", async () => {
    const run = await runX0(["audit", "verify", "--auditor-key", auditorKey], { NATS_URL: up.natsUrl });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/every root matches/u);
  });

  it("stops with x0 up, and after a restart the same auditor continues the chain (enrolled once)", async () => {
    const id = /auditor (auditor-[0-9a-f]{16})/u.exec(up.proc.stdout)![1]!;
    up.proc.child.kill("SIGINT");
    expect(await up.proc.exited).toBe(0);
    await nc.close();
    up = await startUp(dataDir);
    nc = await connectNats({ servers: up.natsUrl, name: "audit-up-test" });
    store = new EventStore(nc);
    expect(up.proc.stdout).toContain(`auditor ${id} signs`);
    // The local copies the first run sealed at its stop are kept, private to the auditor.
    const copies = join(dataDir, "audit", id);
    expect(up.proc.stdout).toContain(`proofs read events from local copies in ${copies} (up to 2048 MiB)`);
    expect((await stat(copies)).mode & 0o777).toBe(0o700);
    const sealed = (await readdir(copies)).filter((n) => n.endsWith(".offsets"));
    expect(sealed.length).toBeGreaterThan(0);
    for (const name of sealed) expect((await stat(join(copies, name))).mode & 0o777).toBe(0o600);
    const appended = await store.append(late[1]!.heartbeat(30));
    const third = await checkpointCovering(up.api, appended.seq);
    expect(third.number).toBeGreaterThan(second.number);
    const { status, body } = await getJson(`${up.api}/audit/proof/consistency?from=${first.number}&to=${third.number}`);
    expect(status).toBe(200);
    expect(Result.isSuccess(verifyConsistencyView(body, new Uint8Array(Buffer.from(auditorKey, "hex"))))).toBe(true);
    const enrolments = [];
    for await (const event of readEvents(nc, { subject: `identity.${id}.>`, registry: ProducerRegistry.inMemory() })) enrolments.push(event);
    expect(enrolments).toHaveLength(1);
  });
});
