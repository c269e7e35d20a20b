/**
 * `npm run bench:xdp` (root): what the XDP adapter costs, measured in the real kernel on a veth
 * pair between two network namespaces.
 *
 * - enforce: a 5,000 pps UDP flood runs from the peer; `quarantine(mac of the peer)` is called
 *   and the rule's first hit (bpf_ktime_get_ns: CLOCK_MONOTONIC, the clock of
 *   process.hrtime) gives command -> first frame dropped; then `release`, and the receiver's
 *   first datagram after the gap gives command -> first frame passed. The flood is paced in
 *   ~1 ms steps, so each figure includes up to ~1 ms of waiting for the next frame.
 * - overhead: one UDP flood from a Node process, as fast as it sends, counted where it reaches
 *   the UDP layer of the filtering namespace (/proc/<pid>/net/snmp), in short windows that
 *   rotate between no program, the filter (empty maps), a program that only passes
 *   (`ebpf/xdp_pass.c`, the price of running any XDP program on this interface) and the filter
 *   in the other attach mode (native <-> generic). The machine is shared, so windows are short
 *   and interleaved and each ratio is a median over rounds.
 * - program cost: the filter's own run time per packet (kernel.bpf_stats_enabled, in a separate
 *   flood because the stats themselves cost two clock reads per packet), and once per bench
 *   BPF_PROG_TEST_RUN (`bpftool prog run`) of the filter and the pass-only program on a 74-byte
 *   UDP frame.
 * - baseline for the command latency: starting `/bin/true` and `bpftool version` from Node.
 *
 * Options: --runs 3 --cycles 200 --rounds 12 --window-ms 250 --mode auto|native|generic.
 * The last line is `enforce_p95_ms=<n> xdp_overhead_ratio=<n>`, medians over the runs.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { attachXdpFilter, DEFAULT_PIN_ROOT, type XdpFilter, type XdpMode } from "../../adapters/xdp/index.ts";
import { binaries, runCommand } from "../../adapters/xdp/commands.ts";
import { createVethLab, prepareXdp, removeStaleLabs, type VethLab } from "./veth-lab.ts";

const { values: options } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    cycles: { type: "string", default: "200" },
    rounds: { type: "string", default: "12" },
    "window-ms": { type: "string", default: "250" },
    mode: { type: "string", default: "auto" },
  },
});
const runs = Number(options.runs);
const cycles = Number(options.cycles);
const rounds = Number(options.rounds);
const windowMs = Number(options["window-ms"]);
const mode = options.mode as "auto" | XdpMode;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();
const ms = (ns: bigint) => Number(ns) / 1e6;
const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
};
const median = (values: readonly number[]) => quantile(values, 0.5);
const round = (n: number, digits = 2) => Number(n.toFixed(digits));
const loadavg = async () => (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");

const availability = await prepareXdp();
if (!availability.available) {
  console.error(`bench:xdp: cannot run: ${availability.reason}`);
  process.exit(1);
}
const PASS_OBJECT = fileURLToPath(new URL("../../ebpf/build/xdp_pass.o", import.meta.url));
if (!existsSync(PASS_OBJECT)) {
  console.error(`bench:xdp: ${PASS_OBJECT} is missing; run npm run build:ebpf`);
  process.exit(1);
}

/** Datagrams that reached the UDP layer of the namespace `pid` lives in (delivered, no listener, or errors). */
const udpArrivals = async (pid: number): Promise<number> => {
  const [header, values] = (await readFile(`/proc/${pid}/net/snmp`, "utf8")).split("\n").filter((l) => l.startsWith("Udp:"));
  const names = (header ?? "").split(/\s+/u);
  const numbers = (values ?? "").split(/\s+/u).map(Number);
  const field = (name: string) => numbers[names.indexOf(name)] ?? 0;
  return field("InDatagrams") + field("NoPorts") + field("InErrors");
};

/** Datagrams per second reaching the UDP layer of `pid`'s namespace during one window. */
const arrivalRate = async (pid: number): Promise<number> => {
  const c0 = await udpArrivals(pid);
  const t0 = now();
  await sleep(windowMs);
  const c1 = await udpArrivals(pid);
  return (c1 - c0) / (Number(now() - t0) / 1e9);
};

interface RunResult {
  mode: XdpMode;
  quarantineApplyMs: number[];
  releaseApplyMs: number[];
  enforceMs: number[];
  releaseMs: number[];
  filterRatios: number[];
  passRatios: number[];
  /** The filter attached in the other mode, against no program. */
  otherRatios: number[];
  ppsNone: number[];
  ppsFilter: number[];
  ppsPass: number[];
  nsPerPacket: number;
}

const measureEnforcement = async (lab: VethLab, filter: XdpFilter, result: RunResult): Promise<void> => {
  const receiver = lab.flood(lab.xdp, ["receive", "9000", "2"]);
  await receiver.next((l) => l.event === "ready");
  const sender = lab.flood(lab.peer, ["send", lab.xdp.ipv4, "9000", "5000", "0"]);
  await sender.next((l) => l.event === "ready");
  await receiver.next((l) => l.event === "resume", 10_000);
  const source = { kind: "mac", mac: lab.peer.mac } as const;
  for (let i = 0; i < cycles; i++) {
    const t0 = now();
    const applied = await filter.quarantine(source);
    result.quarantineApplyMs.push(ms(now() - t0));
    if (applied.exitCode !== 0) throw new Error(`quarantine failed: ${applied.stderr}`);
    let firstHitNs: bigint | undefined;
    for (let tries = 0; firstHitNs === undefined && tries < 200; tries++) {
      await sleep(3);
      const rule = (await filter.counters()).rules.find((r) => r.action === "quarantine");
      firstHitNs = rule?.action === "quarantine" ? rule.firstHitNs : undefined;
    }
    if (firstHitNs === undefined) throw new Error("the quarantine never dropped a frame");
    result.enforceMs.push(ms(firstHitNs - t0));

    const t2 = now();
    const released = await filter.release(source);
    result.releaseApplyMs.push(ms(now() - t2));
    if (released.exitCode !== 0) throw new Error(`release failed: ${released.stderr}`);
    const resume = await receiver.next<{ ns: string }>((l) => l.event === "resume" && BigInt(l.ns as string) > t2, 10_000);
    result.releaseMs.push(ms(BigInt(resume.ns) - t2));
    await sleep(5);
  }
  await sender.stop();
  await receiver.stop();
};

const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";

/** Nanoseconds the filter itself runs per packet, over a one-second flood. */
const programCost = async (lab: VethLab, filter: XdpFilter): Promise<number> => {
  const show = async () => {
    const r = await runCommand(binaries.bpftool(), ["-j", "prog", "show", "pinned", `${filter.pinDir}/prog`]);
    const p = JSON.parse(r.stdout) as { run_time_ns?: number; run_cnt?: number };
    return { time: p.run_time_ns ?? 0, count: p.run_cnt ?? 0 };
  };
  const previous = (await readFile(BPF_STATS, "utf8")).trim();
  await writeFile(BPF_STATS, "1");
  try {
    const before = await show();
    const sender = lab.flood(lab.peer, ["send", lab.xdp.ipv4, "9001", "max", "1"]);
    await sender.next((l) => l.event === "sent", 30_000);
    await sender.stop();
    const after = await show();
    return after.count > before.count ? (after.time - before.time) / (after.count - before.count) : NaN;
  } finally {
    await writeFile(BPF_STATS, previous);
  }
};

/** No program; the filter; the pass-only program; the filter in the other mode (native <-> generic). */
type Arm = "none" | "filter" | "pass" | "other";

const measureOverhead = async (lab: VethLab, result: RunResult): Promise<void> => {
  const ip = (args: string[]) => runCommand(binaries.ip(), args, { netns: lab.xdp.netns });
  const ipMode = result.mode === "native" ? "xdpdrv" : "xdpgeneric";
  const otherMode: XdpMode = result.mode === "native" ? "generic" : "native";
  let filter: XdpFilter | undefined;
  const select = async (arm: Arm) => {
    await filter?.detach();
    filter = undefined;
    await ip(["link", "set", "dev", lab.xdp.iface, ipMode, "off"]);
    if (arm === "filter") filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns, mode: result.mode });
    if (arm === "other") filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns, mode: otherMode });
    if (arm === "pass") {
      const r = await ip(["link", "set", "dev", lab.xdp.iface, ipMode, "obj", PASS_OBJECT, "sec", "xdp"]);
      if (r.exitCode !== 0) throw new Error(`cannot attach xdp_pass: ${r.stderr}`);
    }
  };
  // One flood for every window (port 9001 has no listener), so only the program changes between them.
  const counter = lab.flood(lab.xdp, ["receive", "9000"]);
  await counter.next((l) => l.event === "ready");
  const sender = lab.flood(lab.peer, ["send", lab.xdp.ipv4, "9001", "max", "0"]);
  await sender.next((l) => l.event === "ready");
  await sleep(300);
  const arms: Arm[] = ["none", "filter", "pass", "other"];
  const orders = arms.map((_, i) => [...arms.slice(i), ...arms.slice(0, i)]);
  try {
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so a drift in the machine's load does not favour one arm.
      const rates = {} as Record<Arm, number>;
      for (const arm of orders[r % orders.length] as Arm[]) {
        await select(arm);
        await sleep(50);
        rates[arm] = await arrivalRate(counter.child.pid as number);
        if (sender.child.exitCode !== null || rates[arm] === 0) throw new Error(`the flood stopped (exit ${sender.child.exitCode}) in the ${arm} window`);
      }
      result.ppsNone.push(rates.none);
      result.ppsFilter.push(rates.filter);
      result.ppsPass.push(rates.pass);
      result.filterRatios.push(rates.filter / rates.none);
      result.passRatios.push(rates.pass / rates.none);
      result.otherRatios.push(rates.other / rates.none);
      if (process.env.X0_BENCH_DEBUG) console.log(JSON.stringify(Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, Math.round(v)]))));
    }
  } finally {
    await select("none");
    await sender.stop();
    await counter.stop();
  }
};

/** Node's cost of starting a process, the floor under every bpftool command. */
const spawnBaseline = async (): Promise<Record<string, number>> => {
  const out: Record<string, number> = {};
  for (const [name, file, args] of [["true", "/bin/true", []], ["bpftool_version", binaries.bpftool(), ["version"]]] as const) {
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = now();
      await runCommand(file, args);
      times.push(ms(now() - t));
    }
    out[`spawn_${name}_p50_ms`] = round(median(times));
    out[`spawn_${name}_p95_ms`] = round(quantile(times, 0.95));
  }
  return out;
};

/** BPF_PROG_TEST_RUN of the filter (no rules) and of the pass-only program on one UDP frame: ns per run. */
const testRunCost = async (): Promise<Record<string, number>> => {
  const dir = await mkdtemp(join(tmpdir(), "x0-xdp-bench-"));
  const pins = join(DEFAULT_PIN_ROOT, `bench-${process.pid}`);
  try {
    const hex = "ffffffffffff" + "020000000002" + "0800" + "4500003c00004000401100000a4d00020a4d0001" + "2328232900280000" + "00".repeat(32);
    await writeFile(join(dir, "frame"), Buffer.from(hex, "hex"));
    await mkdir(pins, { recursive: true });
    const out: Record<string, number> = {};
    for (const [name, object] of [["filter", fileURLToPath(new URL("../../ebpf/build/xdp_filter.o", import.meta.url))], ["pass", PASS_OBJECT]] as const) {
      await mkdir(join(pins, name));
      const load = await runCommand(binaries.bpftool(), ["prog", "load", object, join(pins, name, "prog"), "type", "xdp", "pinmaps", join(pins, name)]);
      if (load.exitCode !== 0) throw new Error(load.stderr);
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await runCommand(binaries.bpftool(), ["prog", "run", "pinned", join(pins, name, "prog"), "data_in", join(dir, "frame"), "repeat", "1000000"]);
        const match = /duration \(average\): (\d+)ns/u.exec(r.stdout + r.stderr);
        if (match?.[1]) runs.push(Number(match[1]));
      }
      out[`test_run_${name}_ns`] = median(runs);
    }
    return out;
  } finally {
    await rm(pins, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
};

const benchRun = async (lab: VethLab, run: number): Promise<RunResult> => {
  const filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns, mode });
  const result: RunResult = {
    mode: filter.mode,
    quarantineApplyMs: [],
    releaseApplyMs: [],
    enforceMs: [],
    releaseMs: [],
    filterRatios: [],
    passRatios: [],
    otherRatios: [],
    ppsNone: [],
    ppsFilter: [],
    ppsPass: [],
    nsPerPacket: NaN,
  };
  await measureEnforcement(lab, filter, result);
  result.nsPerPacket = await programCost(lab, filter);
  await filter.detach();
  await measureOverhead(lab, result);
  console.log(
    JSON.stringify({
      run,
      mode: result.mode,
      quarantine_apply_p50_ms: round(median(result.quarantineApplyMs)),
      quarantine_apply_p95_ms: round(quantile(result.quarantineApplyMs, 0.95)),
      enforce_p50_ms: round(median(result.enforceMs)),
      enforce_p95_ms: round(quantile(result.enforceMs, 0.95)),
      release_apply_p50_ms: round(median(result.releaseApplyMs)),
      release_p50_ms: round(median(result.releaseMs)),
      release_p95_ms: round(quantile(result.releaseMs, 0.95)),
      pps_none: Math.round(median(result.ppsNone)),
      pps_filter: Math.round(median(result.ppsFilter)),
      pps_pass: Math.round(median(result.ppsPass)),
      filter_ratio: round(median(result.filterRatios), 3),
      pass_ratio: round(median(result.passRatios), 3),
      [`${result.mode === "native" ? "generic" : "native"}_filter_ratio`]: round(median(result.otherRatios), 3),
      prog_ns_per_packet: round(result.nsPerPacket, 1),
      load: await loadavg(),
    }),
  );
  return result;
};

console.log(`bench:xdp: ${runs} runs x (${cycles} quarantine/release cycles, ${rounds} rounds of ${windowMs} ms flood windows), mode ${mode}, load average ${await loadavg()}`);
await removeStaleLabs();
const baselines = { ...(await spawnBaseline()), ...(await testRunCost()) };
console.log(JSON.stringify({ baselines }));
const lab = await createVethLab();
const results: RunResult[] = [];
try {
  for (let run = 1; run <= runs; run++) results.push(await benchRun(lab, run));
} finally {
  await lab.destroy();
}
const across = (f: (r: RunResult) => number, digits = 3) => round(median(results.map(f)), digits);
console.log(
  [
    `mode=${results[0]?.mode}`,
    `quarantine_apply_p50_ms=${across((r) => median(r.quarantineApplyMs))}`,
    `quarantine_apply_p95_ms=${across((r) => quantile(r.quarantineApplyMs, 0.95))}`,
    `enforce_p50_ms=${across((r) => median(r.enforceMs))}`,
    `release_p50_ms=${across((r) => median(r.releaseMs))}`,
    `release_p95_ms=${across((r) => quantile(r.releaseMs, 0.95))}`,
    `pps_none=${across((r) => median(r.ppsNone), 0)}`,
    `pps_filter=${across((r) => median(r.ppsFilter), 0)}`,
    `xdp_pass_ratio=${across((r) => median(r.passRatios))}`,
    `${results[0]?.mode === "native" ? "generic" : "native"}_filter_ratio=${across((r) => median(r.otherRatios))}`,
    `prog_ns_per_packet=${across((r) => r.nsPerPacket, 1)}`,
    ...Object.entries(baselines).map(([k, v]) => `${k}=${v}`),
    `load=${(await loadavg()).replaceAll(" ", "/")}`,
  ].join(" "),
);
console.log(`enforce_p95_ms=${across((r) => quantile(r.enforceMs, 0.95))} xdp_overhead_ratio=${across((r) => median(r.filterRatios))}`);
