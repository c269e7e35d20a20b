/**
 * `npm run bench:mttr [-- --nodes 1000 --runs 3 --trials 4 --seed 1]`
 *
 * Time to repair of the healing loop on a 1 000-node twin (heartbeats and link reports every
 * 250 ms), one fault at a time: `--trials` node crashes and link degradations each, and one of
 * every other kind (hang, flap, partition, flood, lie, bad signatures, jamming). Each fault
 * lasts 12 s; one starts every 20 s. The same run is repeated without the loop (batman-adv
 * alone) for the availability baseline.
 *
 * The loop runs in simulated time (`simulateHealing`): the twin's events reach its monitor, its
 * commands reach the nodes and their answers come back, each hop after a delay drawn from
 * append → consume latencies measured on a real nats-server at the start of this run. Detection
 * time and time to repair come from the HEAL log alone (`chaosReport`): fault injected →
 * incident detected → Recovered.
 *
 * - `mttr_p95_ms`: p95 time to repair over node crashes and link degradations together
 *   (per kind too); median over runs.
 * - `fp_per_10k_node_min`: incidents opened while no fault was active (5 s grace after each),
 *   per 10 000 node-minutes.
 * - `availability_heal` / `availability_noheal`: mean share of (node, gateway) pairs whose route,
 *   as batman-adv chooses it with a 5 s lag, delivers at least half its frames.
 */
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { simulateHealing, TargetPicker, type SimulatedFault } from "../../adapters/chaos/index.ts";
import { MeshTwin, Rng } from "../../adapters/twin/index.ts";
import { percentile, type Fault, type FaultOutcome } from "../../domains/chaos/index.ts";
import { HeartbeatSent, meshSubject } from "../../domains/mesh/index.ts";
import { EventStore, Producer, generateSigningKey } from "../../streams/index.ts";
import { startTestNats } from "../support/nats.ts";

const { values: flags } = parseArgs({
  options: {
    nodes: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    trials: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
  },
});
const NODES = Number(flags.nodes);
const RUNS = Number(flags.runs);
const TRIALS = Number(flags.trials);
const SEED = Number(flags.seed);

const say = (line: string) => process.stderr.write(`[bench:mttr] ${line}\n`);

/** Append → consume latency of one event on a real nats-server, ms, sorted. */
const measureTransport = async (samples = 300): Promise<number[]> => {
  const nats = await startTestNats();
  try {
    const store = new EventStore(nats.nc);
    const node = new Producer("bench-node", generateSigningKey());
    const js = jetstream(nats.nc);
    const consumer = await js.consumers.get("MESH", { filter_subjects: "mesh.bench-node.heartbeat" });
    const messages = await consumer.consume({ max_messages: 64 });
    // Keyed by event id, set before the append: the consumer may see an event before its ack returns.
    const sentAt = new Map<string, number>();
    const delays: number[] = [];
    const done = (async () => {
      for await (const m of messages) {
        const t0 = sentAt.get(m.headers?.get("Nats-Msg-Id") ?? "");
        if (t0 !== undefined) delays.push(performance.now() - t0);
        if (delays.length >= samples) break;
      }
    })();
    for (let i = 0; i < samples; i++) {
      const event = node.seal(HeartbeatSent, { nodeId: "bench-node", uptime: i }, meshSubject("bench-node", HeartbeatSent.type));
      sentAt.set(event.meta.eventId, performance.now());
      await store.append(event);
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    await messages.close();
    return delays.sort((a, b) => a - b);
  } finally {
    await nats.close();
  }
};

const FAULT_MS = 12_000;
const EVERY_MS = 20_000;

/** The run's faults, targets picked on the twin: crashes and degradations interleaved, then one of each other kind. */
const schedule = (twin: MeshTwin): SimulatedFault[] => {
  const picker = new TargetPicker(twin);
  const specs: { kind: string; fault: () => Fault }[] = [];
  for (let i = 0; i < TRIALS; i++) {
    specs.push({ kind: "node-crash", fault: () => ({ kind: "node-crash", node: picker.inner() }) });
    specs.push({ kind: "link-degradation", fault: () => ({ kind: "link-degradation", link: picker.detourLink(), loss: 0.5, latencyMs: 100 }) });
  }
  specs.push({ kind: "node-hang", fault: () => ({ kind: "node-hang", node: picker.inner() }) });
  specs.push({ kind: "link-flap", fault: () => ({ kind: "link-flap", link: picker.detourLink(), periodMs: 3_000, downMs: 1_500 }) });
  specs.push({ kind: "partition", fault: () => ({ kind: "partition", nodes: picker.cluster() }) });
  for (const behaviour of ["flood", "lie", "bad-signatures"] as const) specs.push({ kind: "byzantine", fault: () => ({ kind: "byzantine", node: picker.inner(), behaviour }) });
  specs.push({ kind: "jamming", fault: () => picker.resolve({ kind: "jamming", center: "@near:@inner", radiusM: 80, loss: 0.7 }) });
  return specs.map((s, i) => ({ faultId: `f${i}-${s.kind}`, fault: s.fault(), atMs: i * EVERY_MS, clearAtMs: i * EVERY_MS + FAULT_MS }));
};

const twinFor = (seed: number) => new MeshTwin({ nodes: NODES, seed, intervalMs: 250, heartbeatIntervalMs: 250 });

interface RunResult {
  readonly outcomes: readonly FaultOutcome[];
  readonly fpPer10k: number;
  readonly availabilityHeal: number;
  readonly availabilityNoheal: number;
}

const runOnce = (seed: number, delays: readonly number[]): RunResult => {
  const rng = new Rng(seed, 0x6e617473);
  const delay = () => delays[rng.int(delays.length)]!;
  const picked = schedule(twinFor(seed));
  const durationMs = picked.length * EVERY_MS + 5_000;
  const common = {
    faults: picked,
    durationMs,
    warmUpMs: 40_000,
    transportDelayMs: delay,
    availabilityEveryMs: 2_000,
    availability: { maxPairs: 300 },
  };
  const started = performance.now();
  const healTwin = twinFor(seed);
  const heal = simulateHealing({ ...common, twin: healTwin, heal: true, availability: { ...common.availability, destinations: healTwin.observers }, scenario: "bench-mttr" });
  say(`seed ${seed}: healing run done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const nohealTwin = twinFor(seed);
  const noheal = simulateHealing({ ...common, twin: nohealTwin, heal: false, availability: { ...common.availability, destinations: nohealTwin.observers } });
  say(`seed ${seed}: baseline run done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const windows = picked.map((f) => [heal.startedAt + f.atMs, heal.startedAt + (f.clearAtMs ?? durationMs) + 5_000] as const);
  const quiet = heal.report.unexplained.filter((i) => i.detectedAt >= heal.startedAt && !windows.some(([a, b]) => i.detectedAt >= a && i.detectedAt <= b));
  for (const i of quiet) say(`seed ${seed}: false positive ${i.kind} ${JSON.stringify(i.blamed)}`);
  return {
    outcomes: heal.report.faults,
    fpPer10k: (quiet.length * 10_000) / heal.nodeMinutes,
    availabilityHeal: heal.availability ?? NaN,
    availabilityNoheal: noheal.availability ?? NaN,
  };
};

const median = (xs: readonly number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (v: number | undefined, digits = 0) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits));

say(`measuring append -> consume latency on a real nats-server`);
const delays = await measureTransport();
say(`transport per hop: p50 ${fmt(percentile(delays, 50), 2)} ms, p95 ${fmt(percentile(delays, 95), 2)} ms (${delays.length} samples)`);

const results: RunResult[] = [];
for (let run = 0; run < RUNS; run++) {
  say(`run ${run + 1}/${RUNS}: ${NODES} nodes, seed ${SEED + run}`);
  results.push(runOnce(SEED + run, delays));
}

const kinds = ["node-crash", "link-degradation", "node-hang", "link-flap", "partition", "byzantine", "jamming"];
const perRun = (kind: string, pick: (o: FaultOutcome) => number | undefined, p: number) =>
  median(results.map((r) => percentile(r.outcomes.filter((o) => o.fault.fault.kind === kind).flatMap((o) => (pick(o) === undefined ? [] : [pick(o)!])), p) ?? NaN));
console.log(["kind", "faults", "detected", "root cause right", "recovered", "escalated", "detect p50 ms", "repair p50 ms", "repair p95 ms"].join("\t"));
for (const kind of kinds) {
  const all = results.flatMap((r) => r.outcomes.filter((o) => o.fault.fault.kind === kind));
  console.log(
    [
      kind,
      all.length,
      all.filter((o) => o.status !== "undetected").length,
      all.filter((o) => o.rootCauseRight).length,
      all.filter((o) => o.status === "recovered").length,
      all.filter((o) => o.status === "escalated").length,
      fmt(perRun(kind, (o) => o.detectionMs, 50)),
      fmt(perRun(kind, (o) => o.timeToRepairMs, 50)),
      fmt(perRun(kind, (o) => o.timeToRepairMs, 95)),
    ].join("\t"),
  );
}
for (const [i, r] of results.entries())
  console.log(`run ${i + 1}: fp_per_10k_node_min=${fmt(r.fpPer10k, 2)} availability_heal=${fmt(r.availabilityHeal, 4)} availability_noheal=${fmt(r.availabilityNoheal, 4)}`);

const mttr = (kindsOf: readonly string[]) =>
  median(results.map((r) => percentile(r.outcomes.filter((o) => kindsOf.includes(o.fault.fault.kind)).flatMap((o) => (o.timeToRepairMs === undefined ? [] : [o.timeToRepairMs])), 95) ?? NaN));
console.log(
  `mttr_p95_ms=${fmt(mttr(["node-crash", "link-degradation"]))} mttr_p95_crash_ms=${fmt(mttr(["node-crash"]))} mttr_p95_link_degradation_ms=${fmt(mttr(["link-degradation"]))} ` +
    `fp_per_10k_node_min=${fmt(median(results.map((r) => r.fpPer10k)), 2)} availability_heal=${fmt(median(results.map((r) => r.availabilityHeal)), 4)} availability_noheal=${fmt(median(results.map((r) => r.availabilityNoheal)), 4)}`,
);
