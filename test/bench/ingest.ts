/**
 * `npm run bench:ingest [-- --events N --producers M --runs R --window W --connections C --only raw|platform]`
 *
 * End-to-end ingest of signed mesh metrics through the control plane, against raw JetStream
 * publish+consume of the very same messages, in the same run.
 *
 * - Producers: M simulated nodes, each with its own Ed25519 key, announce themselves and then
 *   report link metrics (8 neighbours) and node metrics in turn. Signing is the nodes' work: it
 *   happens once, before any timer, in one signer process per core (test/bench/ingest-producers.ts).
 * - Publishing: one child process plays the mesh. Each node has its own NATS connection and
 *   publishes its events in order as `EventStore.append` does (js.publish with the envelope
 *   headers, awaiting the PubAck), at most W unacknowledged events per node (default 256, so
 *   the round trip does not limit the rate). It is a separate process because real nodes are
 *   separate processes on other machines: publishing from the bench process would put the
 *   producers' event-loop work on the control plane's main thread, which never happens in a
 *   deployment. Headers are built before the timer (like the signatures) and the connections
 *   skip nats.js's per-request stack traces, so the simulated nodes take as little as possible of
 *   the two cores they share here with the control plane and nats-server. The raw baseline uses
 *   this same publisher, the same connections and the same bytes.
 * - Platform phase: fresh MESH stream and KV buckets, a ProducerRegistry, the
 *   KnowledgeBaseProjection and the real ProjectionRunner (durable pull consumer, decode, schema,
 *   Ed25519 verification of every event in the verify pool, in-order apply, KV checkpoints,
 *   AckPolicy.All acks). Timed from the moment the publisher is told to go until the runner's
 *   checkpoint covering all N events is durable. Then it checks that every event was applied
 *   (none quarantined) and the knowledge base holds M nodes: a run that did not do the whole job
 *   does not count.
 * - Raw phase: fresh MESH stream, the same publisher sending the same bytes and headers, and a
 *   durable pull consumer (same consume window, AckPolicy.All, one ack per 10 000 messages like
 *   the runner's checkpoints) that does nothing with the messages. Timed from go until the
 *   N-th message arrives.
 * - verify_eps_1core: node:crypto Ed25519 verifications per second in this thread, cached
 *   KeyObject, over the canonical bytes of a real link-metrics event, measured while the bench
 *   is otherwise idle.
 *
 * Each run prints its numbers; the last line gives medians over the runs (ingest_ratio is the
 * median of the per-run ratios: each run pairs platform and raw under the same machine load).
 * Each run also prints the CPU seconds the phase cost in this process (all threads, and its main
 * thread alone: NATS client, decode, apply), in the producer process and in nats-server.
 * `--only raw|platform` runs one phase (for profiling). To profile everything, including the
 * producer processes and the verify workers (one .cpuprofile per thread):
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof adapters/cli/run-ts.js test/bench/ingest.ts --runs 1
 * Starts its own nats-server in a temp dir unless NATS_URL is set. With NATS_URL, the bench
 * DELETES the MESH and QUARANTINE streams and the `kb` and `producers` buckets there: point it at
 * a scratch server.
 */
import { fork, type ChildProcess } from "node:child_process";
import { sign, verify } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type RunningNatsServer } from "../../adapters/nats-server/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { connectNats, serversFromEnv } from "../../streams/connection.ts";
import { canonicalBytes, encodeCbor } from "../../streams/envelope.ts";
import { generateSigningKey, publicKeyObject } from "../../streams/keys.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { ProjectionRunner, type VerifiedEvent } from "../../streams/projection-runner.ts";
import { ensureStreams } from "../../streams/topology.ts";
import type { ProducerCommand, ProducerReply } from "./ingest-producers.ts";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    producers: { type: "string", default: "50" },
    runs: { type: "string", default: "3" },
    window: { type: "string", default: "256" },
    links: { type: "string", default: "8" },
    signers: { type: "string" },
    connections: { type: "string" },
    only: { type: "string" },
  },
});
const N = Number(flags.events);
const M = Number(flags.producers);
const RUNS = Number(flags.runs);
const WINDOW = Number(flags.window);
const LINKS = Number(flags.links);
const CONNECTIONS = Number(flags.connections ?? M);
const ONLY = flags.only;
if (ONLY !== undefined && ONLY !== "raw" && ONLY !== "platform") throw new Error("--only takes raw or platform");
const SIGNERS = Math.max(1, Math.min(M, Number(flags.signers ?? availableParallelism())));
for (const [name, value] of Object.entries({ events: N, producers: M, runs: RUNS, window: WINDOW, links: LINKS })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}
if (N < 2 * M) throw new Error("--events must be at least twice --producers (an announcement and a metric each)");

const RUN_TS = fileURLToPath(new URL("../../adapters/cli/run-ts.js", import.meta.url));
const PRODUCERS_TS = fileURLToPath(new URL("./ingest-producers.ts", import.meta.url));

const progress = (text: string) => process.stderr.write(`[bench:ingest] ${text}\n`);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** A producer child process with a request/reply helper over IPC. */
const spawnProducers = () => {
  const child: ChildProcess = fork(RUN_TS, [PRODUCERS_TS], { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
  const waiting: ((reply: ProducerReply) => void)[] = [];
  let failure: Error | undefined;
  child.on("message", (reply: ProducerReply) => {
    if (reply.op === "error") {
      failure = new Error(`producer process failed: ${reply.message}`);
      for (const w of waiting.splice(0)) w(reply);
      return;
    }
    waiting.shift()?.(reply);
  });
  child.on("exit", (code) => {
    if (code !== 0) failure ??= new Error(`producer process exited with code ${code}`);
    for (const w of waiting.splice(0)) w({ op: "error", message: failure?.message ?? "exited" });
  });
  return {
    child,
    send(cmd: ProducerCommand): void {
      child.send(cmd);
    },
    /** Waits for the next reply (replies come in command order). */
    async reply<Op extends ProducerReply["op"]>(op: Op): Promise<Extract<ProducerReply, { op: Op }>> {
      if (failure) throw failure;
      const r = await new Promise<ProducerReply>((resolve) => waiting.push(resolve));
      if (r.op === "error") throw failure ?? new Error(r.message);
      if (r.op !== op) throw new Error(`producer process answered ${r.op}, expected ${op}`);
      return r as Extract<ProducerReply, { op: Op }>;
    },
    async request<Op extends ProducerReply["op"]>(cmd: ProducerCommand, op: Op) {
      this.send(cmd);
      return this.reply(op);
    },
    stop(): void {
      if (child.connected) child.send({ op: "exit" } satisfies ProducerCommand);
    },
  };
};
type Producers = ReturnType<typeof spawnProducers>;

/** Node i sends eventsEach[i] events (N split as evenly as possible, at least 2 each). */
const eventsPerNode = Array.from({ length: M }, (_, i) => Math.floor(N / M) + (i < N % M ? 1 : 0));

/** Signs every node's events once, one signer process per core; returns the files. */
const signAll = async (dir: string): Promise<string[]> => {
  const start = performance.now();
  const per = Math.ceil(M / SIGNERS);
  const jobs: Promise<string>[] = [];
  for (let first = 0; first < M; first += per) {
    const file = join(dir, `signed-${first}.cbor`);
    const signer = spawnProducers();
    const eventsEach = eventsPerNode.slice(first, first + per);
    jobs.push(
      signer
        .request({ op: "sign", file, first, eventsEach, producers: M, linksPerNode: LINKS }, "signed")
        .then((r) => {
          progress(`signer ${first}..${first + eventsEach.length - 1}: ${r.events} events signed in ${(r.ms / 1000).toFixed(1)} s`);
          signer.stop();
          return file;
        }),
    );
  }
  const files = await Promise.all(jobs);
  progress(`signed ${N} events for ${M} producers in ${((performance.now() - start) / 1000).toFixed(1)} s (${SIGNERS} signer processes)`);
  return files;
};

/** Ed25519 verifications per second in this thread, over a real event's canonical bytes. */
const verifyPerSecondOneCore = (ms = 1500): number => {
  const key = generateSigningKey();
  const payload = encodeCbor({
    nodeId: "node-00001",
    links: Array.from({ length: LINKS }, (_, i) => ({
      neigh_address: `02:00:00:00:0${i}:00`, hard_ifname: "mesh0", tq: 200, last_seen_msecs: 120, throughput: 21_000, loss: 0.01, latency_ms: 3.2,
    })),
  });
  const message = canonicalBytes(
    {
      subject: "mesh.node-00001.links", type: "mesh.LinkMetricsReported", version: 1, eventId: "0190a5b0-0000-7000-8000-000000000000",
      producerId: "node-00001", keyId: key.keyId, occurredAt: new Date().toISOString(),
      correlationId: "0190a5b0-0000-7000-8000-000000000000", causationId: "0190a5b0-0000-7000-8000-000000000000",
    },
    payload,
  );
  const signature = sign(null, message, key.privateKey);
  const publicKey = publicKeyObject(key.publicKey);
  for (let i = 0; i < 200; i++) verify(null, message, publicKey, signature); // warm up
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) if (verify(null, message, publicKey, signature)) count++;
    elapsed = performance.now() - start;
  }
  if (count === 0) throw new Error("verification failed");
  return count / (elapsed / 1000);
};

/** Deletes what a phase leaves behind and creates the streams again: every phase starts empty. */
const resetStreams = async (jsm: JetStreamManager): Promise<void> => {
  for (const name of ["MESH", "QUARANTINE", "KV_kb", "KV_producers"]) {
    try {
      await jsm.streams.delete(name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    }
  }
  // MESH gets half: 1 GiB holds 200 000 events of ~1.1 KB several times over.
  await ensureStreams(jsm, { storageBytes: 2 * 1024 ** 3 });
};

interface PhaseResult {
  readonly seconds: number;
  readonly eps: number;
  readonly publishSeconds: number;
  /**
   * CPU seconds spent during the phase by this process (all threads), by its main thread alone
   * (decode, apply, NATS client), the producers and nats-server.
   */
  readonly cpu: { readonly bench: number; readonly main: number; readonly producers: number; readonly server: number };
}

/** CPU seconds (user + system) a process has used so far; NaN when it cannot be read. */
const processCpu = async (pid: number | undefined, file = `/proc/${pid}/stat`): Promise<number> => {
  if (pid === undefined || pid < 0) return NaN;
  try {
    const stat = await readFile(file, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
};

/** Starts a CPU meter over this process, the producer child and the server; `stop` returns the deltas. */
const cpuMeter = async (producersPid: number | undefined, serverPid: number | undefined) => {
  const self = process.cpuUsage();
  const mainThread = `/proc/self/task/${process.pid}/stat`;
  const [p0, s0, m0] = await Promise.all([processCpu(producersPid), processCpu(serverPid), processCpu(process.pid, mainThread)]);
  return async () => {
    const d = process.cpuUsage(self);
    const [p1, s1, m1] = await Promise.all([processCpu(producersPid), processCpu(serverPid), processCpu(process.pid, mainThread)]);
    return { bench: (d.user + d.system) / 1e6, main: m1 - m0, producers: p1 - p0, server: s1 - s0 };
  };
};
const cpuText = (c: PhaseResult["cpu"]) =>
  `cpu_s bench=${c.bench.toFixed(1)} (main thread ${c.main.toFixed(1)}) producers=${c.producers.toFixed(1)} server=${Number.isNaN(c.server) ? "?" : c.server.toFixed(1)}`;

/** Reports how far a phase got every few seconds. */
const ticker = (label: string, count: () => number) => {
  const start = performance.now();
  const timer = setInterval(() => {
    const n = count();
    progress(`  ${label}: ${n}/${N} after ${((performance.now() - start) / 1000).toFixed(0)} s (load ${load()})`);
  }, 5000);
  return () => clearInterval(timer);
};

let serverPid: number | undefined;

const rawPhase = async (nc: NatsConnection, jsm: JetStreamManager, url: string, producers: Producers): Promise<PhaseResult> => {
  await resetStreams(jsm);
  await jsm.consumers.add("MESH", {
    durable_name: "raw",
    ack_policy: AckPolicy.All,
    max_ack_pending: 50_000,
    ack_wait: 60 * 1e9,
    deliver_policy: DeliverPolicy.All,
  });
  const consumer = await jetstream(nc).consumers.get("MESH", "raw");
  let received = 0;
  let resolveDone: (t: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const messages = await consumer.consume({
    max_messages: 1024,
    callback: (msg) => {
      received++;
      if (received % 10_000 === 0 || received === N) msg.ack();
      if (received === N) resolveDone(performance.now());
    },
  });
  await producers.request({ op: "connect", url, window: WINDOW, connections: CONNECTIONS }, "connected");
  const stop = ticker("raw", () => received);
  const meter = await cpuMeter(producers.child.pid, serverPid);
  const t0 = performance.now();
  producers.send({ op: "go" });
  const published = await producers.reply("published");
  const end = await done;
  const cpu = await meter();
  stop();
  await messages.close();
  await producers.request({ op: "disconnect" }, "disconnected");
  const seconds = (end - t0) / 1000;
  return { seconds, eps: N / seconds, publishSeconds: published.ms / 1000, cpu };
};

/** The real projection, counting what it applies. */
class CountedKnowledgeBase extends KnowledgeBaseProjection {
  appliedEvents = 0;
  override apply(event: VerifiedEvent): void {
    super.apply(event);
    this.appliedEvents++;
  }
}

const platformPhase = async (nc: NatsConnection, jsm: JetStreamManager, url: string, producers: Producers): Promise<PhaseResult> => {
  await resetStreams(jsm);
  const registry = await ProducerRegistry.open(nc);
  const projection = new CountedKnowledgeBase(nc);
  let resolveDone: (t: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const runner = new ProjectionRunner(nc, projection, registry, {
    onCheckpoint: (seq) => {
      if (seq >= N) resolveDone(performance.now());
    },
  });
  await runner.start();
  await producers.request({ op: "connect", url, window: WINDOW, connections: CONNECTIONS }, "connected");
  const stop = ticker("platform", () => runner.appliedSequence);
  const meter = await cpuMeter(producers.child.pid, serverPid);
  const t0 = performance.now();
  producers.send({ op: "go" });
  const published = await producers.reply("published");
  // A stalled runner must not hang the bench.
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => reject(new Error(`platform phase stalled at sequence ${runner.appliedSequence}`)), 600_000);
  });
  const end = await Promise.race([done, stalled]).finally(() => clearTimeout(watchdog));
  const cpu = await meter();
  stop();
  await runner.stop();
  await producers.request({ op: "disconnect" }, "disconnected");
  const quarantined = (await jsm.streams.info("QUARANTINE")).state.messages;
  if (projection.appliedEvents !== N || quarantined !== 0 || projection.kb.size !== M) {
    throw new Error(
      `platform phase incomplete: ${projection.appliedEvents}/${N} applied, ${quarantined} quarantined, ${projection.kb.size}/${M} nodes in the knowledge base`,
    );
  }
  const seconds = (end - t0) / 1000;
  return { seconds, eps: N / seconds, publishSeconds: published.ms / 1000, cpu };
};

const main = async () => {
  progress(`N=${N} events, M=${M} producers, ${RUNS} runs, window ${WINDOW}/producer, ${availableParallelism()} cores, load ${load()}`);
  const work = await mkdtemp(join(tmpdir(), "x0-bench-ingest-"));
  let server: RunningNatsServer | undefined;
  let nc: NatsConnection | undefined;
  let producers: Producers | undefined;
  try {
    const external = serversFromEnv();
    if (!external) server = await startNatsServer({ dataDir: join(work, "nats") });
    serverPid = server?.pid;
    const url = external?.join(",") ?? server!.url;
    progress(external ? `using NATS_URL=${url} (its MESH, QUARANTINE, kb and producers will be deleted)` : `started nats-server at ${url}`);
    nc = await connectNats({ servers: url, name: "bench-ingest" });
    const jsm = await jetstreamManager(nc);

    const files = await signAll(work);
    producers = spawnProducers();
    const loaded = await producers.request({ op: "load", files }, "loaded");
    if (loaded.events !== N) throw new Error(`signed ${loaded.events} events, expected ${N}`);
    const avgPayload = loaded.payloadBytes / N;
    const avgHeaders = loaded.headerBytes / N;
    progress(`events: ${N}, payload ${avgPayload.toFixed(0)} B + headers ${avgHeaders.toFixed(0)} B on average`);

    const rows: { platform: PhaseResult; raw: PhaseResult; verify: number; ratio: number }[] = [];
    for (let run = 1; run <= RUNS; run++) {
      progress(`run ${run}/${RUNS}: measuring one-core verification (load ${load()})`);
      const verifyEps = verifyPerSecondOneCore();
      const skipped: PhaseResult = { seconds: NaN, eps: NaN, publishSeconds: NaN, cpu: { bench: NaN, main: NaN, producers: NaN, server: NaN } };
      progress(`run ${run}/${RUNS}: raw publish+consume (load ${load()})`);
      const raw = ONLY === "platform" ? skipped : await rawPhase(nc, jsm, url, producers);
      progress(`run ${run}/${RUNS}: platform ingest (load ${load()})`);
      const platform = ONLY === "raw" ? skipped : await platformPhase(nc, jsm, url, producers);
      const ratio = platform.eps / raw.eps;
      rows.push({ platform, raw, verify: verifyEps, ratio });
      console.log(
        `run ${run}: ratio=${ratio.toFixed(3)} platform_eps=${platform.eps.toFixed(0)} (${platform.seconds.toFixed(1)} s, publish ${platform.publishSeconds.toFixed(1)} s) ` +
          `raw_eps=${raw.eps.toFixed(0)} (${raw.seconds.toFixed(1)} s, publish ${raw.publishSeconds.toFixed(1)} s) verify_eps_1core=${verifyEps.toFixed(0)} load=${load()}`,
      );
      console.log(`run ${run}: platform ${cpuText(platform.cpu)}; raw ${cpuText(raw.cpu)}`);
    }
    console.log(
      `N=${N} M=${M} runs=${RUNS} payload_avg_bytes=${avgPayload.toFixed(0)} headers_avg_bytes=${avgHeaders.toFixed(0)} cores=${availableParallelism()} load=${load()}`,
    );
    console.log(
      `ingest_ratio=${median(rows.map((r) => r.ratio)).toFixed(3)} platform_eps=${median(rows.map((r) => r.platform.eps)).toFixed(0)} ` +
        `raw_eps=${median(rows.map((r) => r.raw.eps)).toFixed(0)} verify_eps_1core=${median(rows.map((r) => r.verify)).toFixed(0)}`,
    );
  } finally {
    producers?.stop();
    await nc?.close().catch(() => undefined);
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
};

await main();
