import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKPOINT_SUBJECT, CheckpointSigned, checkpointView, signCheckpoint, toHex } from "../../domains/audit/index.ts";
import { Auditor, AuditProofs } from "../../projections/audit/index.ts";
import { chainEnd, getChainEntry } from "../../projections/audit/chain.ts";
import { EventStore, generateSigningKey, Producer, ProducerRegistry } from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

const X0 = resolve(import.meta.dirname, "../../adapters/cli/x0.js");

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `x0 ...` as a user would, in its own process, against the test's server. */
const x0 = (args: string[], env: Record<string, string>): Promise<Finished> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [X0, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
  });

// Each case starts x0 processes (a few seconds each on two cores, more when the machine is busy).
describe("x0 audit verify, verify-proof, kb --as-of and replay --verify as a user runs them", { timeout: 120_000 }, () => {
  let nats: TestNats;
  let auditor: Auditor;
  let dir: string;
  let env: Record<string, string>;
  const key = generateSigningKey();
  const node = testNode("cli-node", 1);

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await mkdtemp(join(tmpdir(), "x0-audit-cli-"));
    env = { NATS_URL: nats.url, X0_DATA_DIR: dir };
    const store = new EventStore(nats.nc);
    await store.append(node.announce());
    for (let i = 0; i < 9; i++) await store.append(node.heartbeat(i));
    auditor = new Auditor(nats.nc, { producer: new Producer("auditor-cli", key), registry: ProducerRegistry.inMemory(), checkpointEvery: 4, checkpointIntervalMs: 3_600_000, hashWorker: false });
    await auditor.start();
    await auditor.settle();
  });
  afterAll(async () => {
    await auditor?.stop();
    await nats?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("verify passes on an untouched log: one plain line per checkpoint, a summary, exit 0; --json gives the report", async () => {
    const [plain, json] = await Promise.all([x0(["audit", "verify"], env), x0(["audit", "verify", "--json", "--auditor-key", toHex(key.publicKey)], env)]);
    expect(plain.code, plain.stderr).toBe(0);
    const last = auditor.head!.number;
    expect(plain.stdout).toContain(`checkpoint ${last} ok tree_size=${auditor.head!.checkpoint.treeSize}`);
    expect(plain.stdout).toMatch(new RegExp(`verified checkpoints 1-${last}: .* every root matches`));
    expect(plain.stdout).toContain(`auditor-cli ${key.keyId}`);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, lastCheckpoint: last, leaves: auditor.head!.checkpoint.treeSize });
  });

  it("verify-proof checks a bundle fetched from the API offline, and rejects it against another checkpoint", async () => {
    const proofs = new AuditProofs(nats.nc, auditor);
    const bundle = await proofs.inclusion("MESH", 2, 1);
    const good = join(dir, "bundle.json");
    await writeFile(good, JSON.stringify(bundle));
    const later = (await getChainEntry(await jetstreamManager(nats.nc), auditor.head!.number))!;
    const wrong = join(dir, "wrong-checkpoint.json");
    await writeFile(wrong, JSON.stringify({ ...bundle, checkpoint: checkpointView(later.number, later.checkpoint!) }));
    const consistency = join(dir, "consistency.json");
    await writeFile(consistency, JSON.stringify(await proofs.consistency(1, auditor.head!.number)));
    // Two at a time: each is a process of its own on a two-core machine.
    const [ok, rejected] = await Promise.all([
      x0(["audit", "verify-proof", good], {}),
      x0(["audit", "verify-proof", wrong, "--auditor-key", toHex(key.publicKey)], {}),
    ]);
    const [otherKey, consistent] = await Promise.all([
      x0(["audit", "verify-proof", good, "--auditor-key", toHex(generateSigningKey().publicKey)], {}),
      x0(["audit", "verify-proof", consistency, "--auditor-key", toHex(key.publicKey)], {}),
    ]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain("OK: MESH 2 (mesh.cli-node.heartbeat) is leaf 1 of checkpoint 1");
    expect(ok.stderr).toContain("trusting the auditor key inside the bundle");
    expect(rejected.code).toBe(1);
    expect(rejected.stdout).toContain("REJECTED (not-included)");
    expect(otherKey.code).toBe(1);
    expect(otherKey.stdout).toContain("REJECTED (bad-checkpoint)");
    expect(consistent.code, consistent.stdout).toBe(0);
    expect(consistent.stdout).toContain(`extends checkpoint 1`);
  });

  it("kb --as-of prints the knowledge base of that time; replay --verify adds each event's audit verdict", async () => {
    const [kb, replay] = await Promise.all([
      x0(["kb", "--as-of", new Date(Date.now() + 60_000).toISOString()], env),
      x0(["replay", "--stream", "MESH", "--verify"], env),
    ]);
    expect(kb.code, kb.stderr).toBe(0);
    expect(JSON.parse(kb.stdout.trim())).toMatchObject({ nodeId: "cli-node", heartbeat: { uptime: 8 } });
    expect(kb.stderr).toContain("1 nodes from 10 of 10 MESH events");
    expect(replay.code, replay.stderr).toBe(0);
    const lines = replay.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; audit: { status: string } });
    expect(lines).toHaveLength(10);
    expect(lines.every((l) => l.audit.status === "included")).toBe(true);
    expect(replay.stderr).toContain("audit log: included=10");
  });

  it("verify names a forged checkpoint and exits 1", async () => {
    const jsm = await jetstreamManager(nats.nc);
    const end = await chainEnd(jsm);
    const head = (await getChainEntry(jsm, end))!;
    const forged = signCheckpoint(
      { treeSize: head.checkpoint!.treeSize, rootHash: head.checkpoint!.rootHash, previousHash: auditor.head!.hash, lastSequence: head.checkpoint!.lastSequence, time: Date.now() },
      { keyId: key.keyId, privateKey: generateSigningKey().privateKey },
    );
    const forger = new Producer("forger", generateSigningKey());
    await new EventStore(nats.nc).append(forger.seal(CheckpointSigned, { ...forged, frontier: head.frontier! }, CHECKPOINT_SUBJECT), { expectedLastSubjectSequence: end });
    const run = await x0(["audit", "verify", "--auditor-key", toHex(key.publicKey)], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`DIVERGENCE at checkpoint ${end + 1} (bad-signature)`);
  });
});
