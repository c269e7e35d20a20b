import * as Schema from "effect/Schema";
import { afterEach, describe, expect, it } from "vitest";
import type { EventDefinition } from "../../domains/kernel/index.ts";
import { meshEvents, meshSubject, type LinkMetricsReported, type NodeMetricsReported } from "../../domains/mesh/index.ts";
import { canonicalBytes, decodeCbor, type SealedEvent } from "../../streams/envelope.ts";
import { keyIdOf, publicKeyObject, verifyBytes } from "../../streams/keys.ts";
import { handmade, recorder } from "./testing.ts";
import { MeshTwin, type EventSink } from "./twin.ts";

/** An event store stand-in: keeps what it accepts, can fail or stall on demand. */
class RecordingSink implements EventSink {
  readonly accepted: SealedEvent[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly behaviour: { delayMs?: number; fail?: (event: SealedEvent) => boolean } = {}) {}

  async append(event: SealedEvent) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.behaviour.delayMs) await new Promise((r) => setTimeout(r, this.behaviour.delayMs));
      if (this.behaviour.fail?.(event)) throw new Error("server unavailable");
      this.accepted.push(event);
      return { stream: "MESH", seq: this.accepted.length, duplicate: false };
    } finally {
      this.inFlight--;
    }
  }

  from(nodeId: string, type?: string): SealedEvent[] {
    return this.accepted.filter((e) => e.meta.producerId === nodeId && (type === undefined || e.meta.type === type));
  }
}

const definitions = new Map<string, EventDefinition>(meshEvents.map((d) => [d.type, d]));
const decode = <T>(event: SealedEvent): T =>
  Schema.decodeUnknownSync(definitions.get(event.meta.type)!.schema as Schema.Decoder<unknown>)(decodeCbor(event.payload)) as T;

const until = async (condition: () => boolean, what: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const fixedClock = { now: () => 1_750_000_000_000 };
const twins: MeshTwin[] = [];
const twinOf = (options: ConstructorParameters<typeof MeshTwin>[0]) => {
  const twin = new MeshTwin(options);
  twins.push(twin);
  return twin;
};
afterEach(async () => {
  await Promise.all(twins.splice(0).map((t) => t.stop()));
});

describe("MeshTwin", () => {
  it("announces each node first, then reports signed, valid events about itself only", async () => {
    const twin = twinOf({ nodes: 8, intervalMs: 40, seed: 3 });
    const sink = new RecordingSink();
    await twin.start(sink);
    await until(() => twin.nodes.every((n) => sink.from(n.id, "mesh.NodeMetricsReported").length >= 3), "three rounds per node");
    await twin.stop();

    const macToNode = new Map(twin.nodes.flatMap((n) => n.macs.map((m) => [m, n.id] as const)));
    for (const node of twin.nodes) {
      const events = sink.from(node.id);
      expect(events[0]!.meta.type).toBe("mesh.NodeAnnounced");
      const key = publicKeyObject(node.publicKey);
      for (const event of events) {
        expect(event.meta.keyId).toBe(keyIdOf(node.publicKey));
        expect(event.meta.subject).toBe(meshSubject(node.id, event.meta.type as "mesh.HeartbeatSent"));
        expect(verifyBytes(key, canonicalBytes(event.meta, event.payload), event.meta.signature)).toBe(true);
        expect(decode<{ nodeId: string }>(event).nodeId).toBe(node.id);
      }
      const announced = decode<{ primaryMac: string; macs: string[]; publicKey: Uint8Array }>(events[0]!);
      expect(announced.primaryMac).toBe(node.primaryMac);
      expect(announced.macs).toEqual(node.macs);
      expect(Buffer.from(announced.publicKey).equals(Buffer.from(node.publicKey))).toBe(true);

      // Neighbour addresses are neighbours' MACs, so a knowledge base resolves them to node ids.
      for (const event of sink.from(node.id, "mesh.LinkMetricsReported")) {
        const { links } = decode<LinkMetricsReported>(event);
        expect(links.map((l) => macToNode.get(l.neigh_address)).sort()).toEqual([...node.neighbours].sort());
      }
      // Traffic counters only grow.
      const metrics = sink.from(node.id, "mesh.NodeMetricsReported").map((e) => decode<NodeMetricsReported>(e));
      for (let i = 1; i < metrics.length; i++) {
        for (const counter of ["rx_bytes", "tx_bytes", "forward_bytes", "mgmt_rx_bytes", "mgmt_tx_bytes"] as const) {
          expect(metrics[i]!.traffic[counter]).toBeGreaterThanOrEqual(metrics[i - 1]!.traffic[counter]);
        }
        expect(metrics[i]!.memory.available).toBeLessThanOrEqual(metrics[i]!.memory.total);
      }
    }
    expect(twin.stats.errors).toBe(0);
    expect(twin.stats.announcedNodes).toBe(8);
    expect(twin.stats.published).toBe(sink.accepted.length);
  });

  it("is the same mesh with the same keys and the same first reports for the same seed", async () => {
    const firstReports = async (seed: number) => {
      const twin = twinOf({ nodes: 6, intervalMs: 200, seed, clock: fixedClock });
      const sink = new RecordingSink();
      await twin.start(sink);
      await until(() => twin.nodes.every((n) => sink.from(n.id, "mesh.NodeMetricsReported").length >= 1), "a first round per node");
      await twin.stop();
      const nodes = twin.nodes.map((n) => ({ ...n, publicKey: Buffer.from(n.publicKey).toString("hex") }));
      const reports = twin.nodes.map((n) =>
        ["mesh.NodeAnnounced", "mesh.HeartbeatSent", "mesh.LinkMetricsReported", "mesh.NodeMetricsReported"].map((type) =>
          decode(sink.from(n.id, type)[0]!),
        ),
      );
      return { nodes, reports };
    };
    const a = await firstReports(11);
    const b = await firstReports(11);
    const c = await firstReports(12);
    expect(b).toEqual(a);
    expect(c.nodes.map((n) => n.publicKey)).not.toEqual(a.nodes.map((n) => n.publicKey));
    expect(c.reports).not.toEqual(a.reports);
  });

  it("keeps going when appends fail and reports only once its announcement is stored", async () => {
    let failing = true;
    const sink = new RecordingSink({ fail: () => failing });
    const errors: string[] = [];
    const twin = twinOf({ nodes: 5, intervalMs: 30, seed: 2, onError: (e, nodeId) => errors.push(`${nodeId}: ${e.message}`) });
    await twin.start(sink);
    await until(() => twin.stats.errors >= 10, "ten failed appends");
    expect(sink.accepted).toHaveLength(0);
    expect(twin.stats.announcedNodes).toBe(0);
    failing = false;
    await until(() => twin.nodes.every((n) => sink.from(n.id, "mesh.LinkMetricsReported").length >= 1), "reports after recovery");
    for (const node of twin.nodes) expect(sink.from(node.id)[0]!.meta.type).toBe("mesh.NodeAnnounced");
    expect(errors[0]).toMatch(/server unavailable/);
    expect(twin.stats.errors).toBe(errors.length);
    expect(twin.stats.lastError).toMatch(/mesh\.NodeAnnounced: server unavailable/);
  });

  it("never has more appends awaiting acknowledgement than its window", async () => {
    const sink = new RecordingSink({ delayMs: 15 });
    const twin = twinOf({ nodes: 20, intervalMs: 20, seed: 4, maxInFlight: 3 });
    await twin.start(sink);
    await until(() => sink.accepted.length >= 40, "forty appends");
    await twin.stop();
    expect(sink.maxInFlight).toBeLessThanOrEqual(3);
    expect(sink.maxInFlight).toBeGreaterThan(0);
    expect(twin.stats.inFlight).toBe(0);
  });

  it("takes a failed node off the air: its neighbours report it unheard (last seen seconds ago)", async () => {
    const sink = new RecordingSink();
    const twin = twinOf({ nodes: 10, intervalMs: 30, seed: 5 });
    await twin.start(sink);
    await until(() => twin.stats.announcedNodes === 10, "all nodes announced");
    const victim = twin.nodes[0]!;
    const witness = twin.nodes.find((n) => n.id === victim.neighbours[0])!;
    twin.failNode(victim.id);
    const victimMac = victim.macs[0]!;
    // TQ is a window average and falls over seconds; last-seen says at once that the node is gone.
    const lastSeenOfVictim = (e: SealedEvent) => decode<LinkMetricsReported>(e).links.find((l) => l.neigh_address === victimMac)?.last_seen_msecs ?? 0;
    await until(() => sink.from(witness.id, "mesh.LinkMetricsReported").some((e) => lastSeenOfVictim(e) >= 3_000), "the witness stops hearing the victim");
    const silentFrom = sink.from(victim.id).length;
    const seen = sink.from(witness.id, "mesh.LinkMetricsReported").length;
    await until(() => sink.from(witness.id, "mesh.LinkMetricsReported").length >= seen + 2, "two more witness reports");
    expect(sink.from(victim.id)).toHaveLength(silentFrom);

    twin.recoverNode(victim.id);
    await until(() => sink.from(victim.id).length > silentFrom + 1, "the victim reports again");
    // A rebooted node announces itself again before anything else.
    expect(sink.from(victim.id)[silentFrom]!.meta.type).toBe("mesh.NodeAnnounced");
  });

  it("simulates the Freifunk Bremen snapshot: 833 online nodes, offline ones silent", async () => {
    const twin = twinOf({
      topologyFile: new URL("../../../shared/data/topologies/freifunk-bremen-2020-meshviewer.json", import.meta.url).pathname,
    });
    await twin.load();
    const nodes = twin.nodes;
    expect(nodes).toHaveLength(891);
    expect(nodes.filter((n) => n.online)).toHaveLength(833);
    expect(nodes.filter((n) => !n.online).every((n) => n.neighbours.length === 0)).toBe(true);
    // Each end of a link between online nodes reports it, unless the snapshot says it did not (TQ 0).
    const entries = nodes.reduce((sum, n) => sum + n.neighbours.length, 0);
    const topology = twin.topology!;
    const expected = topology.links
      .filter((l) => topology.nodes[l.a]!.online && topology.nodes[l.b]!.online)
      .reduce((sum, l) => sum + (l.tqAB === 0 ? 0 : 1) + (l.tqBA === 0 ? 0 : 1), 0);
    expect(topology.links.length).toBe(1395);
    expect(entries).toBe(expected);
    expect(entries).toBeGreaterThan(2_400);
  });
});

describe("MeshTwin in manual mode", () => {
  const run = (seed: number, untilMs: number, options: Partial<ConstructorParameters<typeof MeshTwin>[0]> = {}) => {
    const twin = new MeshTwin({ nodes: 12, seed, heartbeatIntervalMs: 250, ...options });
    const rec = recorder();
    twin.startManual(rec.sink);
    twin.advanceTo(untilMs / 2);
    twin.advanceTo(untilMs);
    return { twin, rec };
  };

  it("gives the same events at the same times for the same seed, unsigned, in time order", () => {
    const a = run(21, 10_000);
    const b = run(21, 10_000);
    const c = run(22, 10_000);
    expect(b.rec.events).toEqual(a.rec.events);
    expect(c.rec.events).not.toEqual(a.rec.events);
    const times = a.rec.events.map((e) => e.atMs);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times.every((t) => Number.isInteger(t) && t >= 0 && t <= 10_000)).toBe(true);
    expect(a.rec.events.some((e) => e.badSignature)).toBe(false);
    expect(a.twin.stats.published).toBe(a.rec.events.length);
  });

  it("announces each node once, first; then a heartbeat every 250 ms and links and metrics every second", () => {
    const { twin, rec } = run(23, 10_000);
    for (const node of twin.nodes) {
      const events = rec.of(node.id);
      expect(events[0]!.type).toBe("mesh.NodeAnnounced");
      expect(rec.of(node.id, "mesh.NodeAnnounced")).toHaveLength(1);
      // Rounds at phase + k·interval for t in [0, 10 000]: 40 or 41 heartbeats, 10 or 11 reports.
      expect([40, 41]).toContain(rec.of(node.id, "mesh.HeartbeatSent").length);
      expect([10, 11]).toContain(rec.of(node.id, "mesh.LinkMetricsReported").length);
      expect(rec.of(node.id, "mesh.NodeMetricsReported")).toHaveLength(rec.of(node.id, "mesh.LinkMetricsReported").length);
      const beats = rec.of(node.id, "mesh.HeartbeatSent").map((e) => e.atMs);
      for (let i = 1; i < beats.length; i++) expect(beats[i]! - beats[i - 1]!).toBe(250);
    }
  });

  it("draws the same n-th report whatever the heartbeat interval: heartbeats take nothing from the random streams", () => {
    // Per node: a shorter heartbeat interval moves the announcement earlier, not what follows it.
    const reports = (heartbeatIntervalMs: number) => {
      const { twin, rec } = run(24, 5_000, { heartbeatIntervalMs });
      return twin.nodes.map((n) => rec.of(n.id).filter((e) => e.type !== "mesh.HeartbeatSent").map((e) => [e.type, e.payload]));
    };
    expect(reports(100)).toEqual(reports(1_000));
  });

  it("with seal, hands each event over sealed by its node at the simulated time as well; a bad-signatures node's do not verify", () => {
    const twin = new MeshTwin({ nodes: 6, seed: 25, heartbeatIntervalMs: 250 });
    const sealed: { nodeId: string; event: SealedEvent; atMs: number; payload: unknown }[] = [];
    twin.startManual((nodeId, _definition, payload, atMs, flags) => sealed.push({ nodeId, event: flags.sealed!, atMs, payload }), { startAtMs: 1_700_000_000_000, seal: true });
    const liar = twin.nodes[2]!.id;
    twin.advanceTo(1_700_000_002_000);
    twin.inject("sig", { kind: "byzantine", node: liar, behaviour: "bad-signatures" });
    twin.advanceTo(1_700_000_004_000);
    expect(sealed.some((e) => e.nodeId === liar && e.atMs > 1_700_000_002_000)).toBe(true);
    const keys = new Map(twin.nodes.map((n) => [n.id, n.publicKey]));
    for (const { nodeId, event, atMs, payload } of sealed) {
      expect(event.meta.producerId).toBe(nodeId);
      expect(event.meta.keyId).toBe(keyIdOf(keys.get(nodeId)!));
      expect(Date.parse(event.meta.occurredAt)).toBe(atMs);
      expect(event.meta.subject).toBe(meshSubject(nodeId, event.meta.type as Parameters<typeof meshSubject>[1]));
      expect(Schema.decodeUnknownSync(meshEvents.find((d) => d.type === event.meta.type)!.schema as Schema.Decoder<unknown>)(decodeCbor(event.payload))).toEqual(payload);
      const verifies = verifyBytes(publicKeyObject(keys.get(nodeId)!), canonicalBytes(event.meta, event.payload), event.meta.signature);
      expect(verifies).toBe(!(nodeId === liar && atMs > 1_700_000_002_000));
    }
  });

  it("refuses to go back in time, and needs startManual first", () => {
    const twin = new MeshTwin({ nodes: 3 });
    expect(() => twin.advanceTo(10)).toThrow(/startManual/);
    twin.startManual(() => undefined, { startAtMs: 1_000 });
    twin.advanceTo(2_000);
    expect(twin.now).toBe(2_000);
    expect(() => twin.advanceTo(1_500)).toThrow(RangeError);
  });
});

describe("observers and reachability", () => {
  it("picks a few well-connected, spread-out observers by default, the same for a seed; the snapshot's gateways for meshviewer", async () => {
    const a = new MeshTwin({ nodes: 300, seed: 8 });
    expect(a.observers).toHaveLength(3);
    expect(new MeshTwin({ nodes: 300, seed: 8 }).observers).toEqual(a.observers);
    expect(new MeshTwin({ nodes: 10, seed: 8 }).observers).toHaveLength(2);
    expect(new MeshTwin({ nodes: 10, seed: 8, observers: ["s8-node-003"] }).observers).toEqual(["s8-node-003"]);
    expect(() => new MeshTwin({ nodes: 10, observers: ["nope"] })).toThrow(/observer nope/);
    const bremen = new MeshTwin({
      topologyFile: new URL("../../../shared/data/topologies/freifunk-bremen-2020-meshviewer.json", import.meta.url).pathname,
    });
    await bremen.load();
    expect(bremen.observers).toHaveLength(6);
    expect(bremen.observers.every((id) => bremen.topology!.nodes.find((n) => n.id === id)!.gateway)).toBe(true);
  });

  it("publishes nothing from a node cut off from every observer: a crashed relay silences the nodes behind it", () => {
    const twin = new MeshTwin({ topology: handmade(["O", "A", "B", "C"], ["O-A", "A-B", "B-C"], { gateways: ["O"] }) });
    const rec = recorder();
    twin.startManual(rec.sink);
    twin.advanceTo(3_000);
    expect(twin.observers).toEqual(["O"]);
    expect(["O", "A", "B", "C"].every((id) => twin.isHeard(id))).toBe(true);
    twin.failNode("B");
    const heard = rec.of("C").length;
    const unheard = twin.stats.roundsUnheard;
    twin.advanceTo(8_000);
    expect(twin.isHeard("C")).toBe(false);
    expect(twin.nodeState("C")).toMatchObject({ down: false, heard: false });
    expect(rec.of("C")).toHaveLength(heard);
    expect(twin.stats.roundsUnheard).toBeGreaterThan(unheard);
    twin.recoverNode("B");
    twin.advanceTo(10_000);
    expect(rec.of("C").length).toBeGreaterThan(heard);
  });

  it("an observer that crashes takes its uplink with it: only the other observers still hear the mesh", () => {
    const twin = new MeshTwin({ topology: handmade(["O1", "A", "O2"], ["O1-A", "A-O2"], { gateways: ["O1", "O2"] }) });
    twin.startManual(() => undefined);
    twin.failNode("O1");
    expect(twin.isHeard("A")).toBe(true);
    twin.failNode("O2");
    expect(twin.isHeard("A")).toBe(false);
  });
});
