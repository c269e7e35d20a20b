/**
 * batctl's JSON, parsed as batctl 2023.0 prints it against batman-adv 2022.3: the fixtures are
 * its output verbatim, captured in the User-Mode Linux lab (test/kernel/batman-lab-guest.ts
 * builds the same mesh): node A of a diamond A-B-C-D over veth, B and C gateway servers, A a
 * gateway client (`iv-*`), and one BATMAN_V pair (`v-*`).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BatctlOutputError } from "./errors.ts";
import { linkSamples, nextHop } from "./link-metrics.ts";
import {
  parseGateways,
  parseHardInterfaces,
  parseMeshSettings,
  parseNeighbours,
  parseOriginators,
  parseStatistics,
} from "./tables.ts";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

// Node A's view: B (b6:09..) on `ab`, D (be:20..) on `ad`, C (8a:d8..) two hops away.
const B = "b6:09:63:d6:14:f4";
const C = "8a:d8:41:ed:e2:00";
const D = "be:20:35:71:b9:73";

describe("oj: the originator table", () => {
  it("keeps every (originator, neighbour) pair with its TQ, and marks the chosen next hop", () => {
    const { rows, skipped } = parseOriginators(fixture("iv-a-oj.json"));
    expect(skipped).toEqual([]);
    expect(rows).toHaveLength(5);
    expect(rows[0]).toEqual({ hard_ifindex: 3, hard_ifname: "ad", orig_address: C, last_seen_msecs: 70, neigh_address: D, tq: 132 });
    expect(rows.filter((r) => r.orig_address === C).map((r) => [r.neigh_address, r.tq, r.best ?? false])).toEqual([
      [D, 132, false],
      [B, 155, true],
    ]);
    expect(nextHop(rows, C)).toMatchObject({ neigh_address: B, hard_ifname: "ab", tq: 155 });
    expect(nextHop(rows, "02:00:00:00:00:99")).toBeUndefined();
  });

  it("reads BATMAN_V's throughput where BATMAN_IV has tq", () => {
    const { rows } = parseOriginators(fixture("v-e-oj.json"));
    expect(rows).toEqual([
      { hard_ifindex: 2, hard_ifname: "ef", orig_address: "7a:ec:1d:d1:2c:ef", best: true, last_seen_msecs: 210, neigh_address: "7a:ec:1d:d1:2c:ef", throughput: 10_000_000 },
    ]);
  });

  it("an empty table (a node alone, or a mesh interface without hard interfaces) is no rows", () => {
    expect(parseOriginators("[]\n")).toEqual({ rows: [], skipped: [] });
    expect(parseNeighbours("[]\n")).toEqual({ rows: [], skipped: [] });
    expect(parseGateways("[]\n")).toEqual({ rows: [], skipped: [] });
  });

  it("ignores fields it does not know, and skips (and reports) a row missing one it needs", () => {
    const text = JSON.stringify([
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: B, best: true, last_seen_msecs: 10, neigh_address: B, tq: 200, future_field: { x: 1 }, tpmeter_cookie: 7 },
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: C, last_seen_msecs: 10, tq: 100 },
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: "not-a-mac", neigh_address: B, last_seen_msecs: 10, tq: 100 },
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: C, neigh_address: B, last_seen_msecs: 10, tq: 300 },
    ]);
    const { rows, skipped } = parseOriginators(text);
    expect(rows).toEqual([{ hard_ifindex: 2, hard_ifname: "ab", orig_address: B, best: true, last_seen_msecs: 10, neigh_address: B, tq: 200 }]);
    expect(skipped.map((s) => s.index)).toEqual([1, 2, 3]);
    expect(skipped[0]!.reason).toMatch(/neigh_address/);
  });

  it("refuses output that is not a JSON array, saying what batctl printed", () => {
    expect(() => parseOriginators("Error - interface bat9 is not present or not a batman-adv interface\n")).toThrow(BatctlOutputError);
    expect(() => parseOriginators('{"orig_address":"x"}')).toThrow(/not a JSON array/);
    try {
      parseNeighbours("[{\"neigh_address\":");
    } catch (error) {
      expect(error).toMatchObject({ _tag: "BatctlOutputError", table: "nj", output: '[{"neigh_address":' });
    }
  });
});

describe("nj: the neighbour table", () => {
  it("one row per neighbour and hard interface, with its freshness", () => {
    const { rows } = parseNeighbours(fixture("iv-a-nj.json"));
    expect(rows).toEqual([
      { hard_ifindex: 2, hard_ifname: "ab", last_seen_msecs: 40, neigh_address: B },
      { hard_ifindex: 3, hard_ifname: "ad", last_seen_msecs: 120, neigh_address: D },
    ]);
    expect(parseNeighbours(fixture("v-e-nj.json")).rows[0]).toMatchObject({ throughput: 10_000_000, last_seen_msecs: 0 });
  });
});

describe("gwj: the gateway table", () => {
  it("lists each gateway with its next hop, quality and advertised bandwidth (100 kbit/s units), the selected one marked best", () => {
    const { rows } = parseGateways(fixture("iv-a-gwj.json"));
    expect(rows).toEqual([
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: C, tq: 157, bandwidth_up: 100, bandwidth_down: 500, router: B },
      { hard_ifindex: 2, hard_ifname: "ab", orig_address: B, best: true, tq: 220, bandwidth_up: 20, bandwidth_down: 100, router: B },
    ]);
  });
});

describe("hj and mj: hard interfaces and mesh settings", () => {
  it("reads each hard interface's state and per-interface hop penalty, as a list or for one interface", () => {
    const { rows } = parseHardInterfaces(fixture("iv-a-hj.json"));
    expect(rows.map((r) => [r.hard_ifname, r.active ?? false, r.hop_penalty])).toEqual([
      ["ab", true, 0],
      ["ad", true, 0],
    ]);
    expect(parseHardInterfaces(fixture("iv-a-hardif-hj.json")).rows).toEqual([
      { mesh_ifname: "bat0", hard_ifindex: 2, hard_ifname: "ab", hard_address: "fe:70:fa:d3:f8:dd", active: true, hop_penalty: 0 },
    ]);
    // An interface still waiting for its link has no `active` flag at all.
    expect(parseHardInterfaces('[{"mesh_ifname":"bat0","hard_ifindex":3,"hard_ifname":"ad","hop_penalty":0}]').rows[0]!.active).toBeUndefined();
  });

  it("reads the settings actuators change, and the primary hard interface (whose address is the originator address)", () => {
    expect(parseMeshSettings(fixture("iv-a-mj.json"))).toEqual({
      version: "2022.3",
      algo_name: "BATMAN_IV",
      mesh_ifname: "bat0",
      mesh_address: "62:6b:bc:23:6e:f6",
      hard_ifname: "ab",
      hard_address: "fe:70:fa:d3:f8:dd",
      orig_interval: 200,
      hop_penalty: 30,
      gw_mode: "client",
      gw_sel_class: 20,
      gw_bandwidth_down: 100,
      gw_bandwidth_up: 20,
      bridge_loop_avoidance_enabled: false,
    });
    expect(parseMeshSettings(fixture("v-e-mj.json"))).toMatchObject({ algo_name: "BATMAN_V", gw_mode: "off" });
    expect(() => parseMeshSettings('{"hop_penalty":999}')).toThrow(/unexpected object/);
  });
});

describe("statistics", () => {
  it("reads the mesh interface's counters by name", () => {
    const counters = parseStatistics(fixture("iv-a-statistics.txt"));
    expect(counters.get("tx_bytes")).toBe(360);
    expect(counters.get("mgmt_rx_bytes")).toBe(18_064);
    expect(counters.get("forward_bytes")).toBe(0);
    expect(counters.size).toBe(37);
    expect(parseStatistics("Error - something\n").size).toBe(0);
  });
});

describe("link samples: nj and oj mapped onto mesh.LinkMetricsReported", () => {
  it("one sample per neighbour; tq of the direct link where the neighbour is its own originator on that interface", () => {
    const samples = linkSamples(parseNeighbours(fixture("iv-a-nj.json")).rows, parseOriginators(fixture("iv-a-oj.json")).rows);
    expect(samples).toEqual([
      { neigh_address: B, hard_ifname: "ab", tq: 217, last_seen_msecs: 40, loss: 0.149, latency_ms: 0 },
      { neigh_address: D, hard_ifname: "ad", tq: 201, last_seen_msecs: 120, loss: 0.212, latency_ms: 0 },
    ]);
  });

  it("a neighbour heard but not yet accepted as an originator (no bidirectional link yet) has tq 0", () => {
    const samples = linkSamples(parseNeighbours(fixture("iv-a-nj.json")).rows, []);
    expect(samples?.map((s) => [s.tq, s.loss])).toEqual([
      [0, 1],
      [0, 1],
    ]);
    // D's path through B (`ab`) is not D's direct link on `ad`.
    const onlyIndirect = parseOriginators(fixture("iv-a-oj.json")).rows.filter((r) => !(r.orig_address === D && r.hard_ifname === "ad"));
    expect(linkSamples(parseNeighbours(fixture("iv-a-nj.json")).rows, onlyIndirect)![1]).toMatchObject({ neigh_address: D, tq: 0 });
  });

  it("no neighbours is an empty report; BATMAN_V (no TQ) is not reported as link samples", () => {
    expect(linkSamples([], [])).toEqual([]);
    expect(linkSamples(parseNeighbours(fixture("v-e-nj.json")).rows, parseOriginators(fixture("v-e-oj.json")).rows, "BATMAN_V")).toBeUndefined();
  });
});
