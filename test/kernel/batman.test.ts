/**
 * Healing commands changing a real batman-adv mesh: the lab of batman-lab.ts (a diamond of four
 * batman-adv nodes in a User-Mode Linux guest, an `x0 agent` per node, a control plane over
 * NATS). One guest boot (~45 s) runs the whole scenario; each test checks one part of what it
 * observed. Needs the Debian packages user-mode-linux and batctl and a built XDP object;
 * without them it is skipped with the reason, except in CI (CI=true), where it fails.
 */
import { existsSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { defaultObjectFile } from "../../adapters/xdp/filter.ts";
import type { LinkMetricsReported } from "../../domains/mesh/index.ts";
import { runBatmanLab, type LabRun } from "./batman-lab.ts";
import { umlAvailability } from "./uml.ts";
import { mustRunKernelTests, prepareXdp } from "./veth-lab.ts";

const uml = umlAvailability();
if (uml.available) await prepareXdp().catch(() => undefined); // builds the XDP object where clang is
const reason = !uml.available ? uml.reason : !existsSync(defaultObjectFile()) ? `${defaultObjectFile()} is not built (npm run build:ebpf needs clang: npm run setup)` : "";
if (reason) console.warn(`test/kernel/batman.test.ts: skipped: ${reason}`);

if (reason && mustRunKernelTests())
  describe("batman-adv lab in CI", () => {
    it("can boot User-Mode Linux with batman-adv (CI runs npm run setup)", () => {
      throw new Error(`the batman-adv lab must run in CI but cannot: ${reason}`);
    });
  });

type Route = { neigh_address: string; tq?: number; best?: boolean };
type Outcome = { type: string; producer: string; exitCode: number; detail?: string; ms: number };

describe.skipIf(reason !== "")(`batman-adv lab: healing commands change a real mesh (User-Mode Linux)${reason ? ` (skipped: ${reason})` : ""}`, () => {
  let run: LabRun;
  let r: Record<string, unknown>;
  // Each node added its interface towards A first, so A hears B and D by their originator addresses.
  const originator = (id: string) => (r.originators as Record<string, string>)[id]!;

  beforeAll(async () => {
    run = await runBatmanLab();
    r = (run.result ?? {}) as Record<string, unknown>;
    if (!run.result?.ok) {
      const why = run.result?.error ?? (run.boot.timedOut ? "the guest timed out" : `the guest wrote no result (exit ${run.boot.exitCode})`);
      throw new Error(`the lab failed: ${why}\n--- guest\n${run.guestLog.slice(-2000)}\n--- driver\n${run.driverLog.slice(-4000)}\n--- agent a\n${run.agentLogs.a?.slice(-2000)}\n--- console\n${run.boot.console.slice(-2000)}`);
    }
    const at = (name: string) => run.result!.steps.find((x) => x.step === name) as Record<string, unknown> | undefined;
    console.info(
      `batman-adv lab: guest ${(run.boot.elapsedMs / 1000).toFixed(1)} s; agents up at ${at("agents up")?.atMs} ms; ` +
        `hop_penalty -> next hop moved after ${at("next hop after hop_penalty")?.afterMs} ms; ` +
        `quarantine -> A's next hop moved after ${at("next hop after quarantine")?.afterMs} ms, A reaches C again after ${r.pingRecoveredAfterMs} ms; ` +
        `command -> outcome stored: ${["hopPenaltyOutcome", "quarantineOutcome", "releaseOutcome", "gatewayOutcome"].map((k) => (r[k] as { ms?: number } | undefined)?.ms).join(", ")} ms`,
    );
  }, 300_000);

  it("boots, builds the mesh and converges: A reaches C through B and through D", () => {
    const routes = r.routesToCBefore as Route[];
    expect(new Set(routes.map((x) => x.neigh_address))).toEqual(new Set([originator("b"), originator("d")]));
    expect(routes.filter((x) => x.best)).toHaveLength(1);
    expect(run.boot.elapsedMs).toBeLessThan(120_000);
  });

  it("hop_penalty 200 on A's next hop to C (a signed command to that node's agent) moves the next hop to the other path, as batctl oj shows", () => {
    const first = r.nextHopBefore as string;
    const other = first === "b" ? "d" : "b";
    expect(r.hopPenaltyOutcome).toMatchObject({ type: "heal.CommandApplied", producer: first, exitCode: 0, detail: "hop_penalty 30 -> 200 on bat0" });
    expect(r.hopPenaltyOnTarget).toBe(200);
    expect(r.nextHopAfterHopPenalty).toBe(other);
    const after = r.routesToCAfterHopPenalty as Route[];
    const via = (id: string) => after.find((x) => x.neigh_address === originator(id))!;
    expect(via(other).best).toBe(true);
    expect(via(first).tq!).toBeLessThan(via(other).tq!);
  });

  it("an XDP quarantine of the next hop's MAC on A makes A route around it (onto the penalised path); traffic to C still flows", () => {
    const first = r.nextHopBefore as string;
    const other = first === "b" ? "d" : "b";
    expect(r.nextHopBeforeQuarantine).toBe(other);
    expect(r.quarantineOutcome).toMatchObject({ type: "heal.CommandApplied", producer: "a", exitCode: 0 });
    expect((r.quarantineOutcome as Outcome).detail).toMatch(new RegExp(`^quarantined mac ${originator(other)} on a[bd]; quarantined mac ${originator(other)} on a[bd]$`));
    expect(r.nextHopAfterQuarantine).toBe(first);
    const after = r.routesToCAfterQuarantine as Route[];
    const tq = (id: string) => after.find((x) => x.neigh_address === originator(id))?.tq ?? 0;
    expect(tq(other)).toBeLessThan(tq(first));
    // The way back from C moves once D's estimate of its (now one-way) link to A has decayed.
    expect(r.returnPathAfterRecovery).toBe(first);
    expect(r.pingRecoveredAfterMs).toBeLessThan(45_000);
    expect(r.pingAtoCWhileQuarantined).toBe("3");
    // batman-adv still lists the silenced neighbour (until its purge timeout), but stale.
    expect((r.silentNeighbourWhileQuarantined as { last_seen_msecs: number }).last_seen_msecs).toBeGreaterThan(1_000);
    const xdp = r.xdpCountersWhileQuarantined as Array<{ iface: string; dropped_block_packets: number; rules: number }>;
    expect(xdp.map((x) => x.rules)).toEqual([1, 1]);
    expect(xdp.reduce((n, x) => n + x.dropped_block_packets, 0)).toBeGreaterThan(0);
  });

  it("Release lets A hear the neighbour again; hop_penalty goes back to 30", () => {
    expect(r.releaseOutcome).toMatchObject({ exitCode: 0, detail: expect.stringMatching(/quarantine removed/) });
    expect(r.restoreOutcome).toMatchObject({ exitCode: 0, detail: "hop_penalty 200 -> 30 on bat0" });
    expect((r.neighbourAfterRelease as { last_seen_msecs: number } | undefined)?.last_seen_msecs).toBeLessThan(1_000);
  });

  it("the collectors publish batctl's tables as events: A's link report matches batctl nj and oj", () => {
    const report = r.linkReportOfA as LinkMetricsReported;
    const neighbours = r.batctlNeighboursOfA as Array<{ neigh_address: string; hard_ifname: string }>;
    expect(report.links.map((l) => `${l.neigh_address}@${l.hard_ifname}`).sort()).toEqual(neighbours.map((n) => `${n.neigh_address}@${n.hard_ifname}`).sort());
    const originators = r.batctlOriginatorsOfA as Array<{ orig_address: string; neigh_address: string; tq: number }>;
    for (const link of report.links) {
      // The direct link's TQ: the row where the neighbour is its own originator (read a moment later, so close).
      const own = originators.find((o) => o.orig_address === link.neigh_address && o.neigh_address === link.neigh_address)!;
      expect(link.tq).toBeGreaterThan(100);
      expect(Math.abs(link.tq - own.tq)).toBeLessThan(60);
      expect(link.loss).toBeCloseTo(1 - link.tq / 255, 3);
      expect(link.latency_ms).toBe(0);
    }
    const stale = (r.linkReportOfAWhileQuarantined as LinkMetricsReported).links.find((l) => l.neigh_address === originator(r.nextHopBefore === "b" ? "d" : "b"));
    expect(stale?.last_seen_msecs).toBeGreaterThan(1_000);
    expect(r.announcementOfA).toMatchObject({ primaryMac: originator("a") });
    expect(r.batmanStateOfA).toMatchObject({ algo_name: "BATMAN_IV", orig_interval: 200, hard_interfaces: [{ hard_ifname: "ab", active: true }, { hard_ifname: "ad", active: true }] });
  });

  it("hop_penalty on one hard interface (the next hop's port towards A) moves A's next hop too", () => {
    const h = r.hardIfHopPenalty as { on: string; port: string; nextHopBefore: string; nextHopAfter: string; setting: number };
    expect(r.hardIfHopPenaltyOutcome).toMatchObject({ producer: h.on, exitCode: 0, detail: `hop_penalty 0 -> 200 on ${h.port}` });
    expect(h.setting).toBe(200);
    expect(h.nextHopAfter).not.toBe(h.nextHopBefore);
    expect(r.hardIfRestoreOutcome).toMatchObject({ exitCode: 0, detail: `hop_penalty 200 -> 0 on ${h.port}` });
  });

  it("gw_mode server with bandwidths takes effect (read back with batctl mj)", () => {
    expect(r.gatewayOutcome).toMatchObject({ producer: "c", exitCode: 0, detail: "gw_mode server 10000kbit/2000kbit on bat0" });
    expect(r.gatewaySettingsOfC).toMatchObject({ gw_mode: "server", gw_bandwidth_down: 100, gw_bandwidth_up: 20 });
  });

  it("every agent stopped cleanly", () => {
    const stopped = (run.result!.steps.find((s) => s.step === "agents stopped") as unknown as { exits: Record<string, unknown> }).exits;
    expect(stopped).toEqual({ a: 0, b: 0, c: 0, d: 0 });
  });
});
