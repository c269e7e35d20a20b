/**
 * `npm run bench:audit [-- --events N --runs R --proofs P --checkpoint-every C --hash-worker true|false --copies true|false]`
 *
 * Audit verify throughput against a raw consume of the same streams in the same run, and the
 * latency of inclusion proofs served by the API.
 *
 * - Events: N (default 1,000,000) messages spread over the audited streams as a mesh produces
 *   them (90 % MESH over 50 nodes, 5 % HEAL, 2 % FL, 2 % GOV, 1 % IDENTITY). They are raw
 *   messages with the envelope's headers (type, version, unique Nats-Msg-Id, producer, key id,
 *   occurred-at, correlation and causation ids, traceparent, a 64-byte signature in base64) and
 *   CBOR link-report payloads of about 400 bytes, published with core NATS publish and flushed
 *   every 5,000, so a million are stored in well under a minute. Their signatures are random
 *   bytes: the verify measured here recomputes leaves and roots (no --signatures), which hashes
 *   every byte a real event has, whatever the signature says.
 * - Auditor: the real Auditor signs checkpoints every C leaves (default 100,000) over them, once,
 *   before the runs; its rate is printed too. It keeps local copies of the events as x0 up does
 *   (`--copies false`: none, every proof reads its event from nats-server).
 * - Each run (median of R, default 3): raw consume — the audited streams read to their ends
 *   through the same stream cursors (same consumers, same pull sizes) the verifier uses, doing
 *   nothing with the messages —, then `verifyAuditLog` (checkpoint signatures and links, every
 *   leaf recomputed and every root compared), then raw consume again: the run's raw rate is the
 *   mean of the two, so a change of machine load during the run weighs on both sides alike.
 *   audit_verify_ratio is the median of the per-run ratios verify eps / raw eps.
 * - Proofs: P (default 1,000) GET /audit/proof/inclusion requests for random stored events
 *   against the latest checkpoint, one at a time over one keep-alive connection, timed at the
 *   client (node:http in this process: undici's fetch added ~1.5 ms of client work to every
 *   request, and client and server share this thread); the server is the query API itself
 *   (startHttpApi, as x0 up runs it); a sample of the bundles is verified offline.
 *   proof_ms_p95 is the median of the runs' p95. Without local copies the tail is nats-server's:
 *   a direct get of an event whose 8 MB message block is not in its cache loads the whole block
 *   (measured 8-20 ms against 0.8 ms for a cached one), and 1,000 random proofs over 1,000,000
 *   events touch about a hundred blocks for the first time (ADR 0013).
 *
 * - CPU: each run also prints the CPU time per event of both phases, this process (all threads)
 *   plus nats-server, and their ratio: what the throughput ratio would be on cores of their own.
 *   On a machine shared with other work the wall-clock ratio moves with their load; this does not.
 *
 * Starts its own nats-server in a temp dir unless NATS_URL is set. With NATS_URL, the bench
 * DELETES the audited streams, AUDIT and the `audit` bucket there: point it at a scratch server.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { Agent, get as httpGet } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import { startHttpApi, type HttpApi } from "../../adapters/http/index.ts";
import { startNatsServer, type RunningNatsServer } from "../../adapters/nats-server/index.ts";
import { AUDITED_STREAMS, verifyInclusionBundle, type AuditedStream } from "../../domains/audit/index.ts";
import { Auditor, AuditProofs, verifyAuditLog } from "../../projections/audit/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { StreamCursor } from "../../projections/audit/stream-cursor.ts";
import { connectNats, serversFromEnv } from "../../streams/connection.ts";
import { encodeCbor } from "../../streams/envelope.ts";
import { generateSigningKey, Producer, ProducerRegistry } from "../../streams/index.ts";
import { ensureStreams } from "../../streams/topology.ts";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    proofs: { type: "string", default: "1000" },
    "checkpoint-every": { type: "string", default: "100000" },
    "hash-worker": { type: "string", default: "true" },
    copies: { type: "string", default: "true" },
  },
});
const N = Number(flags.events);
const RUNS = Number(flags.runs);
const PROOFS = Number(flags.proofs);
const EVERY = Number(flags["checkpoint-every"]);
const HASH_WORKER = flags["hash-worker"] !== "false";
const COPIES = flags.copies !== "false";
for (const [name, value] of Object.entries({ events: N, runs: RUNS, proofs: PROOFS, "checkpoint-every": EVERY })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}

const progress = (text: string) => process.stderr.write(`[bench:audit] ${text}\n`);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** Where message i goes: 90 % MESH, 5 % HEAL, 2 % FL, 2 % GOV, 1 % IDENTITY. */
const subjectOf = (i: number): string => {
  const r = i % 100;
  const node = `node-${String(i % 50).padStart(5, "0")}`;
  if (r < 90) return `mesh.${node}.${["links", "heartbeat", "metrics"][i % 3]}`;
  if (r < 95) return `heal.${node}.command`;
  if (r < 97) return `fl.model-1.${Math.floor(i / 1000)}.update`;
  if (r < 99) return `gov.proposal-${i % 20}.voted`;
  return `identity.producer-${i}.enrolled`;
};

/** Link reports of 8 neighbours as CBOR, in a few variants. */
const payloads = Array.from({ length: 64 }, (_, v) =>
  encodeCbor({
    nodeId: `node-${String(v).padStart(5, "0")}`,
    links: Array.from({ length: 8 }, (_, i) => ({
      neigh_address: `02:00:00:00:${String(v % 100).padStart(2, "0")}:${String(i).padStart(2, "0")}`,
      hard_ifname: "mesh0",
      tq: 180 + ((v + i) % 70),
      last_seen_msecs: 100 + i * 13,
      throughput: 20_000 + v * 10,
      loss: 0.01 * (i % 5),
      latency_ms: 2.5 + i,
    })),
  }),
);

const generate = async (nc: NatsConnection, jsm: JetStreamManager): Promise<void> => {
  const started = performance.now();
  const h = natsHeaders();
  const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256))).toString("base64");
  h.set("X0-Type", "mesh.LinkMetricsReported");
  h.set("X0-Version", "1");
  h.set("X0-Key-Id", "0123456789abcdef");
  h.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const signature = random(64);
  for (let i = 0; i < N; i++) {
    const id = `0190a5b0-${(i >>> 16).toString(16).padStart(4, "0")}-7000-8000-${i.toString(16).padStart(12, "0")}`;
    h.set("Nats-Msg-Id", id);
    h.set("X0-Producer", `node-${String(i % 50).padStart(5, "0")}`);
    h.set("X0-Occurred-At", new Date(1_764_151_200_000 + i).toISOString());
    h.set("X0-Correlation-Id", id);
    h.set("X0-Causation-Id", id);
    h.set("X0-Signature", signature);
    nc.publish(subjectOf(i), payloads[i % payloads.length]!, { headers: h });
    if (i % 5_000 === 4_999) await nc.flush();
  }
  await nc.flush();
  for (;;) {
    let stored = 0;
    for (const stream of AUDITED_STREAMS) stored += (await jsm.streams.info(stream)).state.messages;
    if (stored >= N) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  progress(`stored ${N} events in ${((performance.now() - started) / 1000).toFixed(1)} s`);
};

/** CPU seconds of nats-server (utime + stime from /proc), NaN when it is not ours to read. */
const serverCpu = async (pid: number | undefined): Promise<number> => {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
};

/** CPU seconds this process (every thread) and nats-server spend while `work` runs. */
const cpuOf = async <T>(pid: number | undefined, work: () => Promise<T>): Promise<{ result: T; cpu: number }> => {
  const before = process.cpuUsage();
  const server = await serverCpu(pid);
  const result = await work();
  const used = process.cpuUsage(before);
  return { result, cpu: (used.user + used.system) / 1e6 + ((await serverCpu(pid)) - server) };
};

/** The audited streams read to their ends through the verifier's cursors, doing nothing with the messages. */
const rawConsume = async (nc: NatsConnection, jsm: JetStreamManager): Promise<number> => {
  const js = jetstream(nc);
  const started = performance.now();
  let count = 0;
  for (const stream of AUDITED_STREAMS) {
    const info = await jsm.streams.info(stream);
    const cursor = new StreamCursor(js, stream);
    for await (const msg of cursor.range(1, info.state.last_seq, { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq })) {
      if (msg.data.length >= 0) count++;
    }
    await cursor.close();
  }
  const seconds = (performance.now() - started) / 1000;
  if (count !== N) throw new Error(`raw consume read ${count} of ${N} events`);
  return N / seconds;
};

/** GET over one keep-alive connection: status and body text. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
const getText = (url: string) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    httpGet(url, { agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    }).on("error", reject);
  });

const measureProofs = async (url: string, jsm: JetStreamManager, publicKey: Uint8Array): Promise<{ p50: number; p95: number; p99: number }> => {
  const sizes = await Promise.all(AUDITED_STREAMS.map(async (s) => (await jsm.streams.info(s)).state.last_seq));
  const total = sizes.reduce((a, b) => a + b, 0);
  const pick = (): [AuditedStream, number] => {
    let r = Math.floor(Math.random() * total);
    for (let i = 0; i < sizes.length; i++) {
      if (r < sizes[i]!) return [AUDITED_STREAMS[i]!, r + 1];
      r -= sizes[i]!;
    }
    return ["MESH", 1];
  };
  const times: number[] = [];
  for (let i = 0; i < PROOFS + 20; i++) {
    const [stream, seq] = pick();
    const started = performance.now();
    const res = await getText(`${url}/audit/proof/inclusion?stream=${stream}&seq=${seq}`);
    const body = JSON.parse(res.text) as unknown;
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`proof of ${stream} ${seq}: ${res.status} ${JSON.stringify(body)}`);
    if (i >= 20) times.push(ms); // the first requests warm the connection and the JIT
    if (i % 100 === 0 && Result.isFailure(verifyInclusionBundle(body, publicKey))) throw new Error(`the bundle of ${stream} ${seq} does not verify`);
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95), p99: percentile(times, 99) };
};

const main = async () => {
  progress(`N=${N} events, ${RUNS} runs, ${PROOFS} proofs per run, checkpoint every ${EVERY} leaves, hash worker ${HASH_WORKER}, ${availableParallelism()} cores, load ${load()}`);
  const work = await mkdtemp(join(tmpdir(), "x0-bench-audit-"));
  let server: RunningNatsServer | undefined;
  let nc: NatsConnection | undefined;
  let http: HttpApi | undefined;
  let auditor: Auditor | undefined;
  try {
    const external = serversFromEnv();
    if (!external) server = await startNatsServer({ dataDir: join(work, "nats") });
    const url = external?.join(",") ?? server!.url;
    nc = await connectNats({ servers: url, name: "bench-audit" });
    const jsm = await jetstreamManager(nc);
    if (external) {
      progress(`using NATS_URL=${url}: deleting its audited streams, AUDIT and the audit bucket`);
      for (const name of [...AUDITED_STREAMS, "AUDIT", "KV_audit"]) await jsm.streams.delete(name).catch(() => false);
    }
    await ensureStreams(jsm, { storageBytes: Math.max(4 * 1024 ** 3, N * 3_000) });
    await generate(nc, jsm);

    const key = generateSigningKey();
    const auditStarted = performance.now();
    auditor = new Auditor(nc, {
      producer: new Producer("bench-auditor", key),
      registry: ProducerRegistry.inMemory(),
      checkpointEvery: EVERY,
      checkpointIntervalMs: 3_600_000,
      hashWorker: HASH_WORKER,
      enrol: false,
      // As x0 up keeps them (its default budget, 2 GiB).
      ...(COPIES ? { copies: { dir: join(work, "audit-copies") } } : {}),
    });
    await auditor.start();
    await auditor.settle();
    const auditSeconds = (performance.now() - auditStarted) / 1000;
    const copies = auditor.leafCopies;
    progress(
      `auditor: ${auditor.stats.signed} checkpoints over ${auditor.hashes.size} leaves in ${auditSeconds.toFixed(1)} s (${(N / auditSeconds).toFixed(0)} events/s), node store ${(auditor.hashes.residentBytes / 1024 ** 2).toFixed(0)} MiB, ` +
        (copies ? `local copies ${(copies.size / 1024 ** 2).toFixed(0)} MiB of leaves ${JSON.stringify(copies.ranges.length ? [copies.ranges[0]![0], copies.ranges.at(-1)![1]] : [])}` : "no local copies"),
    );
    http = await startHttpApi({ kb: new KnowledgeBaseProjection(undefined, { name: "bench" }).kb, nc, audit: new AuditProofs(nc, auditor), port: 0 });

    const rows: { raw: number; verify: number; ratio: number; cpuRatio: number; proofs: { p50: number; p95: number; p99: number } }[] = [];
    for (let run = 1; run <= RUNS; run++) {
      progress(`run ${run}/${RUNS}: raw consume (load ${load()})`);
      const { result: rawBefore, cpu: rawBeforeCpu } = await cpuOf(server?.pid, () => rawConsume(nc!, jsm));
      progress(`run ${run}/${RUNS}: audit verify (load ${load()})`);
      const started = performance.now();
      const { result: report, cpu: verifyCpu } = await cpuOf(server?.pid, () => verifyAuditLog(nc!, { auditorKeys: [key.publicKey], hashWorker: HASH_WORKER }));
      const seconds = (performance.now() - started) / 1000;
      if (!report.ok || report.leaves !== N) throw new Error(`verify failed: ${JSON.stringify(report.divergence)} (${report.leaves} of ${N} leaves)`);
      const verify = report.leaves / seconds;
      progress(`run ${run}/${RUNS}: raw consume again (load ${load()})`);
      const { result: rawAfter, cpu: rawAfterCpu } = await cpuOf(server?.pid, () => rawConsume(nc!, jsm));
      const raw = (rawBefore + rawAfter) / 2;
      const rawCpu = (rawBeforeCpu + rawAfterCpu) / 2;
      progress(`run ${run}/${RUNS}: ${PROOFS} inclusion proofs over HTTP (load ${load()})`);
      const proofs = await measureProofs(http.url, jsm, key.publicKey);
      const cpuRatio = rawCpu / verifyCpu;
      rows.push({ raw, verify, ratio: verify / raw, cpuRatio, proofs });
      console.log(`run ${run}: cpu_us_per_event raw=${((rawCpu / N) * 1e6).toFixed(1)} verify=${((verifyCpu / N) * 1e6).toFixed(1)} cpu_ratio=${cpuRatio.toFixed(3)} (this process, all threads, + nats-server)`);
      console.log(
        `run ${run}: ratio=${(verify / raw).toFixed(3)} verify_eps=${verify.toFixed(0)} (${seconds.toFixed(1)} s, ${report.checkpointsRecomputed} checkpoints) raw_consume_eps=${raw.toFixed(0)} (before ${rawBefore.toFixed(0)}, after ${rawAfter.toFixed(0)}) ` +
          `proof_ms p50=${proofs.p50.toFixed(2)} p95=${proofs.p95.toFixed(2)} p99=${proofs.p99.toFixed(2)} load=${load()}`,
      );
    }
    console.log(
      `N=${N} runs=${RUNS} proofs=${PROOFS} checkpoint_every=${EVERY} hash_worker=${HASH_WORKER} copies=${COPIES} auditor_eps=${(N / auditSeconds).toFixed(0)} ` +
        `audit_verify_cpu_ratio=${median(rows.map((r) => r.cpuRatio)).toFixed(3)} cores=${availableParallelism()} load=${load()}`,
    );
    console.log(
      `audit_verify_ratio=${median(rows.map((r) => r.ratio)).toFixed(3)} audit_verify_eps=${median(rows.map((r) => r.verify)).toFixed(0)} ` +
        `proof_ms_p95=${median(rows.map((r) => r.proofs.p95)).toFixed(2)}`,
    );
  } finally {
    keepAlive.destroy();
    await http?.close();
    await auditor?.stop();
    await nc?.close().catch(() => undefined);
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
};

await main();
