import { describe, expect, it } from "vitest";
import type { LinkSample } from "../mesh/index.ts";
import { MeshMonitor } from "./monitor.ts";

const hex = (n: number) => n.toString(16).padStart(2, "0");
/** MAC of interface `iface` of node i. */
const macOf = (i: number, iface = 0) => `02:${hex(iface)}:00:00:${hex(i >> 8)}:${hex(i & 0xff)}`;
const idOf = (i: number) => `n${i}`;
const good = (mac: string, tq = 230): LinkSample => ({ neigh_address: mac, hard_ifname: "mesh0", tq, last_seen_msecs: 100, loss: 0.01, latency_ms: 2 });
const gone = (mac: string): LinkSample => ({ ...good(mac), tq: 0, loss: 1 });

/** given nodes 0..n-1 announced at t = 0. */
const given = (n: number) => {
  const monitor = new MeshMonitor();
  for (let i = 0; i < n; i++) monitor.announced(idOf(i), macOf(i), [macOf(i), macOf(i, 1)], 0);
  return monitor;
};

describe("mesh monitor: link tables", () => {
  it("given a neighbour heard on two interfaces, the better TQ stands for the link, with that interface's MAC", () => {
    const monitor = given(2);
    monitor.linksReported(idOf(0), [good(macOf(1, 0), 120), good(macOf(1, 1), 200), good(macOf(1, 0), 90)], 1_000);
    expect(monitor.reportedTq(idOf(0), idOf(1))).toBe(200);
    expect(monitor.neighbourMac(idOf(0), idOf(1))).toBe(macOf(1, 1));
    expect(monitor.routeLinks(1_000)).toEqual([{ source: idOf(0), target: idOf(1), tq: 200, hardIf: "mesh0" }]);
  });

  it("given a link both ends reported, when one end drops it from its table, it stays there as dead", () => {
    const monitor = given(2);
    monitor.linksReported(idOf(0), [good(macOf(1))], 1_000);
    monitor.linksReported(idOf(1), [good(macOf(0))], 1_000);
    monitor.linksReported(idOf(0), [], 2_000);
    expect(monitor.reportsDead(idOf(0), idOf(1))).toBe(true);
    expect(monitor.reportedTq(idOf(0), idOf(1))).toBe(0);
  });

  it("given a link only one end ever claimed, when it drops it, the line is gone, and a link reported later starts with a clean record", () => {
    const monitor = given(3);
    // n0 claims n2 (dead, three reports: a bad line); n2 reports a table without n0.
    for (let t = 1_000; t <= 3_000; t += 1_000) {
      monitor.linksReported(idOf(0), [gone(macOf(2))], t);
      monitor.linksReported(idOf(2), [], t);
    }
    expect(monitor.linkBad(idOf(0), idOf(2))).toBe(true);
    monitor.linksReported(idOf(0), [], 4_000);
    expect(monitor.reportsDead(idOf(0), idOf(2))).toBeUndefined();
    expect(monitor.linkBad(idOf(0), idOf(2))).toBe(false);
    // A new line (it may take the freed one's place) carries nothing of the old.
    monitor.linksReported(idOf(1), [good(macOf(0))], 5_000);
    expect(monitor.linkBad(idOf(1), idOf(0))).toBe(false);
    expect(monitor.reportsDead(idOf(1), idOf(0))).toBe(false);
  });

  it("given a MAC nobody announced, the sample waits: no line until its owner announces", () => {
    const monitor = given(1);
    monitor.linksReported(idOf(0), [good(macOf(7))], 1_000);
    expect(monitor.routeLinks(1_000)).toEqual([]);
    monitor.announced(idOf(7), macOf(7), [macOf(7)], 1_500);
    monitor.linksReported(idOf(0), [good(macOf(7))], 2_000);
    expect(monitor.reportedTq(idOf(0), idOf(7))).toBe(230);
  });
});

describe("mesh monitor: a mesh larger than one page of its columns", () => {
  it("given a ring of 2 100 nodes (4 200 directed links), when one node crashes, it is found dead", () => {
    const n = 2_100;
    const crashed = 2_050;
    const monitor = given(n);
    const ring = (i: number) => [(i + n - 1) % n, (i + 1) % n];
    const crashAt = 20_000;
    for (let t = 250; t <= crashAt + 3_000; t += 250)
      for (let i = 0; i < n; i++) {
        if (i === crashed && t > crashAt) continue;
        monitor.heartbeat(idOf(i), t);
        if (t % 1_000 === 0) monitor.linksReported(idOf(i), ring(i).map((j) => (j === crashed && t > crashAt ? gone(macOf(j, 1)) : good(macOf(j, 1)))), t);
      }
    expect(monitor.size).toBe(n);
    expect(monitor.routeLinks(crashAt)).toHaveLength(2 * n);
    expect(monitor.liveness(idOf(crashed), crashAt + 3_000)?.suspected).toBe(true);
    const findings = monitor.findings(crashAt + 3_000);
    expect(findings.map((f) => [f.kind, f.blamed])).toEqual([["node-dead", { kind: "node", node: idOf(crashed) }]]);
    expect(findings[0]!.onsetAt).toBe(crashAt);
  });
});
