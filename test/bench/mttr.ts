/**
 * `npm run bench:mttr [-- --nodes 1000 --runs 3 --seed 1 --every-ms 3000 --fault-ms 12000 --quiet-minutes 10 --cpu-prof]`
 *
 * Time to repair, false positives and availability of the healing loop on a 1 000-node twin
 * (heartbeats, link and node reports every 250 ms), issue 3's mix: 100 faults — 40 node
 * crashes, 30 link degradations (+50 % loss, +100 ms), 10 partitions (a node and its
 * neighbours cut off), 10 Byzantine floods (20x traffic), 10 jammings (+70 % loss on every
 * link within 80 m) — then a fault-free period.
 *
 * Schedule (`disjointSchedule`, adapters/chaos/schedule.ts): after a 30 s warm-up a new fault
 * starts every `--every-ms` (3 s) and lasts `--fault-ms` (12 s), kinds interleaved (seeded),
 * so about four are active at once; each is picked away from every fault still active or
 * cleared less than 10 s ago — neither its nodes nor their neighbours touch theirs — so each
 * detection, repair and lost route is attributable to one fault. Then 30 s of grace, then the
 * fault-free period of `--quiet-minutes` (10: at 1 000 nodes, 10 000 node-minutes, so a single
 * false positive shows as 1.0).
 *
 * The loop runs in simulated time (`simulateHealing`): every event a node produces is sealed
 * with its Ed25519 key and goes through the control plane's intake — the knowledge base
 * runner's checks and signature verification on the verification pool's worker threads — before
 * the monitor sees it; each hop (event to loop, command to node, outcome to loop) is delayed by
 * an append → consume latency measured on a real nats-server at the start of this run.
 * Detection time and time to repair come from the HEAL log alone (`chaosReport`).
 *
 * - MTTR of a fault: `Recovered.verifiedAt − injectedAt` of the first incident that answers it
 *   (undefined when escalated). `mttr_p95_ms`: p95 over node crashes and link degradations
 *   together (per kind too); median over runs.
 * - `fp_per_10k_node_min`: incidents opened in the fault-free period, per 10 000 node-minutes.
 * - `availability_heal` / `availability_noheal`: the time-averaged share of connected node
 *   pairs with a working route (adapters/twin/routing.ts, `availability`), sampled every 2 s from
 *   the first fault to the end of the grace, with the loop and without it (batman-adv alone)
 *   on the same seed, the same faults and the same pairs.
 *
 * `--cpu-prof`: profiles the main thread of the first healing run and prints the functions with
 * the most self time (the .cpuprofile is written beside for a closer look).
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { disjointSchedule, simulateHealing, type HealingSimulationResult, type ScheduledFault, type ScheduledKind } from "../../adapters/chaos/index.ts";
import { MeshTwin, Rng } from "../../adapters/twin/index.ts";
import { percentile, type FaultOutcome, type LoggedIncident } from "../../domains/chaos/index.ts";
import { HeartbeatSent, meshSubject, type LinkSample } from "../../domains/mesh/index.ts";
import { EventStore, Producer, generateSigningKey, VerifyPool } from "../../streams/index.ts";
import { startTestNats } from "../support/nats.ts";

const { values: flags } = parseArgs({
  options: {
    nodes: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    seed: { type: "string", default: "1" },
    "every-ms": { type: "string", default: "3000" },
    "fault-ms": { type: "string", default: "12000" },
    "quiet-minutes": { type: "string", default: "10" },
    "warm-up-s": { type: "string", default: "30" },
    pairs: { type: "string", default: "1000" },
    scale: { type: "string", default: "1" },
    "cpu-prof": { type: "boolean", default: false },
  },
});
const NODES = Number(flags.nodes);
const RUNS = Number(flags.runs);
const SEED = Number(flags.seed);
const EVERY_MS = Number(flags["every-ms"]);
const FAULT_MS = Number(flags["fault-ms"]);
const QUIET_MS = Number(flags["quiet-minutes"]) * 60_000;
const WARM_UP_MS = Number(flags["warm-up-s"]) * 1000;
const PAIRS = Number(flags.pairs);
/** Scales the fault counts (e.g. 0.2 for a quick look); 1 = issue 3's 100 faults. */
const SCALE = Number(flags.scale);
const GRACE_MS = 30_000;
const AVAILABILITY_EVERY_MS = 2_000;

const MIX: Record<ScheduledKind, number> = {
  "node-crash": 40,
  "link-degradation": 30,
  partition: 10,
  "byzantine-flood": 10,
  jamming: 10,
  "node-hang": 0,
  "link-flap": 0,
  "byzantine-lie": 0,
  "byzantine-bad-signatures": 0,
};
const KINDS = (Object.keys(MIX) as ScheduledKind[]).filter((k) => MIX[k] > 0);

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

const twinFor = (seed: number) => new MeshTwin({ nodes: NODES, seed, intervalMs: 250, heartbeatIntervalMs: 250 });

/** The last TQ/loss reports of every directed link (`from>to`), kept to explain a false positive. */
class LinkHistory {
  private readonly owner = new Map<string, string>();
  private readonly series = new Map<string, { atMs: number; tq: number; loss: number; lastSeenMs: number }[]>();
  recording = false;
  constructor(twin: MeshTwin) {
    for (const n of twin.nodes) for (const mac of [n.primaryMac, ...n.macs]) this.owner.set(mac, n.id);
  }
  observe(nodeId: string, type: string, payload: unknown, atMs: number): void {
    if (!this.recording || type !== "mesh.LinkMetricsReported") return;
    for (const l of (payload as { links: readonly LinkSample[] }).links) {
      const key = `${nodeId}>${this.owner.get(l.neigh_address) ?? l.neigh_address}`;
      let s = this.series.get(key);
      if (!s) this.series.set(key, (s = []));
      s.push({ atMs, tq: l.tq, loss: l.loss, lastSeenMs: l.last_seen_msecs });
      if (s.length > 48) s.shift();
    }
  }
  /** The reports of a link incident's two directions as they were when it was detected (the ring moves on). */
  private readonly atDetection = new Map<string, string[]>();
  detected(incidentId: string, link: readonly [string, string] | undefined, atMs: number): void {
    if (!this.recording || !link) return;
    this.atDetection.set(incidentId, [`${link[0]}>${link[1]}`, `${link[1]}>${link[0]}`].map((key) => `${key} tq/loss/last-seen: ${this.describe(key, atMs)}`));
  }
  whenDetected(incidentId: string): readonly string[] {
    return this.atDetection.get(incidentId) ?? ["(no link reports kept for it)"];
  }
  describe(key: string, untilMs: number): string {
    const s = (this.series.get(key) ?? []).filter((x) => x.atMs <= untilMs).slice(-24);
    return s.length === 0 ? "(no reports)" : s.map((x) => `${x.tq}/${(x.loss * 100).toFixed(0)}%${x.lastSeenMs >= 1000 ? `/${x.lastSeenMs}ms` : ""}`).join(" ");
  }
}

/** Failing pair-samples attributed to the fault whose zone (its nodes and their neighbours) the blamed hop touches. */
interface Attribution {
  /** By scheduled kind, then cause. */
  readonly byKind: Map<string, Map<string, number>>;
  samples: number;
  pairSamples: number;
}

const attribute = (result: HealingSimulationResult, schedule: readonly ScheduledFault[], twin: MeshTwin): Attribution => {
  const neighbours = new Map(twin.nodes.map((n) => [n.id, n.neighbours]));
  const zones = schedule.map((f) => {
    const zone = new Set(f.nodes);
    for (const n of f.nodes) for (const m of neighbours.get(n) ?? []) zone.add(m);
    return { fault: f, zone, from: result.startedAt + f.atMs, until: result.startedAt + (f.clearAtMs ?? Infinity) + 10_000 };
  });
  const out: Attribution = { byKind: new Map(), samples: 0, pairSamples: 0 };
  const add = (kind: string, cause: string) => {
    let m = out.byKind.get(kind);
    if (!m) out.byKind.set(kind, (m = new Map()));
    m.set(cause, (m.get(cause) ?? 0) + 1);
  };
  for (const sample of result.availabilityTrace) {
    out.samples++;
    out.pairSamples += sample.pairs;
    const live = zones.filter((z) => sample.atMs >= z.from && sample.atMs < z.until);
    for (const f of sample.failures ?? []) {
      const touched = f.hop ? [...f.hop] : [f.source, f.destination];
      const z = live.find((x) => touched.some((n) => x.zone.has(n))) ?? live.find((x) => x.zone.has(f.source) || x.zone.has(f.destination));
      add(z ? z.fault.kind : "(no fault nearby)", f.cause);
    }
  }
  return out;
};

interface RunResult {
  readonly seed: number;
  readonly outcomes: readonly (FaultOutcome & { readonly kind: ScheduledKind })[];
  readonly falsePositives: number;
  readonly fpPer10k: number;
  readonly unexplainedDuringFaults: readonly LoggedIncident[];
  readonly availabilityHeal: number;
  readonly availabilityNoheal: number;
  readonly heal: HealingSimulationResult;
  readonly attributionHeal: Attribution;
  readonly attributionNoheal: Attribution;
}

/** Top self-time functions of a V8 CPU profile. */
const summariseProfile = (profile: { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] }, top = 25): string[] => {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/work\/main\//, "").replace(/^file:\/\//, "")}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1e6).toFixed(1).padStart(7)} s  ${name}`);
};

const runOnce = async (seed: number, delays: readonly number[], pool: VerifyPool, profile: boolean): Promise<RunResult> => {
  const rng = new Rng(seed, 0x6e617473);
  const delay = () => delays[rng.int(delays.length)]!;
  const scaled = Object.fromEntries(Object.entries(MIX).map(([k, n]) => [k, Math.round(n * SCALE)])) as Record<ScheduledKind, number>;
  const schedule = disjointSchedule(twinFor(seed), { mix: scaled, everyMs: EVERY_MS, faultMs: FAULT_MS });
  const faultsEndMs = Math.max(...schedule.map((f) => f.clearAtMs ?? f.atMs));
  const quietFromMs = faultsEndMs + GRACE_MS;
  const quietUntilMs = quietFromMs + QUIET_MS;
  const common = {
    faults: schedule,
    warmUpMs: WARM_UP_MS,
    transportDelayMs: delay,
    availabilityEveryMs: AVAILABILITY_EVERY_MS,
    availabilityUntilMs: quietFromMs,
    availability: { maxPairs: PAIRS, explain: true },
  };
  say(`seed ${seed}: ${schedule.length} faults over ${(faultsEndMs / 1000).toFixed(0)} s, grace ${GRACE_MS / 1000} s, fault-free ${(QUIET_MS / 60_000).toFixed(1)} min`);

  const healTwin = twinFor(seed);
  const history = new LinkHistory(healTwin);
  let session: Session | undefined;
  if (profile) {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 1000 });
    await session.post("Profiler.start");
  }
  const cpu0 = process.cpuUsage();
  const heal = await simulateHealing({
    ...common,
    twin: healTwin,
    heal: true,
    durationMs: quietUntilMs,
    scenario: "bench-mttr",
    verifyPool: pool,
    onMeshEvent: (nodeId, type, payload, atMs) => history.observe(nodeId, type, payload, atMs),
    onHealEvent: (e) => {
      if (e.type !== "heal.IncidentDetected") return;
      const d = e.data as { incidentId: string; blamed: { link?: [string, string] }; detectedAt: number };
      history.detected(d.incidentId, d.blamed.link, d.detectedAt);
    },
    onProgress: (since) => {
      history.recording = since >= quietFromMs - 15_000;
      if (since % 60_000 === 0) say(`seed ${seed}: healing run at ${since / 1000} s simulated`);
    },
  });
  const cpu = process.cpuUsage(cpu0);
  const t = heal.timing;
  const simS = heal.simulatedMs / 1000;
  say(
    `seed ${seed}: healing run ${(t.wallMs / 1000).toFixed(0)} s wall for ${simS.toFixed(0)} s simulated = ${(t.wallMs / 1000 / simS).toFixed(2)} s per simulated s ` +
      `(twin incl. sealing ${(t.twinMs / 1000 / simS).toFixed(2)}, intake incl. verify wait ${(t.intakeMs / 1000 / simS).toFixed(2)}, monitor+loop ${(t.loopMs / 1000 / simS).toFixed(2)}, availability ${(t.availabilityMs / 1000 / simS).toFixed(2)}); ` +
      `process CPU ${((cpu.user + cpu.system) / 1e6 / simS).toFixed(2)} s per simulated s (all threads)`,
  );
  say(`seed ${seed}: intake accepted ${heal.intake?.accepted ?? 0} events, refused ${JSON.stringify(heal.intake?.refused ?? {})}`);
  if (session) {
    const { profile: p } = (await session.post("Profiler.stop")) as { profile: Parameters<typeof summariseProfile>[0] };
    session.disconnect();
    const file = `mttr-seed${seed}-${process.pid}.cpuprofile`;
    await writeFile(file, JSON.stringify(p));
    say(`cpu profile of the healing run's main thread (${file}), top self time:`);
    for (const line of summariseProfile(p)) say(`  ${line}`);
  }

  const noheal = await simulateHealing({ ...common, twin: twinFor(seed), heal: false, durationMs: quietFromMs });
  say(`seed ${seed}: baseline run ${(noheal.timing.wallMs / 1000).toFixed(0)} s wall`);

  const quietFrom = heal.startedAt + quietFromMs;
  const quietUntil = heal.startedAt + quietUntilMs;
  const inQuiet = (i: LoggedIncident) => i.detectedAt >= quietFrom && i.detectedAt <= quietUntil;
  const all = [...heal.report.unexplained, ...heal.report.faults.flatMap((o) => o.incidents)];
  const quiet = all.filter(inQuiet);
  for (const i of quiet) {
    say(`seed ${seed}: false positive at +${((i.detectedAt - quietFrom) / 1000).toFixed(1)} s of the fault-free period: ${i.kind} ${JSON.stringify(i.blamed)} policy ${i.policy ?? "-"}`);
    if (i.blamed.link) for (const line of history.whenDetected(i.incidentId)) say(`    ${line}`);
  }
  const unexplainedDuringFaults = heal.report.unexplained.filter((i) => i.detectedAt < quietFrom);
  const kindOf = new Map(schedule.map((f) => [f.faultId, f.kind]));
  const alive = healTwin.nodes.filter((n) => healTwin.nodeState(n.id).down === false && n.online).length;
  return {
    seed,
    outcomes: heal.report.faults.map((o) => ({ ...o, kind: kindOf.get(o.fault.faultId)! })),
    falsePositives: quiet.length,
    fpPer10k: (quiet.length * 10_000) / ((alive * QUIET_MS) / 60_000),
    unexplainedDuringFaults,
    availabilityHeal: heal.availability ?? NaN,
    availabilityNoheal: noheal.availability ?? NaN,
    heal,
    attributionHeal: attribute(heal, schedule, healTwin),
    attributionNoheal: attribute(noheal, schedule, healTwin),
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

const pool = new VerifyPool();
const results: RunResult[] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    say(`run ${run + 1}/${RUNS}: ${NODES} nodes, seed ${SEED + run}`);
    results.push(await runOnce(SEED + run, delays, pool, flags["cpu-prof"] && run === 0));
  }
} finally {
  await pool.close();
}
say(`signatures verified with ${pool.backend}`);

/** Per kind (or kinds), the p-th percentile within each run, then the median over runs. */
const perRun = (kinds: readonly string[], pick: (o: FaultOutcome) => number | undefined, p: number) =>
  median(results.map((r) => percentile(r.outcomes.filter((o) => kinds.includes(o.kind)).flatMap((o) => (pick(o) === undefined ? [] : [pick(o)!])), p) ?? NaN));
const ttr = (o: FaultOutcome) => o.timeToRepairMs;
const detect = (o: FaultOutcome) => o.detectionMs;

console.log(["kind", "faults", "detected", "root cause right", "recovered", "escalated", "detect p50 ms", "repair p50 ms", "repair p95 ms", "repair p99 ms"].join("\t"));
for (const kind of [...KINDS, "all"]) {
  const kinds = kind === "all" ? KINDS : [kind];
  const all = results.flatMap((r) => r.outcomes.filter((o) => kinds.includes(o.kind)));
  console.log(
    [
      kind,
      all.length,
      all.filter((o) => o.status !== "undetected").length,
      all.filter((o) => o.rootCauseRight).length,
      all.filter((o) => o.status === "recovered").length,
      all.filter((o) => o.status === "escalated").length,
      fmt(perRun(kinds, detect, 50)),
      fmt(perRun(kinds, ttr, 50)),
      fmt(perRun(kinds, ttr, 95)),
      fmt(perRun(kinds, ttr, 99)),
    ].join("\t"),
  );
}

// What answered each fault: the first incident's policy (or its escalation).
console.log("");
for (const kind of KINDS) {
  const counts = new Map<string, number>();
  for (const o of results.flatMap((r) => r.outcomes.filter((x) => x.kind === kind))) {
    const first = o.incidents[0];
    const what = !first ? "undetected" : first.policy ?? (first.escalationReason ? `escalated: ${first.escalationReason.split(":")[0]}` : "open");
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  console.log(`${kind} answered by: ${[...counts].sort((x, y) => y[1] - x[1]).map(([w, n]) => `${w} ${n}`).join(", ")}`);
}
// Each fault no incident answered, to look into (the same seed replays it).
for (const r of results)
  for (const o of r.outcomes.filter((x) => x.status === "undetected"))
    console.log(`undetected (seed ${r.seed}): ${o.kind} ${JSON.stringify(o.fault.fault)} at +${((o.fault.injectedAt - r.heal.startedAt) / 1000).toFixed(1)} s`);

// Where availability is lost: failing (pair, sample)s by the fault kind whose zone the failing hop touches, and why.
const causes = ["no-route", "node-down", "link-cut", "lossy", "xdp-blocked", "interface-restart"];
console.log("");
console.log(["availability lost to", ...causes.map((c) => `${c} heal/noheal`)].join("\t"));
const sumCause = (which: "attributionHeal" | "attributionNoheal", kind: string, cause: string) => results.reduce((n, r) => n + (r[which].byKind.get(kind)?.get(cause) ?? 0), 0);
for (const kind of [...KINDS, "(no fault nearby)"]) {
  console.log([kind, ...causes.map((c) => `${sumCause("attributionHeal", kind, c)}/${sumCause("attributionNoheal", kind, c)}`)].join("\t"));
}
const pairSamples = results.reduce((n, r) => n + r.attributionHeal.pairSamples, 0);
console.log(`(failing pair-samples out of ${pairSamples} connected pair-samples, summed over runs)`);
console.log("");

/** Failing pair-samples of a run, all causes: the two runs share pairs and samples, so these compare exactly. */
const failing = (a: Attribution) => [...a.byKind.values()].reduce((sum, m) => sum + [...m.values()].reduce((x, y) => x + y, 0), 0);
for (const r of results) {
  const unexplained = r.unexplainedDuringFaults.map((i) => i.kind).sort().join(",");
  console.log(
    `run seed ${r.seed}: mttr_p95_ms=${fmt(percentile(r.outcomes.filter((o) => o.kind === "node-crash" || o.kind === "link-degradation").flatMap((o) => (o.timeToRepairMs === undefined ? [] : [o.timeToRepairMs])), 95))} ` +
      `false_positives=${r.falsePositives} fp_per_10k_node_min=${fmt(r.fpPer10k, 2)} availability_heal=${fmt(r.availabilityHeal, 6)} availability_noheal=${fmt(r.availabilityNoheal, 6)} ` +
      `failing_pair_samples_heal=${failing(r.attributionHeal)} failing_pair_samples_noheal=${failing(r.attributionNoheal)} of ${r.attributionHeal.pairSamples} ` +
      `unexplained_during_faults=${r.unexplainedDuringFaults.length}${unexplained ? ` (${unexplained})` : ""} wall_s_per_sim_s=${fmt(r.heal.timing.wallMs / r.heal.simulatedMs, 2)}`,
  );
}

const mttr = (kinds: readonly string[]) => perRun(kinds, ttr, 95);
console.log(
  `mttr_p95_ms=${fmt(mttr(["node-crash", "link-degradation"]))} fp_per_10k_node_min=${fmt(median(results.map((r) => r.fpPer10k)), 2)} ` +
    `availability_heal=${fmt(median(results.map((r) => r.availabilityHeal)), 6)} availability_noheal=${fmt(median(results.map((r) => r.availabilityNoheal)), 6)} ` +
    `mttr_p95_crash_ms=${fmt(mttr(["node-crash"]))} mttr_p95_link_degradation_ms=${fmt(mttr(["link-degradation"]))} mttr_p99_ms=${fmt(perRun(["node-crash", "link-degradation"], ttr, 99))}`,
);
