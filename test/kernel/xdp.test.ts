/**
 * The XDP filter in the real kernel: two network namespaces joined by a veth pair, the filter
 * on one end, traffic from the other. Needs root, bpftool, a bpf filesystem and clang (or a
 * built object); without them it is skipped with the reason, except in CI (CI=true), where it
 * fails: there XDP must work.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { attachXdpFilter, EX_DATAERR, EX_USAGE, type XdpCounters, type XdpFilter, type XdpRule } from "../../adapters/xdp/index.ts";
import { binaries, runCommand } from "../../adapters/xdp/commands.ts";
import { existsSync } from "node:fs";
import { createVethLab, mustRunKernelTests, prepareXdp, removeStaleLabs, type VethLab } from "./veth-lab.ts";

const availability = await prepareXdp();
const reason = availability.available ? "" : availability.reason;
if (reason) console.warn(`test/kernel/xdp.test.ts: skipped: ${reason}`);

const ruleOf = (counters: XdpCounters, action: XdpRule["action"]): XdpRule | undefined => counters.rules.find((r) => r.action === action);

const xdpOnLink = async (lab: VethLab): Promise<unknown> => {
  const r = await runCommand(binaries.ip(), ["-j", "-d", "link", "show", "dev", lab.xdp.iface], { netns: lab.xdp.netns });
  return (JSON.parse(r.stdout) as Array<{ xdp?: unknown }>)[0]?.xdp;
};

if (!availability.available && mustRunKernelTests())
  describe("XDP in CI", () => {
    it("is available (CI runs as root after npm run setup)", () => {
      throw new Error(`the kernel XDP tests must run in CI but cannot: ${reason}`);
    });
  });

describe.skipIf(!availability.available)(`XDP filter on a veth pair${reason ? ` (skipped: ${reason})` : ""}`, () => {
  let lab: VethLab;
  let filter: XdpFilter;

  beforeAll(async () => {
    await removeStaleLabs();
    lab = await createVethLab();
    filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns });
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  // A test that fails half-way leaves its rules behind: the next one starts from none, so one
  // failure is not reported as five.
  afterEach(async () => {
    const left = await filter.counters().catch(() => undefined);
    for (const rule of left?.rules ?? []) await filter.apply({ kind: "release", source: rule.source });
  });

  it("attaches (generic mode first on veth), pins its maps, and passes traffic it has no rule for", async () => {
    expect(filter.mode).toBe("generic");
    expect(await xdpOnLink(lab)).toMatchObject({ mode: 2, prog: { name: "xdp_filter" } });
    expect(existsSync(`${filter.pinDir}/block_mac`)).toBe(true);
    expect(await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).toMatchObject({ sent: 2, received: 2 });
    const counters = await filter.counters();
    expect(counters.passed.packets).toBeGreaterThanOrEqual(2);
    expect(counters.droppedBlock.packets + counters.droppedRate.packets).toBe(0);
  });

  it("Quarantine(mac of the peer) drops its frames; Release lets them through again", async () => {
    const source = { kind: "mac", mac: lab.peer.mac } as const;
    const quarantined = await filter.apply({ kind: "quarantine", source });
    expect(quarantined).toEqual({ exitCode: 0, detail: `quarantined mac ${lab.peer.mac} on ${lab.xdp.iface}`, stderr: "" });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 3, 0.1)).received).toBe(0);

    const counters = await filter.counters();
    const rule = ruleOf(counters, "quarantine");
    expect(rule).toMatchObject({ source, hits: expect.any(Number) });
    expect(rule?.action === "quarantine" && rule.hits).toBeGreaterThanOrEqual(3);
    expect(counters.droppedBlock.packets).toBeGreaterThanOrEqual(3);
    // A repeated command is a no-op that keeps the rule's counters (a late ARP or neighbour
    // solicitation from the peer may still add to them, never take away).
    expect((await filter.apply({ kind: "quarantine", source })).detail).toMatch(/already quarantined/);
    const kept = ruleOf(await filter.counters(), "quarantine");
    expect(kept?.action === "quarantine" && kept.hits).toBeGreaterThanOrEqual(rule?.action === "quarantine" ? rule.hits : Infinity);

    const released = await filter.apply({ kind: "release", source });
    expect(released).toMatchObject({ exitCode: 0, detail: expect.stringMatching(/quarantine removed/) });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 3, 0.1)).received).toBe(3);
    expect((await filter.counters()).rules).toEqual([]);
    expect((await filter.apply({ kind: "release", source })).detail).toMatch(/no rule was in place/);
  });

  it("RateLimit(100 pps) passes 100 pps ±20 % of a 1000 pps UDP flood, and counts what it drops", async () => {
    const source = { kind: "ipv4", address: lab.peer.ipv4 } as const;
    const before = await filter.counters();
    expect(await filter.apply({ kind: "rate-limit", source, pps: 100, burst: 5 })).toMatchObject({ exitCode: 0 });

    const receiver = lab.flood(lab.xdp, ["receive", "9000"]);
    await receiver.next((l) => l.event === "ready");
    const sender = lab.flood(lab.peer, ["send", lab.xdp.ipv4, "9000", "1000", "3"]);
    const { sent, elapsedMs } = await sender.next<{ sent: number; elapsedMs: number }>((l) => l.event === "sent", 20_000);
    await new Promise((r) => setTimeout(r, 100));
    receiver.send("count");
    const { count } = await receiver.next<{ count: number }>((l) => l.event === "count");
    await receiver.stop();

    const passRate = count / (elapsedMs / 1000);
    expect(sent / (elapsedMs / 1000), "the flood offers well over the limit").toBeGreaterThan(500);
    expect(passRate).toBeGreaterThanOrEqual(80);
    expect(passRate).toBeLessThanOrEqual(120);

    const after = await filter.counters();
    const rule = ruleOf(after, "rate-limit");
    if (rule?.action !== "rate-limit") throw new Error("no rate-limit rule");
    expect(rule).toMatchObject({ source, pps: 100, burst: 5 });
    expect(rule.passed).toBeGreaterThanOrEqual(count);
    expect(rule.passed).toBeLessThanOrEqual(count + 5);
    expect(rule.passed + rule.dropped).toBeGreaterThanOrEqual(sent * 0.99);
    expect(after.droppedRate.packets - before.droppedRate.packets).toBe(rule.dropped);

    expect((await filter.apply({ kind: "release", source })).detail).toMatch(/rate limit removed/);
    expect((await filter.counters()).rules).toEqual([]);
  });

  it("an IPv4 prefix quarantine drops the peer's IPv4 traffic and leaves its IPv6 alone", async () => {
    const source = { kind: "ipv4-prefix", prefix: "10.77.0.0/24" } as const;
    expect(await filter.apply({ kind: "quarantine", source })).toMatchObject({ exitCode: 0 });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(0);
    expect((await lab.ping(lab.peer, lab.xdp.ipv6, 2, 0.1)).received).toBe(2);
    expect(ruleOf(await filter.counters(), "quarantine")).toMatchObject({ source, hits: 2 });
    expect(await filter.apply({ kind: "release", source })).toMatchObject({ exitCode: 0 });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
  });

  it("an IPv6 prefix quarantine drops the peer's IPv6 traffic", async () => {
    const source = { kind: "ipv6-prefix", prefix: "fd77::/64" } as const;
    expect(await filter.apply({ kind: "quarantine", source })).toMatchObject({ exitCode: 0 });
    expect((await lab.ping(lab.peer, lab.xdp.ipv6, 2, 0.1)).received).toBe(0);
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
    expect(await filter.apply({ kind: "release", source })).toMatchObject({ exitCode: 0 });
    expect((await lab.ping(lab.peer, lab.xdp.ipv6, 2, 0.1)).received).toBe(2);
  });

  it("answers what it cannot do with an exit code and a reason, never a throw", async () => {
    expect(await filter.apply({ kind: "hop-penalty", value: 30 })).toMatchObject({ exitCode: EX_USAGE, stderr: "hop-penalty is not an XDP action" });
    expect(await filter.apply({ kind: "quarantine", source: { kind: "mac", mac: "zz:00:00:00:00:00" } })).toMatchObject({ exitCode: EX_DATAERR });
    expect(await filter.apply({ kind: "rate-limit", source: { kind: "ipv4", address: "10.77.0.9" }, pps: 0, burst: 1 })).toMatchObject({
      exitCode: EX_DATAERR,
    });
  });

  it("a second attach (an agent restart) takes over the pinned program and keeps its rules", async () => {
    const source = { kind: "mac", mac: lab.peer.mac } as const;
    await filter.apply({ kind: "quarantine", source });
    const again = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns });
    expect(again.mode).toBe(filter.mode);
    expect((await again.counters()).rules).toMatchObject([{ action: "quarantine", source }]);
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(0);
    filter = again;
  });

  it("detaches cleanly: no program on the link, no pins, traffic flows", async () => {
    const pinDir = filter.pinDir;
    await filter.detach();
    expect(await xdpOnLink(lab)).toBeUndefined();
    expect(existsSync(pinDir)).toBe(false);
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
    await filter.detach(); // idempotent
  });
});

describe.skipIf(!availability.available)(`XDP filter in native (driver) mode${reason ? ` (skipped: ${reason})` : ""}`, () => {
  let lab: VethLab;
  beforeAll(async () => {
    lab = await createVethLab();
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it("quarantines and rate-limits in veth's native mode, and detaches from it", async () => {
    const filter = await attachXdpFilter({ iface: lab.xdp.iface, netns: lab.xdp.netns, mode: "native" });
    expect(filter.mode).toBe("native");
    expect(await xdpOnLink(lab)).toMatchObject({ mode: 1, prog: { name: "xdp_filter" } });
    expect(await filter.apply({ kind: "quarantine", source: { kind: "mac", mac: lab.peer.mac } })).toMatchObject({ exitCode: 0 });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(0);
    expect(await filter.apply({ kind: "release", source: { kind: "mac", mac: lab.peer.mac } })).toMatchObject({ exitCode: 0 });
    // Also flushes the pings the peer queued while its ARP could not resolve, before the limit counts.
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
    // A burst of 2, refilled at 1 pps: of 5 pings 100 ms apart, 2 get through. (An IPv4 rule:
    // a MAC rule would also spend tokens on the peer's ARP frames.)
    expect(await filter.apply({ kind: "rate-limit", source: { kind: "ipv4", address: lab.peer.ipv4 }, pps: 1, burst: 2 })).toMatchObject({
      exitCode: 0,
    });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 5, 0.1)).received).toBe(2);
    await filter.detach();
    expect(await xdpOnLink(lab)).toBeUndefined();
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
  });
});
