import { describe, expect, it } from "vitest";
import type { LinkMetricsReported, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { canonicalBytes } from "../../streams/envelope.ts";
import { publicKeyObject, verifyBytes } from "../../streams/keys.ts";
import { FaultTargetError } from "./faults.ts";
import { handmade, recorder, command } from "./testing.ts";
import { MeshTwin } from "./twin.ts";

/** O (observer) - A - B - C in a line, plus X hanging off B and C (a triangle B-C-X). */
const mesh = () => handmade(["O", "A", "B", "C", "X"], ["O-A", "A-B", "B-C", "B-X", "C-X"], { gateways: ["O"] });

const manualTwin = (topology = mesh()) => {
  const twin = new MeshTwin({ topology, seed: 3 });
  const rec = recorder();
  twin.startManual(rec.sink);
  twin.advanceTo(5_000);
  return { twin, rec };
};

const macOf = (twin: MeshTwin, id: string) => twin.nodes.find((n) => n.id === id)!.primaryMac;
const lastLinks = (rec: ReturnType<typeof recorder>, id: string) =>
  (rec.of(id, "mesh.LinkMetricsReported").at(-1)!.payload as LinkMetricsReported).links;
const linkBetween = (twin: MeshTwin, a: string, b: string) =>
  twin.routeTopology().links.filter((l) => (l.source === a && l.target === b) || (l.source === b && l.target === a));
const snapshot = (twin: MeshTwin) => JSON.stringify(twin.routeTopology());
const traffic = (payload: unknown) => {
  const t = (payload as NodeMetricsReported).traffic;
  return t.rx_bytes + t.tx_bytes + t.forward_bytes;
};

describe("node-crash", () => {
  it("takes the node down: silent, its neighbours stop hearing it (TQ falling, last seen seconds ago); clearing reboots it (announces first, uptime from zero)", () => {
    const { twin, rec } = manualTwin();
    twin.inject("crash", { kind: "node-crash", node: "C" });
    expect(twin.nodeState("C")).toMatchObject({ down: true, heard: false });
    const silentFrom = rec.of("C").length;
    twin.advanceTo(8_000);
    expect(rec.of("C")).toHaveLength(silentFrom);
    expect(lastLinks(rec, "B").find((l) => l.neigh_address === macOf(twin, "C"))!.last_seen_msecs).toBeGreaterThanOrEqual(3_000);
    expect(linkBetween(twin, "B", "C")).toEqual([]);

    expect(twin.clear("crash")).toBe(true);
    expect(twin.clear("crash")).toBe(false);
    twin.advanceTo(10_000);
    const after = rec.of("C").slice(silentFrom);
    expect(after[0]!.type).toBe("mesh.NodeAnnounced");
    const beat = after.find((e) => e.type === "mesh.HeartbeatSent")!.payload as { uptime: number };
    expect(beat.uptime).toBeLessThanOrEqual(2);
    expect(linkBetween(twin, "B", "C")).toHaveLength(2);
  });
});

describe("node-hang", () => {
  it("silences the node and its answers, but it keeps forwarding: nodes behind it stay heard, its links stay up", () => {
    // O - A - B - X in a line: X is heard only through B.
    const { twin, rec } = manualTwin(handmade(["O", "A", "B", "X"], ["O-A", "A-B", "B-X"], { gateways: ["O"] }));
    twin.inject("hang", { kind: "node-hang", node: "B" });
    const before = rec.of("B").length;
    const xBefore = rec.of("X").length;
    twin.advanceTo(8_000);
    expect(rec.of("B")).toHaveLength(before);
    expect(rec.of("X").length).toBeGreaterThan(xBefore);
    expect(lastLinks(rec, "A").find((l) => l.neigh_address === macOf(twin, "B"))!.tq).toBeGreaterThan(100);
    expect(twin.applyCommand(command("B", { kind: "hop-penalty", value: 50 }))).toBeUndefined();
    twin.clear("hang");
    twin.advanceTo(9_000);
    // Not a reboot: it carries on where it stopped, without announcing again.
    expect(rec.of("B").slice(before).some((e) => e.type === "mesh.NodeAnnounced")).toBe(false);
    expect(rec.of("B").length).toBeGreaterThan(before);
  });
});

describe("link-degradation", () => {
  it("adds loss and latency to both directions; clearing restores the exact link state", () => {
    const { twin, rec } = manualTwin();
    const tqBefore = linkBetween(twin, "A", "B").map((l) => l.tq);
    twin.inject("deg", { kind: "link-degradation", link: ["A", "B"], loss: 0.6, latencyMs: 150 });
    expect(linkBetween(twin, "A", "B").every((l, i) => l.tq < tqBefore[i]! / 4)).toBe(true);
    twin.advanceTo(7_000);
    const seenByA = lastLinks(rec, "A").find((l) => l.neigh_address === macOf(twin, "B"))!;
    const seenByB = lastLinks(rec, "B").find((l) => l.neigh_address === macOf(twin, "A"))!;
    for (const seen of [seenByA, seenByB]) {
      expect(seen.loss).toBeGreaterThanOrEqual(0.6);
      expect(seen.latency_ms).toBeGreaterThanOrEqual(150);
    }
    twin.clear("deg");
    // The radio noise moved on while degraded; compare at one instant with and without the fault.
    const now = snapshot(twin);
    twin.inject("deg", { kind: "link-degradation", link: ["A", "B"], loss: 0.6 });
    twin.clear("deg");
    expect(snapshot(twin)).toBe(now);
  });
});

describe("link-flap", () => {
  it("cuts the link for downMs out of every periodMs, starting down; clearing leaves it up", () => {
    const { twin } = manualTwin();
    twin.inject("flap", { kind: "link-flap", link: ["B", "C"], periodMs: 1_000, downMs: 400 });
    const pattern: boolean[] = [];
    for (const t of [5_100, 5_500, 6_000, 6_300, 6_450, 6_999]) {
      twin.advanceTo(t);
      pattern.push(linkBetween(twin, "B", "C").length > 0);
    }
    expect(pattern).toEqual([false, true, false, false, true, true]);
    twin.advanceTo(7_100);
    twin.clear("flap");
    expect(linkBetween(twin, "B", "C")).toHaveLength(2);
  });
});

describe("partition", () => {
  it("cuts every link between the set and the rest: the set goes silent; clearing restores every link", () => {
    const { twin, rec } = manualTwin();
    const before = snapshot(twin);
    twin.inject("split", { kind: "partition", nodes: ["C", "X"] });
    expect(linkBetween(twin, "B", "C")).toEqual([]);
    expect(linkBetween(twin, "B", "X")).toEqual([]);
    expect(linkBetween(twin, "C", "X")).toHaveLength(2);
    expect(twin.isHeard("C")).toBe(false);
    expect(twin.isHeard("X")).toBe(false);
    expect(twin.isHeard("B")).toBe(true);
    const silent = rec.of("X").length;
    twin.clear("split");
    expect(snapshot(twin)).toBe(before);
    twin.advanceTo(7_000);
    expect(rec.of("X").length).toBeGreaterThan(silent);
  });
});

describe("byzantine", () => {
  it("flood: the node's counters grow ~20× faster, its neighbours receive and forward the excess", () => {
    const { twin, rec } = manualTwin();
    const rate = (id: string) => {
      const m = rec.of(id, "mesh.NodeMetricsReported");
      return traffic(m.at(-1)!.payload) - traffic(m.at(-2)!.payload);
    };
    const xBefore = rate("X");
    const bBefore = rate("B");
    twin.inject("flood", { kind: "byzantine", node: "X", behaviour: "flood" });
    twin.advanceTo(8_000);
    expect(rate("X")).toBeGreaterThan(10 * xBefore);
    expect(rate("B")).toBeGreaterThan(2 * bBefore);
    expect(twin.nodeState("X").byzantine).toEqual(["flood"]);
    twin.clear("flood");
    twin.advanceTo(10_000);
    expect(rate("X")).toBeLessThan(3 * xBefore);
  });

  it("lie: claims TQ 255 to every neighbour and a phantom link its neighbour never reports back", () => {
    const { twin, rec } = manualTwin();
    twin.inject("lie", { kind: "byzantine", node: "X", behaviour: "lie" });
    twin.advanceTo(7_000);
    const claimed = lastLinks(rec, "X");
    expect(claimed.every((l) => l.tq === 255 && l.loss === 0)).toBe(true);
    const phantom = claimed.find((l) => l.neigh_address === macOf(twin, "O"))!;
    expect(phantom).toBeDefined();
    expect(lastLinks(rec, "O").some((l) => l.neigh_address === macOf(twin, "X"))).toBe(false);
    // The real neighbours see X as it is.
    expect(lastLinks(rec, "B").find((l) => l.neigh_address === macOf(twin, "X"))!.tq).toBeLessThan(255);
    twin.clear("lie");
    twin.advanceTo(8_000);
    expect(lastLinks(rec, "X").some((l) => l.neigh_address === macOf(twin, "O"))).toBe(false);
  });

  it("bad-signatures: manual events are flagged; sealed events carry the node's key id but do not verify", () => {
    const { twin, rec } = manualTwin();
    twin.inject("forge", { kind: "byzantine", node: "X", behaviour: "bad-signatures" });
    const from = rec.events.length;
    twin.advanceTo(7_000);
    const after = rec.events.slice(from);
    expect(after.filter((e) => e.nodeId === "X").every((e) => e.badSignature)).toBe(true);
    expect(after.filter((e) => e.nodeId !== "X").some((e) => e.badSignature)).toBe(false);

    const outcome = twin.applyCommand(command("X", { kind: "gateway", mode: "off" }))!.outcome;
    const sealed = twin.sealOutcome(outcome);
    const x = twin.nodes.find((n) => n.id === "X")!;
    expect(sealed.meta.keyId).toBe(x.keyId);
    expect(verifyBytes(publicKeyObject(x.publicKey), canonicalBytes(sealed.meta, sealed.payload), sealed.meta.signature)).toBe(false);
    twin.clear("forge");
    const honest = twin.sealOutcome(outcome);
    expect(verifyBytes(publicKeyObject(x.publicKey), canonicalBytes(honest.meta, honest.payload), honest.meta.signature)).toBe(true);
  });
});

describe("jamming", () => {
  it("lays the loss on every link with an end within the radius, and only those", () => {
    const { twin } = manualTwin();
    const before = snapshot(twin);
    const centre = twin.topology!.nodes.find((n) => n.id === "C")!.location!;
    twin.inject("jam", { kind: "jamming", center: centre, radiusM: 10, loss: 1 });
    expect(linkBetween(twin, "B", "C")).toEqual([]);
    expect(linkBetween(twin, "C", "X")).toEqual([]);
    expect(linkBetween(twin, "B", "X")).toHaveLength(2);
    expect(linkBetween(twin, "A", "B")).toHaveLength(2);
    twin.clear("jam");
    expect(snapshot(twin)).toBe(before);
  });

  it("reaches generated meshes too: their nodes have locations", () => {
    const twin = new MeshTwin({ nodes: 30, seed: 5 });
    twin.startManual(() => undefined);
    const centre = twin.topology!.nodes[0]!.location!;
    const before = twin.routeTopology().links.length;
    twin.inject("jam", { kind: "jamming", center: centre, radiusM: 1, loss: 1 });
    const cut = before - twin.routeTopology().links.length;
    expect(cut).toBe(2 * twin.topology!.links.filter((l) => l.a === 0 || l.b === 0).length);
  });
});

describe("composition", () => {
  it("two faults on one link compose, and each clear takes back only its own", () => {
    const { twin } = manualTwin();
    const before = snapshot(twin);
    twin.inject("deg", { kind: "link-degradation", link: ["A", "B"], loss: 0.3 });
    const degraded = snapshot(twin);
    twin.inject("flap", { kind: "link-flap", link: ["A", "B"], periodMs: 1_000, downMs: 500 });
    expect(linkBetween(twin, "A", "B")).toEqual([]);
    twin.clear("deg");
    expect(linkBetween(twin, "A", "B")).toEqual([]);
    twin.clear("flap");
    expect(snapshot(twin)).toBe(before);
    twin.inject("deg", { kind: "link-degradation", link: ["A", "B"], loss: 0.3 });
    expect(snapshot(twin)).toBe(degraded);
  });

  it("a node down for two reasons comes back only when both are gone", () => {
    const { twin } = manualTwin();
    twin.inject("c1", { kind: "node-crash", node: "B" });
    twin.failNode("B");
    twin.clear("c1");
    expect(twin.nodeState("B").down).toBe(true);
    twin.recoverNode("B");
    expect(twin.nodeState("B").down).toBe(false);
  });

  it("refuses a fault on a node or link the twin does not have, and changes nothing", () => {
    const { twin } = manualTwin();
    const before = snapshot(twin);
    expect(() => twin.inject("bad", { kind: "partition", nodes: ["B", "nope"] })).toThrow(FaultTargetError);
    expect(() => twin.inject("bad", { kind: "link-degradation", link: ["O", "X"], loss: 0.5 })).toThrow(/no link between O and X/);
    expect(twin.activeFaults.size).toBe(0);
    expect(snapshot(twin)).toBe(before);
  });
});
