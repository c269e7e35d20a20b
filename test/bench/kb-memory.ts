/**
 * `npm run bench:kb-memory [-- --nodes 10000 --links 8 --rounds 3 --runs 3]`
 *
 * Memory of the knowledge base (projections/knowledge-base `KnowledgeBase`, in memory) holding
 * 10 000 nodes with 8 links each, built the way the control plane builds it: every node
 * announces itself, then reports its link table (8 batman-adv neighbours), its node metrics and
 * a heartbeat, `--rounds` times over. Each payload goes through CBOR and the event schema
 * exactly as the projection runner decodes it, then `KnowledgeBase.apply`.
 *
 * Each run is a fresh child process started with --expose-gc; after the build it collects
 * garbage and reads the process RSS. The figure is the absolute RSS of that process, which also
 * holds Node itself, the TypeScript loader, effect, cbor-x and the event definitions: nothing is
 * subtracted (the RSS before the build is printed alongside for context). The last line is the
 * median over the runs: `kb_rss_mb=<n>`.
 *
 * `--loop` (`npm run bench:heal-memory`): the healing loop too, as `x0 up` runs it: every event
 * also feeds the loop's monitor (failure detector per node, link state per direction), reports
 * come every 250 ms of event time, and the loop runs a cycle after each round. Default rounds
 * then 100, so every failure detector holds its full window of intervals. Last line
 * `kb_loop_rss_mb=<n>`.
 *
 * `--only kb|loop|wire` builds one part, for a breakdown: the knowledge base alone, the loop
 * (monitor and `HealingLoop`) alone, or neither (only this harness: the same events encoded
 * and decoded, nothing kept). Each run also prints the RSS growth over the build, the JS heap
 * and the typed-array memory (the monitor's columns). Last line `<part>_rss_mb=<n>`.
 *
 * What the RSS before the build holds (~130 MB here, measured on Node 20.20, ±4 MB between
 * runs): Node itself (~40), tsx's loader, as `x0` uses it (~30: its module and the loader
 * thread `register()` starts), effect/Schema for the event schemas (~50 under tsx, ~25
 * without: tsx turns on source maps and transforms each module), cbor-x, @nats-io and
 * @opentelemetry/api through the envelope and projection modules (~10). The whole `x0` CLI
 * loads to ~143 MB. No V8 flag is set but --expose-gc (to collect before reading), so the
 * heap limits are V8's defaults, the ones `x0 up` runs with. Of the growth, V8's young
 * generation is part: under the build's allocation rate it grows to its default 32 MB and
 * stays committed after the collections, or has shrunk again, depending on the run (most of the
 * ±10 MB between runs); the JS heap and typed-array figures printed beside vary by less than 1 MB.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
// The subpath, not the "effect" barrel: the bench must not load more of effect than the product does.
import * as Schema from "effect/Schema";
import { HeartbeatSent, LinkMetricsReported, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { HealingLoop, MeshMonitor, observeMeshEvent } from "../../domains/healing/index.ts";
import { KnowledgeBase, type MeshEvent } from "../../projections/knowledge-base/index.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";
import { keyIdOf } from "../../streams/keys.ts";

const { values: flags } = parseArgs({
  options: {
    nodes: { type: "string", default: "10000" },
    links: { type: "string", default: "8" },
    rounds: { type: "string" },
    loop: { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
    only: { type: "string" },
    child: { type: "boolean", default: false },
  },
});
const NODES = Number(flags.nodes);
const LINKS = Number(flags.links);
const LOOP = flags.loop;
const ROUNDS = Number(flags.rounds ?? (LOOP ? 100 : 3));
const RUNS = Number(flags.runs);
for (const [name, value] of Object.entries({ nodes: NODES, links: LINKS, rounds: ROUNDS, runs: RUNS })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}
if (LINKS >= NODES) throw new Error("--links must be smaller than --nodes");
const ONLY = flags.only;
if (ONLY !== undefined && !["kb", "loop", "wire"].includes(ONLY)) throw new Error("--only must be kb, loop or wire");
if (ONLY === "loop" && !LOOP) throw new Error("--only loop needs --loop");
const WITH_KB = ONLY === undefined || ONLY === "kb";
const WITH_LOOP = LOOP && (ONLY === undefined || ONLY === "loop");

interface ChildResult {
  readonly rssMb: number;
  readonly rssBeforeMb: number;
  readonly heapUsedMb: number;
  readonly heapUsedBeforeMb: number;
  readonly heapTotalMb: number;
  /** Memory of ArrayBuffers (typed arrays) outside the JS heap. */
  readonly arrayBuffersMb: number;
  readonly arrayBuffersBeforeMb: number;
  readonly nodes: number;
  readonly links: number;
  readonly events: number;
  readonly gc: boolean;
}

const MB = 1024 * 1024;

/** One measurement, in this (child) process. */
const measure = (): ChildResult => {
  type Definition = typeof NodeAnnounced | typeof HeartbeatSent | typeof LinkMetricsReported | typeof NodeMetricsReported;

  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = () => {
    for (let i = 0; i < 4; i++) gc?.();
  };
  collect();
  const before = process.memoryUsage();

  // Deterministic pseudo-random numbers: every run builds the same knowledge base.
  let seed = 42;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  /** MAC of interface `iface` (0 = primary, 1 = mesh radio) of node i. */
  const macOf = (i: number, iface: number) => `02:${hex(iface)}:00:${hex((i >> 16) & 0xff)}:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`;
  const nodeIdOf = (i: number) => `node-${String(i).padStart(5, "0")}`;
  const decoders = new Map<Definition, (input: unknown) => unknown>();
  /** CBOR out and back, then the schema: what the runner hands to the projection. */
  const wire = <D extends Definition>(definition: D, payload: D["schema"]["Type"]): D["schema"]["Type"] => {
    let decode = decoders.get(definition);
    if (!decode) {
      const encoder = Schema.encodeUnknownSync(definition.schema as Schema.Codec<unknown, unknown>);
      const decoder = Schema.decodeUnknownSync(definition.schema as Schema.Decoder<unknown>);
      decode = (input) => decoder(decodeCbor(encodeCbor(encoder(input))), { onExcessProperty: "ignore" });
      decoders.set(definition, decode);
    }
    return decode(payload) as D["schema"]["Type"];
  };

  const kb = new KnowledgeBase();
  const monitor = WITH_LOOP ? new MeshMonitor() : undefined;
  let ids = 0;
  const loop = monitor ? new HealingLoop(monitor, () => `inc-${++ids}`) : undefined;
  let seq = 0;
  let events = 0;
  const keyIds: string[] = [];
  const start = Date.now();
  let now = start;
  const apply = (type: Definition["type"], payload: unknown, i: number) => {
    seq++;
    events++;
    if (WITH_KB) kb.apply({ type, payload } as MeshEvent, { seq, occurredAt: start + seq, keyId: keyIds[i]! });
    if (monitor) observeMeshEvent(monitor, type, nodeIdOf(i), payload, now);
  };

  for (let i = 0; i < NODES; i++) {
    const publicKey = new Uint8Array(32);
    for (let b = 0; b < 32; b++) publicKey[b] = Math.floor(random() * 256);
    keyIds.push(keyIdOf(publicKey));
    const nodeId = nodeIdOf(i);
    apply(
      NodeAnnounced.type,
      wire(NodeAnnounced, {
        nodeId,
        publicKey,
        hostname: `ff-${nodeId}`,
        primaryMac: macOf(i, 0),
        macs: [macOf(i, 0), macOf(i, 1)],
        hardware: { model: "TP-Link TL-WR841N/ND v9", nproc: 1 },
        software: { firmware: "gluon-v2023.2.3", batmanAdv: "2023.1", x0: "0.1.0" },
        location: { latitude: 53 + random(), longitude: 8.5 + random() },
      }),
      i,
    );
  }
  let rx = 0;
  for (let round = 0; round < ROUNDS; round++) {
    now = start + 250 * (round + 1);
    if (loop) loop.tick(now);
    for (let i = 0; i < NODES; i++) {
      const nodeId = nodeIdOf(i);
      apply(
        LinkMetricsReported.type,
        wire(LinkMetricsReported, {
          nodeId,
          links: Array.from({ length: LINKS }, (_, k) => ({
            // Symmetric: i's neighbours are i ± (1 + 7k), so every link is reported by both ends.
            neigh_address: macOf((i + (k % 2 === 0 ? 1 : -1) * (1 + Math.floor(k / 2) * 7) + NODES) % NODES, 1),
            hard_ifname: "mesh0",
            tq: 100 + Math.floor(random() * 156),
            last_seen_msecs: Math.floor(random() * 2000),
            throughput: Math.round(random() * 54_000),
            loss: Math.round(random() * 100) / 1000,
            latency_ms: Math.round(random() * 5000) / 100,
          })),
        }),
        i,
      );
      rx += Math.floor(random() * 1e6);
      apply(
        NodeMetricsReported.type,
        wire(NodeMetricsReported, {
          nodeId,
          cpu: Math.round(random() * 1000) / 1000,
          loadavg: Math.round(random() * 200) / 100,
          memory: { total: 60_000, available: 20_000 + Math.floor(random() * 20_000) },
          traffic: { rx_bytes: rx, tx_bytes: rx * 2, forward_bytes: Math.floor(rx / 2), mgmt_rx_bytes: Math.floor(rx / 50), mgmt_tx_bytes: Math.floor(rx / 40) },
          clients: Math.floor(random() * 30),
        }),
        i,
      );
      apply(HeartbeatSent.type, wire(HeartbeatSent, { nodeId, uptime: 3600 * (round + 1) + i }), i);
    }
  }
  decoders.clear();
  collect();
  const memory = process.memoryUsage();
  let links = 0;
  for (const node of kb.nodes()) links += node.links?.samples.length ?? 0;
  // Keep the knowledge base reachable until after the reading.
  if (WITH_KB && (kb.size !== NODES || links !== NODES * LINKS)) throw new Error(`knowledge base holds ${kb.size} nodes and ${links} links`);
  if (monitor && monitor.size !== NODES) throw new Error(`the loop's monitor holds ${monitor.size} nodes`);
  return {
    rssMb: memory.rss / MB,
    rssBeforeMb: before.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    heapUsedBeforeMb: before.heapUsed / MB,
    heapTotalMb: memory.heapTotal / MB,
    arrayBuffersMb: memory.arrayBuffers / MB,
    arrayBuffersBeforeMb: before.arrayBuffers / MB,
    nodes: kb.size,
    links,
    events,
    gc: gc !== undefined,
  };
};

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Runs one measurement in a fresh process with --expose-gc and returns its result. */
const runChild = (): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const runTs = fileURLToPath(new URL("../../adapters/cli/run-ts.js", import.meta.url));
    const self = fileURLToPath(import.meta.url);
    const args = ["--expose-gc", runTs, self, "--child", "--nodes", String(NODES), "--links", String(LINKS), "--rounds", String(ROUNDS), ...(LOOP ? ["--loop"] : []), ...(ONLY ? ["--only", ONLY] : [])];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`measurement process exited with code ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as ChildResult);
      } catch (error) {
        reject(error);
      }
    });
  });

if (flags.child) {
  console.log(JSON.stringify(measure()));
} else {
  const results: ChildResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const what = ONLY === "wire" ? "encoding and decoding only" : ONLY === "loop" ? "the healing loop only" : LOOP && ONLY === undefined ? "with the healing loop" : "the knowledge base only";
    process.stderr.write(`[bench:kb-memory] run ${run}/${RUNS}: ${NODES} nodes x ${LINKS} links, ${ROUNDS} rounds of reports, ${what}\n`);
    const r = await runChild();
    if (!r.gc) process.stderr.write("[bench:kb-memory] warning: global.gc unavailable, RSS read without a forced collection\n");
    results.push(r);
    console.log(
      `run ${run}: rss_mb=${r.rssMb.toFixed(1)} (before build ${r.rssBeforeMb.toFixed(1)}, growth ${(r.rssMb - r.rssBeforeMb).toFixed(1)}) ` +
        `heap_used_mb=${r.heapUsedMb.toFixed(1)} (before build ${r.heapUsedBeforeMb.toFixed(1)}, heap total ${r.heapTotalMb.toFixed(1)}) ` +
        `array_buffers_mb=${r.arrayBuffersMb.toFixed(1)} (before build ${r.arrayBuffersBeforeMb.toFixed(1)}) ` +
        `nodes=${r.nodes} links=${r.links} events_applied=${r.events} gc=${r.gc}`,
    );
  }
  const label = ONLY !== undefined ? `${ONLY}_rss_mb` : LOOP ? "kb_loop_rss_mb" : "kb_rss_mb";
  console.log(`${label}=${median(results.map((r) => r.rssMb)).toFixed(1)}`);
}
