import { createHash } from "node:crypto";
import type { EventDefinition } from "../../domains/kernel/index.ts";
import {
  HeartbeatSent,
  LinkMetricsReported,
  meshSubject,
  meshSubjectKind,
  NodeAnnounced,
  NodeMetricsReported,
  type LinkSample,
} from "../../domains/mesh/index.ts";
import { systemClock, type Clock } from "../../streams/clock.ts";
import { encodeCbor, type SealedEvent } from "../../streams/envelope.ts";
import { Producer, type AppendOptions, type AppendResult } from "../../streams/event-store.ts";
import { signingKeyFromSeed } from "../../streams/keys.ts";
import { LinkModel, linkConditions, type LinkMetrics } from "./link-model.ts";
import { Rng } from "./rng.ts";
import { generateTopology, loadMeshviewer, meanDegree, type LinkKind, type MeshNodeSpec, type MeshTopology } from "./topology.ts";

/** Reported as `software.x0` so operators can tell a simulated node from a real one. */
export const TWIN_SOFTWARE = "x0-twin/0.1";

/** What the twin needs of an event store: `EventStore` itself, or a stand-in in unit tests. */
export interface EventSink {
  append(event: SealedEvent, options?: AppendOptions): Promise<AppendResult>;
}

export interface MeshTwinOptions {
  /** Size of a generated random geometric mesh. Default 50; ignored with `topologyFile` or `topology`. */
  readonly nodes?: number;
  /** A meshviewer.json to simulate instead of a generated mesh (loaded by `load()` or `start()`). */
  readonly topologyFile?: string;
  /** A topology built by the caller (e.g. `generateTopology` with other options). */
  readonly topology?: MeshTopology;
  /** Reporting interval of every node, ms. Default 1 000. */
  readonly intervalMs?: number;
  /** Seeds topology, MACs, keys, phases and every metric. Default 1. */
  readonly seed?: number;
  /** Stamps events and drives uptime. Default: the system clock. Pacing always uses real timers. */
  readonly clock?: Clock;
  /** Appends awaiting acknowledgement at once, across all nodes. Default 64. */
  readonly maxInFlight?: number;
  /** Acknowledgement timeout of one append, ms. Default: twice the interval, at least 2 000. */
  readonly appendTimeoutMs?: number;
  /**
   * A node announces itself again this often, ms, as respondd re-sends nodeinfo: a knowledge
   * base that starts after the first announcement aged out of MESH still learns the key.
   * Default 300 000 (5 min).
   */
  readonly announceEveryMs?: number;
  /** Called on every failed append or seal (the twin keeps going). Default: none. */
  readonly onError?: (error: Error, nodeId: string) => void;
}

/** A simulated node as the outside world can check it. */
export interface TwinNodeInfo {
  readonly id: string;
  readonly primaryMac: string;
  readonly macs: readonly string[];
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  /** Offline nodes of a snapshot never publish. */
  readonly online: boolean;
  /** Node ids this node lists in its LinkMetricsReported (one entry per link, so a neighbour may repeat). */
  readonly neighbours: readonly string[];
}

export interface TwinStats {
  /** Events acknowledged by the server, by type and in total. */
  readonly published: number;
  readonly publishedByType: Readonly<Record<string, number>>;
  /** Appends (or seals) that failed; the twin carried on. */
  readonly errors: number;
  readonly lastError: string | undefined;
  /** Reporting rounds not published because the node's previous round was still waiting for acks. */
  readonly roundsSkipped: number;
  /** Neighbour entries left out because a link table exceeded the event's size limit. */
  readonly linksTrimmed: number;
  /** Nodes whose announcement the server acknowledged. */
  readonly announcedNodes: number;
  readonly inFlight: number;
}

/**
 * Derives a node's Ed25519 seed from the twin seed, the node's index and id: the same twin seed
 * gives every node the same key on every run, so a restarted simulation is the same mesh to the
 * control plane (trust on first use accepts it).
 */
export const nodeKeySeed = (seed: number, index: number, nodeId: string): Uint8Array =>
  new Uint8Array(createHash("sha256").update(`x0tta6bl4/twin/node-key/v1\n${seed}\n${index}\n${nodeId}`).digest());

const HARD_IFNAME: Record<LinkKind, string> = { wifi: "mesh0", vpn: "mesh-vpn", other: "mesh-lan" };
/** Size of one OGM on the air with its headers; batman-adv IV floods each originator's OGM every interval. */
const OGM_BYTES = 60;
const OGM_INTERVAL_MS = 1_000;
/** A LinkMetricsReported payload this large is checked against the event's limit before sealing. */
const LINKS_SIZE_CHECK_FROM = 96;
const MAX_CATCH_UP_ROUNDS = 1_000;

interface NeighbourLink {
  readonly neighbour: number;
  readonly neighMac: string;
  readonly hardIfname: string;
  readonly model: LinkModel;
}

/** One simulated node: its key, its link models and its counters. */
class SimulatedNode {
  readonly producer: Producer;
  readonly links: NeighbourLink[] = [];
  readonly phaseMs: number;
  readonly rng: Rng;
  busy = false;
  down = false;
  announcedAt: number | undefined;
  bootedAt = 0;
  private cpu: number;
  private loadavg: number;
  private memoryUsage: number;
  private clients: number;
  private readonly memoryTotal: number;
  private readonly traffic = { rx_bytes: 0, tx_bytes: 0, forward_bytes: 0, mgmt_rx_bytes: 0, mgmt_tx_bytes: 0 };
  private readonly nproc: number;

  constructor(
    readonly spec: MeshNodeSpec,
    seed: number,
    intervalMs: number,
    private readonly originators: number,
    clock: Clock | undefined,
  ) {
    this.producer = new Producer(spec.id, signingKeyFromSeed(nodeKeySeed(seed, spec.index, spec.id)), clock);
    this.rng = new Rng(seed, 0x6e6f6465, spec.index);
    // Spread the nodes over the interval so the server sees a steady stream, not a burst per second.
    this.phaseMs = this.rng.float() * intervalMs;
    this.nproc = spec.hardware.nproc ?? 1;
    this.memoryTotal = memoryTotalKiB(spec, this.rng);
    this.memoryUsage = spec.baseline.memoryUsage ?? 0.4 + 0.3 * this.rng.float();
    this.loadavg = spec.baseline.loadavg ?? 0.1 + 0.4 * this.rng.float();
    this.cpu = Math.min(1, this.loadavg / this.nproc);
    this.clients = spec.baseline.clients ?? this.rng.int(10);
  }

  /** Traffic counters as a node up for `uptimeSeconds` would show them, so they do not start at zero. */
  warmUp(uptimeSeconds: number): void {
    const perSecond = this.trafficPerSecond();
    for (const key of Object.keys(this.traffic) as (keyof typeof this.traffic)[]) {
      this.traffic[key] = Math.floor(perSecond[key] * uptimeSeconds * (0.8 + 0.4 * this.rng.float()));
    }
  }

  /** Bytes per second each counter grows by with the node's current clients and links. */
  private trafficPerSecond() {
    // ~4 kB/s per client on average (web, messaging) with wide spread; forwarding grows with degree.
    const client = this.clients * 4_000;
    const degree = this.links.length;
    const ogms = (this.originators * 1_000) / OGM_INTERVAL_MS;
    return {
      rx_bytes: client * 1.0 + 200,
      tx_bytes: client * 0.25 + 200,
      forward_bytes: degree * 1_500,
      mgmt_tx_bytes: ogms * OGM_BYTES,
      mgmt_rx_bytes: ogms * OGM_BYTES * Math.max(1, degree) * 0.8,
    };
  }

  /** Draws the next round's samples: links, then node metrics. The n-th call gives the same for a given seed. */
  sampleRound(intervalMs: number): { links: (LinkMetrics & { link: NeighbourLink })[]; metrics: Omit<NodeMetricsPayload, "nodeId"> } {
    const links = this.links.map((link) => ({ ...link.model.sample(), link }));
    const rng = this.rng;
    const seconds = intervalMs / 1000;

    // Clients come and go slowly; CPU and memory wander around the node's own level.
    if (rng.float() < 0.05 * seconds) this.clients = Math.max(0, this.clients + (rng.float() < 0.5 ? -1 : 1));
    const baseCpu = Math.min(0.95, (this.spec.baseline.loadavg ?? 0.2) / this.nproc + 0.01 * this.clients);
    this.cpu = clamp(0.7 * this.cpu + 0.3 * baseCpu + 0.04 * rng.normal(), 0, 1);
    // Load average is a 1-minute exponential average of runnable tasks.
    const decay = Math.exp(-seconds / 60);
    this.loadavg = Math.max(0, decay * this.loadavg + (1 - decay) * (this.cpu * this.nproc + 0.05 * Math.abs(rng.normal())));
    const baseMemory = this.spec.baseline.memoryUsage ?? 0.5;
    this.memoryUsage = clamp(0.9 * this.memoryUsage + 0.1 * baseMemory + 0.01 * rng.normal(), 0.05, 0.98);

    const perSecond = this.trafficPerSecond();
    for (const key of Object.keys(this.traffic) as (keyof typeof this.traffic)[]) {
      this.traffic[key] += Math.floor(perSecond[key] * seconds * Math.exp(0.3 * rng.normal()));
    }
    return {
      links,
      metrics: {
        cpu: round(this.cpu, 3),
        loadavg: round(this.loadavg, 2),
        memory: { total: this.memoryTotal, available: Math.floor(this.memoryTotal * (1 - this.memoryUsage)) },
        traffic: { ...this.traffic },
        clients: this.clients,
      },
    };
  }

  /** A reboot: uptime and counters start again from zero. */
  reboot(now: number): void {
    this.bootedAt = now;
    this.announcedAt = undefined;
    for (const key of Object.keys(this.traffic) as (keyof typeof this.traffic)[]) this.traffic[key] = 0;
  }
}

type NodeMetricsPayload = typeof NodeMetricsReported.schema.Type;

/**
 * A digital twin of a batman-adv mesh: every node signs and publishes the same events a real
 * node agent would (NodeAnnounced, then HeartbeatSent, LinkMetricsReported and
 * NodeMetricsReported every interval), with its own deterministic Ed25519 key.
 *
 * Determinism: for a given seed the topology, MACs, keys, phases and the n-th report of every
 * node are the same on every run. Event ids and timestamps are not: they come from the clock
 * and the system random source, so a re-run is never mistaken for a duplicate by the server.
 */
export class MeshTwin {
  readonly intervalMs: number;
  readonly seed: number;
  private readonly clock: Clock;
  private readonly maxInFlight: number;
  private readonly appendTimeoutMs: number;
  private readonly announceEveryMs: number;
  private topologyValue: MeshTopology | undefined;
  private simulated: SimulatedNode[] = [];
  private byId = new Map<string, SimulatedNode>();
  private store: EventSink | undefined;
  private timers = new Map<SimulatedNode, NodeJS.Timeout>();
  private readonly rounds = new Set<Promise<void>>();
  private running = false;
  private startedAt = 0;
  private waiting: (() => void)[] = [];
  private counters = {
    published: 0,
    publishedByType: {} as Record<string, number>,
    errors: 0,
    lastError: undefined as string | undefined,
    roundsSkipped: 0,
    linksTrimmed: 0,
    inFlight: 0,
  };

  constructor(private readonly options: MeshTwinOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    if (!(this.intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.intervalMs}`);
    this.seed = options.seed ?? 1;
    this.clock = options.clock ?? systemClock;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 64);
    this.appendTimeoutMs = options.appendTimeoutMs ?? Math.max(2_000, 2 * this.intervalMs);
    this.announceEveryMs = options.announceEveryMs ?? 300_000;
    if (options.topology) this.build(options.topology);
    else if (!options.topologyFile) this.build(generateTopology({ nodes: options.nodes ?? 50, seed: this.seed }));
  }

  /** Loads the topology file if there is one (idempotent); `start` calls it. */
  async load(): Promise<MeshTopology> {
    if (!this.topologyValue) this.build(await loadMeshviewer(this.options.topologyFile!));
    return this.topologyValue!;
  }

  /** The simulated topology; undefined until `load()` when it comes from a file. */
  get topology(): MeshTopology | undefined {
    return this.topologyValue;
  }

  /** Every node of the topology with its MACs, key and the neighbours it reports. */
  get nodes(): readonly TwinNodeInfo[] {
    return this.simulated.map((n) => ({
      id: n.spec.id,
      primaryMac: n.spec.primaryMac,
      macs: n.spec.macs,
      publicKey: n.producer.key.publicKey,
      keyId: n.producer.key.keyId,
      online: n.spec.online,
      neighbours: n.links.map((l) => this.simulated[l.neighbour]!.spec.id),
    }));
  }

  get stats(): TwinStats {
    const c = this.counters;
    return {
      published: c.published,
      publishedByType: { ...c.publishedByType },
      errors: c.errors,
      lastError: c.lastError,
      roundsSkipped: c.roundsSkipped,
      linksTrimmed: c.linksTrimmed,
      announcedNodes: this.simulated.filter((n) => n.announcedAt !== undefined).length,
      inFlight: c.inFlight,
    };
  }

  /** A one-line summary of the mesh, for logs. */
  describe(): string {
    const t = this.topologyValue;
    if (!t) return "topology not loaded";
    const online = t.nodes.filter((n) => n.online).length;
    return `${t.nodes.length} nodes (${online} online), ${t.links.length} links, mean degree ${meanDegree(t).toFixed(1)}, ${t.source}, seed ${this.seed}, interval ${this.intervalMs} ms`;
  }

  private build(topology: MeshTopology): void {
    this.topologyValue = topology;
    const online = topology.nodes.filter((n) => n.online).length;
    this.simulated = topology.nodes.map((spec) => new SimulatedNode(spec, this.seed, this.intervalMs, online, this.options.clock));
    this.byId = new Map(this.simulated.map((n) => [n.spec.id, n]));
    topology.links.forEach((link, i) => {
      for (const from of ["a", "b"] as const) {
        const self = from === "a" ? link.a : link.b;
        const other = from === "a" ? link.b : link.a;
        const recordedTq = from === "a" ? link.tqAB : link.tqBA;
        // A snapshot's TQ of 0 means this end did not list the neighbour; neither do we.
        if (recordedTq === 0) continue;
        if (!topology.nodes[self]!.online || !topology.nodes[other]!.online) continue;
        const dir = from === "a" ? 0 : 1;
        const conditions = linkConditions(link, from, {
          rng: new Rng(this.seed, 0x6c6b636e, i, dir),
          ...(topology.radioRangeM !== undefined ? { radioRangeM: topology.radioRangeM } : {}),
        });
        this.simulated[self]!.links.push({
          neighbour: other,
          neighMac: from === "a" ? link.bMac : link.aMac,
          hardIfname: HARD_IFNAME[link.kind],
          model: new LinkModel(conditions, new Rng(this.seed, 0x6c6b736d, i, dir), { ogmIntervalMs: OGM_INTERVAL_MS }),
        });
      }
    });
    for (const node of this.simulated) node.warmUp(node.spec.baseline.uptimeSeconds ?? 0);
  }

  /**
   * Starts every online node on its own phase within the interval. Resolves once all are
   * scheduled; announcements and reports then flow until `stop()`. Append failures are counted
   * (see `stats`) and never stop the twin: a node whose announcement failed retries it next round.
   */
  async start(store: EventSink): Promise<void> {
    if (this.running) throw new Error("the twin is already running");
    await this.load();
    this.store = store;
    this.running = true;
    this.startedAt = performance.now();
    const now = this.clock.now();
    for (const node of this.simulated) {
      node.bootedAt = now - (node.spec.baseline.uptimeSeconds ?? 0) * 1000;
      if (node.spec.online) this.schedule(node, 0);
    }
  }

  /** Stops scheduling and waits for rounds already publishing (each bounded by the append timeout). */
  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    while (this.rounds.size > 0) await Promise.allSettled([...this.rounds]);
  }

  /** Takes a node off the air: it stops reporting and its neighbours lose it. */
  failNode(nodeId: string): void {
    const node = this.node(nodeId);
    node.down = true;
    this.setNeighbourLoss(node, 1);
  }

  /** Brings a failed node back as after a reboot: it announces again and its counters restart. */
  recoverNode(nodeId: string): void {
    const node = this.node(nodeId);
    if (!node.down) return;
    node.down = false;
    node.reboot(this.clock.now());
    this.setNeighbourLoss(node, 0);
  }

  /** Lays extra loss (0-1) on both directions of every link between two nodes; 0 restores them. */
  impairLink(nodeA: string, nodeB: string, extraLoss: number): void {
    const a = this.node(nodeA);
    const b = this.node(nodeB);
    const ia = a.spec.index;
    const ib = b.spec.index;
    let found = false;
    for (const l of a.links) if (l.neighbour === ib) (l.model.impair(extraLoss), (found = true));
    for (const l of b.links) if (l.neighbour === ia) (l.model.impair(extraLoss), (found = true));
    if (!found) throw new RangeError(`no link between ${nodeA} and ${nodeB}`);
  }

  private node(nodeId: string): SimulatedNode {
    const node = this.byId.get(nodeId);
    if (!node) throw new RangeError(`no node ${nodeId} in the twin`);
    return node;
  }

  private setNeighbourLoss(node: SimulatedNode, loss: number): void {
    for (const l of node.links) {
      l.model.impair(loss);
      for (const back of this.simulated[l.neighbour]!.links) if (back.neighbour === node.spec.index) back.model.impair(loss);
    }
  }

  /** Round `k` of a node falls due at start + phase + k·interval: fixed times, so no drift. */
  private schedule(node: SimulatedNode, k: number): void {
    if (!this.running) return;
    const due = this.startedAt + node.phaseMs + k * this.intervalMs;
    const timer = setTimeout(() => this.fire(node, k), Math.max(0, due - performance.now()));
    this.timers.set(node, timer);
  }

  private fire(node: SimulatedNode, k: number): void {
    if (!this.running) return;
    // If the event loop fell behind, rounds that are already past are skipped, not bunched up.
    const late = Math.floor((performance.now() - this.startedAt - node.phaseMs) / this.intervalMs);
    const missed = Math.max(0, late - k);
    // Catch the models up so round n stays round n; after a long suspension (laptop lid) give up on that.
    for (let i = 0; i < Math.min(missed, MAX_CATCH_UP_ROUNDS); i++) node.sampleRound(this.intervalMs);
    this.counters.roundsSkipped += missed;
    this.schedule(node, Math.max(k, late) + 1);
    if (node.down || node.busy) {
      // Down, or the previous round still waits for acks (server slow or away): keep the models in step.
      node.sampleRound(this.intervalMs);
      if (!node.down) this.counters.roundsSkipped++;
      return;
    }
    const pending = this.report(node).finally(() => this.rounds.delete(pending));
    this.rounds.add(pending);
  }

  private async report(node: SimulatedNode): Promise<void> {
    node.busy = true;
    try {
      const sample = node.sampleRound(this.intervalMs);
      const now = this.clock.now();
      if (node.announcedAt === undefined || now - node.announcedAt >= this.announceEveryMs) {
        // Nothing else until the key is on the stream: consumers would refuse a report from an unknown producer.
        if (!(await this.publish(node, NodeAnnounced, () => this.announcement(node)))) return;
        node.announcedAt = now;
      }
      const { id } = node.spec;
      await Promise.all([
        this.publish(node, HeartbeatSent, () => ({ nodeId: id, uptime: round(Math.max(0, now - node.bootedAt) / 1000, 2) })),
        this.publish(node, LinkMetricsReported, () => ({ nodeId: id, links: this.fitLinks(sample.links) })),
        this.publish(node, NodeMetricsReported, () => ({ nodeId: id, ...sample.metrics })),
      ]);
    } finally {
      node.busy = false;
    }
  }

  private announcement(node: SimulatedNode): AnnouncementPayload {
    const { spec, producer } = node;
    return {
      nodeId: spec.id,
      publicKey: producer.key.publicKey,
      ...(spec.hostname ? { hostname: spec.hostname } : {}),
      primaryMac: spec.primaryMac,
      macs: [...spec.macs],
      hardware: { ...spec.hardware },
      software: { ...(spec.firmware ? { firmware: spec.firmware } : {}), x0: TWIN_SOFTWARE },
      ...(spec.location ? { location: { ...spec.location } } : {}),
    };
  }

  /**
   * batctl-style neighbour entries. The event allows 256 entries but only 16 KiB, about 125 full
   * entries: a larger table (a VPN gateway of a big community) first loses its optional
   * `hard_ifname`s, then its weakest-TQ neighbours, counted in `stats.linksTrimmed`.
   */
  private fitLinks(samples: readonly (LinkMetrics & { link: NeighbourLink })[]): LinkSample[] {
    const entries: LinkSample[] = samples.map((s) => ({
      neigh_address: s.link.neighMac,
      hard_ifname: s.link.hardIfname,
      tq: s.tq,
      last_seen_msecs: s.last_seen_msecs,
      throughput: s.throughput,
      loss: s.loss,
      latency_ms: s.latency_ms,
    }));
    if (entries.length < LINKS_SIZE_CHECK_FROM) return entries;
    const limit = LinkMetricsReported.maxPayloadBytes;
    // Measured with the longest node id, so the limit holds for every node.
    const size = (list: readonly LinkSample[]) => encodeCbor({ nodeId: "x".repeat(64), links: list }).length;
    if (entries.length <= 256 && size(entries) <= limit) return entries;
    let bare: LinkSample[] = entries.map(({ hard_ifname: _ifname, ...rest }) => rest);
    if (bare.length > 256 || size(bare) > limit) {
      bare = bare.sort((x, y) => y.tq - x.tq).slice(0, 256);
      // Entries are nearly equal in size: estimate how many fit, then confirm.
      let keep = Math.min(bare.length, Math.floor((bare.length * limit) / size(bare)) + 1);
      while (keep > 0 && size(bare.slice(0, keep)) > limit) keep--;
      this.counters.linksTrimmed += entries.length - keep;
      bare = bare.slice(0, keep);
    }
    return bare;
  }

  /** Seals and appends one event within the in-flight window; false (and counted) on failure. */
  private async publish<D extends EventDefinition>(node: SimulatedNode, definition: D, payload: () => D["schema"]["Type"]): Promise<boolean> {
    await this.acquire();
    try {
      const event = node.producer.seal(definition, payload(), meshSubject(node.spec.id, definition.type as keyof typeof meshSubjectKind));
      await this.store!.append(event, { timeoutMs: this.appendTimeoutMs });
      this.counters.published++;
      this.counters.publishedByType[definition.type] = (this.counters.publishedByType[definition.type] ?? 0) + 1;
      return true;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      this.counters.errors++;
      this.counters.lastError = `${node.spec.id} ${definition.type}: ${err.message}`;
      this.options.onError?.(err, node.spec.id);
      return false;
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    if (this.counters.inFlight < this.maxInFlight) {
      this.counters.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiter, so the count never overshoots the window. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.counters.inFlight--;
  }
}

type AnnouncementPayload = typeof NodeAnnounced.schema.Type;

/**
 * Memory as /proc/meminfo MemTotal reports it, KiB: 32 MB boards (WR841 and kin) show ~28 MiB,
 * quad-core single-board computers a few GiB, other routers 64 or 128 MB.
 */
const memoryTotalKiB = (spec: MeshNodeSpec, rng: Rng): number => {
  const model = spec.hardware.model ?? "";
  if ((spec.hardware.nproc ?? 1) >= 4) return 3_884_848;
  if (/WR8[0-4]\dN|WR7[0-4]\dN|WA8[0-9]\dN|WR940N/i.test(model)) return 27_948;
  return rng.float() < 0.5 ? 59_180 : 123_432;
};

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
