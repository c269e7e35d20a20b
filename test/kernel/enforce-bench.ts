/**
 * `npm run bench:enforce` (root): how long a healing command takes from the control plane to
 * the kernel, through the whole path: a signed Quarantine(mac of the peer) appended to HEAL ->
 * the node's `x0 agent` (its own process; durable consumer, signature check, role lookup,
 * journal) -> bpftool -> the XDP filter drops the peer's next frame.
 *
 * Two network namespaces joined by a veth pair; the agent filters one end; the peer floods UDP
 * at 5,000 pps. Per cycle:
 * - enforce: command appended (t0, before the publish) -> the rule's first dropped frame
 *   (bpf_ktime_get_ns, CLOCK_MONOTONIC, the clock of process.hrtime);
 * - release: Release appended -> the first datagram received again;
 * - outcome: command appended -> the node's CommandApplied delivered back to the control plane.
 * Each figure includes up to ~0.2 ms of waiting for the flood's next frame.
 *
 * Baseline, in the same process: the XDP adapter called directly (no NATS, no agent), the same
 * measure of enforcement.
 *
 * The rule's first hit is read after the node's answer arrives (the kernel keeps its time), so
 * the benchmark does not poll bpftool while the agent works.
 *
 * Options: --runs 3 --cycles 200 --baseline-cycles 50. A fresh agent process per run. The last
 * line is `enforce_p95_ms=<median over runs of the p95>`.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { enrolProducer, issueCommand } from "../../adapters/agent/testing.ts";
import { startNatsServer } from "../../adapters/nats-server/index.ts";
import { attachXdpFilter, type XdpFilter } from "../../adapters/xdp/index.ts";
import { healOutcomeSubject, type HealingAction } from "../../domains/healing/index.ts";
import { connectNats } from "../../streams/connection.ts";
import { decodeCbor } from "../../streams/envelope.ts";
import { EventStore } from "../../streams/event-store.ts";
import { ensureStreams } from "../../streams/topology.ts";
import { startAgentProcess } from "./agent-process.ts";
import { createVethLab, prepareXdp, removeStaleLabs, type FloodProcess, type VethLab } from "./veth-lab.ts";

const { values: options } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    cycles: { type: "string", default: "200" },
    "baseline-cycles": { type: "string", default: "50" },
  },
});
const runs = Number(options.runs);
const cycles = Number(options.cycles);
const baselineCycles = Number(options["baseline-cycles"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();
const ms = (ns: bigint) => Number(ns) / 1e6;
const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
};
const median = (values: readonly number[]) => quantile(values, 0.5);
const fixed = (n: number) => n.toFixed(2);
const loadavg = async () => (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");

const availability = await prepareXdp();
if (!availability.available) {
  console.error(`bench:enforce: cannot run: ${availability.reason}`);
  process.exit(1);
}

/** The first drop of the quarantine rule, polled until it shows. */
const firstHit = async (filter: XdpFilter): Promise<bigint> => {
  for (let tries = 0; tries < 500; tries++) {
    const rule = (await filter.counters()).rules.find((r) => r.action === "quarantine");
    if (rule?.action === "quarantine" && rule.firstHitNs !== undefined) return rule.firstHitNs;
    await sleep(2);
  }
  throw new Error("the quarantine never dropped a frame");
};

interface Series {
  enforce: number[];
  release: number[];
  outcome: number[];
}

const summarize = (label: string, values: readonly number[]) => `${label} p50 ${fixed(median(values))} / p95 ${fixed(quantile(values, 0.95))} ms`;

await removeStaleLabs();
const lab: VethLab = await createVethLab();
const dir = await mkdtemp(join(tmpdir(), "x0-bench-enforce-"));
const server = await startNatsServer({ dataDir: join(dir, "nats") });
const nc = await connectNats({ servers: server.url, name: "bench-control-plane" });
let receiver: FloodProcess | undefined;
let sender: FloodProcess | undefined;
try {
  await ensureStreams(await jetstreamManager(nc), { storageBytes: 512 * 1024 ** 2 });
  const controlPlane = await enrolProducer(nc, "control-plane", "control-plane");
  const store = new EventStore(nc);
  const source = { kind: "mac", mac: lab.peer.mac } as const;

  receiver = lab.flood(lab.xdp, ["receive", "9000", "2"]);
  await receiver.next((l) => l.event === "ready");
  sender = lab.flood(lab.peer, ["send", lab.xdp.ipv4, "9000", "5000", "0"]);
  await sender.next((l) => l.event === "ready");
  await receiver.next((l) => l.event === "resume", 10_000);

  console.log(`bench:enforce: veth ${lab.xdp.iface}, 5,000 pps UDP from the peer; ${runs} runs x ${cycles} quarantine/release cycles through NATS and x0 agent; load ${await loadavg()}`);

  // Baseline: the adapter called directly from this process.
  const direct = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns });
  const baseline: number[] = [];
  for (let i = 0; i < baselineCycles; i++) {
    const t0 = now();
    const applied = await direct.quarantine(source);
    if (applied.exitCode !== 0) throw new Error(`quarantine failed: ${applied.stderr}`);
    baseline.push(ms((await firstHit(direct)) - t0));
    await direct.release(source);
    await receiver.next((l) => l.event === "resume" && BigInt(l.ns as string) > t0, 10_000);
    await sleep(5);
  }
  console.log(`baseline (adapter called directly, ${baselineCycles} cycles): ${summarize("enforce", baseline)}`);

  const results: Series[] = [];
  for (let run = 1; run <= runs; run++) {
    const nodeId = `bench-${run}`;
    const agent = startAgentProcess(server.url, ["--node-id", nodeId, "--xdp-if", lab.xdp.iface, "--netns", lab.xdp.netns, "--data-dir", join(dir, "agent")], { X0_LOG_LEVEL: "warn" });
    await agent.ready;
    const filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns });
    // The node's answers, as the control plane hears them (a plain subscription sees JetStream's messages too).
    const outcomes = new Map<string, bigint>();
    const waiters = new Map<string, () => void>();
    const sub = nc.subscribe(healOutcomeSubject(nodeId), {
      callback: (_, msg) => {
        const at = now();
        const id = (decodeCbor(msg.data) as { commandId: string }).commandId;
        outcomes.set(id, at);
        waiters.get(id)?.();
      },
    });
    const outcomeOf = (id: string) =>
      outcomes.has(id)
        ? Promise.resolve(outcomes.get(id)!)
        : new Promise<bigint>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no outcome of ${id} in 10 s:\n${agent.output().slice(-2000)}`)), 10_000);
            waiters.set(id, () => {
              clearTimeout(timer);
              resolve(outcomes.get(id)!);
            });
          });
    const series: Series = { enforce: [], release: [], outcome: [] };
    const send = (action: HealingAction, id: string) => issueCommand(store, controlPlane, nodeId, action, id);
    for (let i = 0; i < cycles; i++) {
      const t0 = now();
      await send({ kind: "quarantine", source }, `q-${run}-${i}`);
      // Read the rule once the node answered: polling bpftool meanwhile would compete with the agent for the CPU.
      series.outcome.push(ms((await outcomeOf(`q-${run}-${i}`)) - t0));
      series.enforce.push(ms((await firstHit(filter)) - t0));

      const t1 = now();
      await send({ kind: "release", source }, `r-${run}-${i}`);
      const resume = await receiver.next<{ ns: string }>((l) => l.event === "resume" && BigInt(l.ns as string) > t1, 10_000);
      series.release.push(ms(BigInt(resume.ns) - t1));
      await outcomeOf(`r-${run}-${i}`);
      await sleep(5);
    }
    await sub.drain();
    const code = await agent.stop();
    if (code !== 0) throw new Error(`x0 agent exited ${code}:\n${agent.output().slice(-2000)}`);
    results.push(series);
    console.log(`run ${run} (load ${await loadavg()}): ${summarize("enforce", series.enforce)}; ${summarize("release", series.release)}; ${summarize("outcome back", series.outcome)}`);
  }

  const p95 = (key: keyof Series) => median(results.map((s) => quantile(s[key], 0.95)));
  const p50 = (key: keyof Series) => median(results.map((s) => median(s[key])));
  console.log(
    `medians over ${runs} runs: enforce p50 ${fixed(p50("enforce"))} / p95 ${fixed(p95("enforce"))} ms; release p50 ${fixed(p50("release"))} / p95 ${fixed(p95("release"))} ms; ` +
      `outcome back p50 ${fixed(p50("outcome"))} / p95 ${fixed(p95("outcome"))} ms; through NATS and the agent / adapter called directly (p95): ${fixed(p95("enforce") / quantile(baseline, 0.95))}x`,
  );
  console.log(`release_p95_ms=${fixed(p95("release"))}`);
  console.log(`enforce_p95_ms=${fixed(p95("enforce"))}`);
} finally {
  await sender?.stop();
  await receiver?.stop();
  await nc.close().catch(() => undefined);
  await server.stop();
  await lab.destroy();
  await rm(dir, { recursive: true, force: true });
}
