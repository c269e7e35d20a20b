import type { Fault } from "../../domains/chaos/index.ts";
import {
  bestRoutesTo,
  CommandApplied,
  CommandFailed,
  healOutcomeSubject,
  type HealingCommandIssued,
  type Route,
  type RouteTopology,
  type TrafficSource,
} from "../../domains/healing/index.ts";
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
import { encodeCbor, sealEvent, type SealedEvent, type SealOptions } from "../../streams/envelope.ts";
import type { AppendOptions, AppendResult, Producer } from "../../streams/event-store.ts";
import { answerCommand, type CommandOutcome } from "./commands.ts";
import { injectFault, type ActiveFault } from "./faults.ts";
import type { LinkMetrics } from "./link-model.ts";
import { MeshModel } from "./mesh-model.ts";
import { FLOOD_FACTOR, round, type ByzantineBehaviour, type DirectedLink, type GatewaySetting, type RateLimitRule, type SimulatedNode } from "./node.ts";
import { availability, believedTopology, believedTq, routeTopology, type Availability, type AvailabilityOptions } from "./routing.ts";
import { generateTopology, loadMeshviewer, meanDegree, type MeshTopology } from "./topology.ts";

export { nodeKeySeed } from "./node.ts";

/**
 * batman-adv's TQ is an average over a window of OGMs, not the radio of this instant: a link
 * that degrades or dies shows in its TQ, and in its routes, seconds later. The twin keeps
 * batman-adv's view of every direction as an exponential average of the true TQ with this time
 * constant, updated at every metric round whether or not the node is heard; it reports that
 * view as TQ and routes on it (`believedTopology`), so what the control plane reads is what
 * batman-adv decides on. Loss and latency (measured by the node agent's probes) and last-seen
 * are reported as they are now.
 */
export const BATMAN_TQ_TIME_CONSTANT_MS = 2_500;

const seeTq = (link: DirectedLink, tq: number, t: number): void => {
  const view = link.tqView;
  if (!view) {
    link.tqView = { tq, atMs: t };
    return;
  }
  const w = 1 - Math.exp(-Math.max(0, t - view.atMs) / BATMAN_TQ_TIME_CONSTANT_MS);
  view.tq += w * (tq - view.tq);
  view.atMs = t;
};

/** Reported as `software.x0` so operators can tell a simulated node from a real one. */
export const TWIN_SOFTWARE = "x0-twin/0.1";

/** What the twin needs of an event store: `EventStore` itself, or a stand-in in unit tests. */
export interface EventSink {
  append(event: SealedEvent, options?: AppendOptions): Promise<AppendResult>;
}

/** Marks on an event handed to a manual-mode sink. */
export interface ManualEventFlags {
  /** A byzantine bad-signatures node produced it: signed for real, consumers would quarantine it as `bad-signature`. */
  readonly badSignature: boolean;
  /**
   * The event as the node sealed it (`startManual(sink, { seal: true })`): signed with the
   * node's key (a bad-signatures node's wrong one), stamped with `atMs`, on its MESH subject.
   */
  readonly sealed?: SealedEvent;
}

/**
 * Receives every event of manual mode synchronously: `payload` is the payload of `definition`
 * as the node built it, `atMs` the time on the twin's timeline the node produced it, and with
 * `seal` the signed envelope a consumer must check before believing any of it.
 */
export type ManualSink = (nodeId: string, definition: EventDefinition, payload: unknown, atMs: number, flags: ManualEventFlags) => void;

export interface MeshTwinOptions {
  /** Size of a generated random geometric mesh. Default 50; ignored with `topologyFile` or `topology`. */
  readonly nodes?: number;
  /** A meshviewer.json to simulate instead of a generated mesh (loaded by `load()` or `start()`). */
  readonly topologyFile?: string;
  /** A topology built by the caller (e.g. `generateTopology` with other options). */
  readonly topology?: MeshTopology;
  /** Link and node metrics interval of every node, ms. Default 1 000. */
  readonly intervalMs?: number;
  /** Heartbeat interval of every node, ms. Default: `intervalMs`. */
  readonly heartbeatIntervalMs?: number;
  /** Seeds topology, MACs, keys, phases and every metric. Default 1. */
  readonly seed?: number;
  /** Stamps events and drives uptime in real-timer mode. Default: the system clock. Pacing always uses real timers. */
  readonly clock?: Clock;
  /**
   * Nodes uplinked to the control plane: a node is heard only while it has a working path to one.
   * Default: the topology's online gateways (meshviewer `is_gateway`), else 2-8 well-connected nodes.
   */
  readonly observers?: readonly string[];
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
  /** Its hard interfaces (`mesh0` radio, `mesh-vpn` tunnel, `mesh-lan` cable). */
  readonly interfaces: readonly string[];
}

/** A node's current state in the twin: faults on it, batman-adv settings, XDP rules. */
export interface TwinNodeState {
  readonly down: boolean;
  readonly hung: boolean;
  /** Its own events reach the control plane now. */
  readonly heard: boolean;
  readonly byzantine: readonly ByzantineBehaviour[];
  readonly hopPenalty: number;
  readonly interfaceHopPenalty: Readonly<Record<string, number>>;
  readonly gateway: GatewaySetting;
  readonly quarantined: readonly TrafficSource[];
  readonly rateLimits: readonly RateLimitRule[];
}

export interface TwinStats {
  /** Events acknowledged by the server (or handed to the manual sink), by type and in total. */
  readonly published: number;
  readonly publishedByType: Readonly<Record<string, number>>;
  /** Appends (or seals) that failed; the twin carried on. */
  readonly errors: number;
  readonly lastError: string | undefined;
  /** Reporting rounds not published because the node's previous round was still waiting for acks. */
  readonly roundsSkipped: number;
  /** Rounds of alive nodes the control plane could not hear: hung, or no working path to an observer. */
  readonly roundsUnheard: number;
  /** Neighbour entries left out because a link table exceeded the event's size limit. */
  readonly linksTrimmed: number;
  /** Nodes whose announcement the server acknowledged. */
  readonly announcedNodes: number;
  readonly inFlight: number;
}

/** What one tick of a node sends; built once, then sealed and appended, or handed to the manual sink. */
interface Tick {
  readonly announcement: AnnouncementPayload | undefined;
  readonly events: readonly { readonly definition: EventDefinition; readonly payload: unknown }[];
  readonly producer: Producer;
  readonly badSignature: boolean;
}

/** When a node's next metric round and next heartbeat fall (round numbers since start). */
interface Rounds {
  metric: number;
  heartbeat: number;
}

/** A binary min-heap of (time, node index): the manual driver's agenda. */
class Agenda {
  private readonly items: { t: number; i: number }[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): { t: number; i: number } | undefined {
    return this.items[0];
  }
  private less(a: { t: number; i: number }, b: { t: number; i: number }): boolean {
    return a.t !== b.t ? a.t < b.t : a.i < b.i;
  }
  push(item: { t: number; i: number }): void {
    const a = this.items;
    a.push(item);
    for (let k = a.length - 1; k > 0; ) {
      const p = (k - 1) >> 1;
      if (!this.less(a[k]!, a[p]!)) break;
      [a[k], a[p]] = [a[p]!, a[k]!];
      k = p;
    }
  }
  pop(): { t: number; i: number } | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let k = 0; ; ) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === k) break;
        [a[k], a[m]] = [a[m]!, a[k]!];
        k = m;
      }
    }
    return top;
  }
}

/** A LinkMetricsReported payload this large is checked against the event's limit before sealing. */
const LINKS_SIZE_CHECK_FROM = 96;
const MAX_CATCH_UP_ROUNDS = 1_000;

/**
 * A digital twin of a batman-adv mesh: every node publishes the same events a real node agent
 * would (NodeAnnounced, then HeartbeatSent every heartbeat interval, LinkMetricsReported and
 * NodeMetricsReported every interval), with its own deterministic Ed25519 key; carries out
 * healing commands as a node would; takes chaos faults.
 *
 * Two drivers share one node behaviour (`tick`):
 * - `start(store)`: real timers; events are sealed with each node's key and appended.
 * - `startManual(sink)` then `advanceTo(ms)`: simulated time; every round due up to `ms` runs in
 *   time order and its events go to a synchronous sink, sealed with each node's key and
 *   stamped with the simulated time when started with `seal: true` (signing costs CPU, not
 *   simulated time), else unsigned (unit tests of the model).
 *
 * Determinism: for a given seed the topology, MACs, keys, phases and the n-th report of every
 * node are the same on every run; in manual mode, with the same faults and commands at the same
 * times, so is every payload. Event ids and timestamps of sealed events are not: they come from
 * the clock and the system random source, so a re-run is never mistaken for a duplicate.
 */
export class MeshTwin {
  readonly intervalMs: number;
  readonly heartbeatIntervalMs: number;
  readonly seed: number;
  private readonly clock: Clock;
  private readonly maxInFlight: number;
  private readonly appendTimeoutMs: number;
  private readonly announceEveryMs: number;
  private model: MeshModel | undefined;
  private store: EventSink | undefined;
  private mode: "idle" | "timer" | "manual" = "idle";
  /** Per node index: the next metric round and heartbeat to run. */
  private rounds: Rounds[] = [];
  // Real-timer driver.
  private timers = new Map<SimulatedNode, NodeJS.Timeout>();
  private readonly pendingTicks = new Set<Promise<void>>();
  private startedAt = 0;
  private waiting: (() => void)[] = [];
  // Manual driver.
  private sink: ManualSink | undefined;
  private sealManual = false;
  private agenda = new Agenda();
  private simNowMs = 0;
  private readonly faults = new Map<string, ActiveFault>();
  private readonly phantoms = new Map<SimulatedNode, SimulatedNode | undefined>();
  private counters = {
    published: 0,
    publishedByType: {} as Record<string, number>,
    errors: 0,
    lastError: undefined as string | undefined,
    roundsSkipped: 0,
    roundsUnheard: 0,
    linksTrimmed: 0,
    inFlight: 0,
  };

  constructor(private readonly options: MeshTwinOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    if (!(this.intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${this.intervalMs}`);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? this.intervalMs;
    if (!(this.heartbeatIntervalMs > 0)) throw new RangeError(`heartbeatIntervalMs must be positive, got ${this.heartbeatIntervalMs}`);
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
    if (!this.model) this.build(await loadMeshviewer(this.options.topologyFile!));
    return this.model!.topology;
  }

  /** The simulated topology; undefined until `load()` when it comes from a file. */
  get topology(): MeshTopology | undefined {
    return this.model?.topology;
  }

  private get mesh(): MeshModel {
    if (!this.model) throw new Error("the topology file is not loaded yet: call load() first");
    return this.model;
  }

  /** Every node of the topology with its MACs, key and the neighbours it reports. */
  get nodes(): readonly TwinNodeInfo[] {
    const model = this.model;
    if (!model) return [];
    return model.nodes.map((n) => ({
      id: n.id,
      primaryMac: n.spec.primaryMac,
      macs: n.spec.macs,
      publicKey: n.producer.key.publicKey,
      keyId: n.producer.key.keyId,
      online: n.spec.online,
      neighbours: n.links.map((l) => model.nodes[l.to]!.id),
      interfaces: [...n.interfaces].sort(),
    }));
  }

  /** Ids of the nodes uplinked to the control plane (see `MeshTwinOptions.observers`). */
  get observers(): readonly string[] {
    const model = this.model;
    return model ? model.observers.map((i) => model.nodes[i]!.id) : [];
  }

  /** Whether the twin has a node with this id. */
  has(nodeId: string): boolean {
    return this.model?.byId.has(nodeId) ?? false;
  }

  get stats(): TwinStats {
    const c = this.counters;
    return {
      published: c.published,
      publishedByType: { ...c.publishedByType },
      errors: c.errors,
      lastError: c.lastError,
      roundsSkipped: c.roundsSkipped,
      roundsUnheard: c.roundsUnheard,
      linksTrimmed: c.linksTrimmed,
      announcedNodes: this.model?.nodes.filter((n) => n.announcedAt !== undefined).length ?? 0,
      inFlight: c.inFlight,
    };
  }

  /** A one-line summary of the mesh, for logs. */
  describe(): string {
    const t = this.model?.topology;
    if (!t) return "topology not loaded";
    const online = t.nodes.filter((n) => n.online).length;
    const heartbeat = this.heartbeatIntervalMs === this.intervalMs ? "" : `, heartbeat ${this.heartbeatIntervalMs} ms`;
    return (
      `${t.nodes.length} nodes (${online} online), ${t.links.length} links, mean degree ${meanDegree(t).toFixed(1)}, ${t.source}, ` +
      `seed ${this.seed}, interval ${this.intervalMs} ms${heartbeat}, observers ${this.observers.join(" ")}`
    );
  }

  private build(topology: MeshTopology): void {
    this.model = new MeshModel(topology, {
      seed: this.seed,
      intervalMs: this.intervalMs,
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...(this.options.observers ? { observers: this.options.observers } : {}),
    });
    for (const node of this.model.nodes) node.warmUp(node.spec.baseline.uptimeSeconds ?? 0);
  }

  /** The current time on the twin's timeline: simulated in manual mode, the clock's otherwise. */
  get now(): number {
    return this.mode === "manual" ? this.simNowMs : this.clock.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Drivers

  /**
   * Starts every online node on its own phase within the interval. Resolves once all are
   * scheduled; announcements and reports then flow until `stop()`. Append failures are counted
   * (see `stats`) and never stop the twin: a node whose announcement failed retries it next round.
   */
  async start(store: EventSink): Promise<void> {
    if (this.mode !== "idle") throw new Error(`the twin is already running (${this.mode} mode)`);
    await this.load();
    this.store = store;
    this.mode = "timer";
    this.startedAt = performance.now();
    this.rounds = this.mesh.nodes.map(() => ({ metric: 0, heartbeat: 0 }));
    const now = this.clock.now();
    for (const node of this.mesh.nodes) {
      node.bootedAt = now - (node.spec.baseline.uptimeSeconds ?? 0) * 1000;
      if (node.spec.online) this.schedule(node);
    }
  }

  /**
   * Manual mode: nothing runs until `advanceTo`. The timeline starts at `startAtMs` (default 0);
   * node uptimes count from there. With `seal`, every event reaches the sink sealed as well
   * (`flags.sealed`). Call `load()` first for a topology file.
   */
  startManual(sink: ManualSink, options: { readonly startAtMs?: number; readonly seal?: boolean } = {}): void {
    if (this.mode !== "idle") throw new Error(`the twin is already running (${this.mode} mode)`);
    const mesh = this.mesh;
    this.mode = "manual";
    this.sink = sink;
    this.sealManual = options.seal ?? false;
    this.simNowMs = options.startAtMs ?? 0;
    this.startedAt = this.simNowMs;
    this.rounds = mesh.nodes.map(() => ({ metric: 0, heartbeat: 0 }));
    this.agenda = new Agenda();
    for (const node of mesh.nodes) {
      node.bootedAt = this.simNowMs - (node.spec.baseline.uptimeSeconds ?? 0) * 1000;
      if (node.spec.online) this.agenda.push({ t: this.nextDue(node), i: node.index });
    }
  }

  /**
   * Runs every round due up to `ms` (inclusive) in time order, ties by node index, handing each
   * event to the sink; then the timeline stands at `ms`. Faults and commands between two calls
   * take effect at the time the previous call left the timeline at.
   */
  advanceTo(ms: number): void {
    if (this.mode !== "manual") throw new Error("advanceTo needs manual mode: call startManual() first");
    if (ms < this.simNowMs) throw new RangeError(`cannot go back in time: at ${this.simNowMs}, asked for ${ms}`);
    const mesh = this.mesh;
    for (let next = this.agenda.peek(); next && next.t <= ms; next = this.agenda.peek()) {
      this.agenda.pop();
      const node = mesh.nodes[next.i]!;
      const rounds = this.rounds[node.index]!;
      const metric = this.metricDue(node, rounds.metric) <= next.t;
      const heartbeat = this.heartbeatDue(node, rounds.heartbeat) <= next.t;
      if (metric) rounds.metric++;
      if (heartbeat) rounds.heartbeat++;
      this.simNowMs = next.t;
      const tick = this.tick(node, next.t, metric, heartbeat, false);
      if (tick) this.emit(node, tick, next.t);
      this.agenda.push({ t: this.nextDue(node), i: node.index });
    }
    this.simNowMs = ms;
  }

  /** Stops scheduling and waits for rounds already publishing (each bounded by the append timeout). */
  async stop(): Promise<void> {
    this.mode = "idle";
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    while (this.pendingTicks.size > 0) await Promise.allSettled([...this.pendingTicks]);
  }

  private heartbeatPhase(node: SimulatedNode): number {
    return node.phaseMs % this.heartbeatIntervalMs;
  }
  private metricDue(node: SimulatedNode, k: number): number {
    return this.startedAt + node.phaseMs + k * this.intervalMs;
  }
  private heartbeatDue(node: SimulatedNode, k: number): number {
    return this.startedAt + this.heartbeatPhase(node) + k * this.heartbeatIntervalMs;
  }
  private nextDue(node: SimulatedNode): number {
    const rounds = this.rounds[node.index]!;
    return Math.min(this.metricDue(node, rounds.metric), this.heartbeatDue(node, rounds.heartbeat));
  }

  /** Rounds fall due at fixed times (start + phase + k·interval), so nothing drifts. */
  private schedule(node: SimulatedNode): void {
    if (this.mode !== "timer") return;
    const timer = setTimeout(() => this.fire(node), Math.max(0, this.nextDue(node) - performance.now()));
    this.timers.set(node, timer);
  }

  private fire(node: SimulatedNode): void {
    if (this.mode !== "timer") return;
    const now = performance.now();
    const rounds = this.rounds[node.index]!;
    const t = this.clock.now();
    // If the event loop fell behind, rounds already past are skipped, not bunched up.
    const lateMetric = Math.floor((now - this.startedAt - node.phaseMs) / this.intervalMs);
    let metric = false;
    if (lateMetric >= rounds.metric) {
      const missed = lateMetric - rounds.metric;
      // Catch the models up so round n stays round n; after a long suspension (laptop lid) give up on that.
      for (let i = 0; i < Math.min(missed, MAX_CATCH_UP_ROUNDS); i++) this.sample(node, t);
      this.counters.roundsSkipped += missed;
      rounds.metric = lateMetric + 1;
      metric = true;
    }
    const lateHeartbeat = Math.floor((now - this.startedAt - this.heartbeatPhase(node)) / this.heartbeatIntervalMs);
    const heartbeat = lateHeartbeat >= rounds.heartbeat;
    if (heartbeat) rounds.heartbeat = lateHeartbeat + 1;
    this.schedule(node);
    if (!metric && !heartbeat) return;
    const tick = this.tick(node, t, metric, heartbeat, node.busy);
    if (!tick) return;
    const pending = this.publishTick(node, tick, t).finally(() => this.pendingTicks.delete(pending));
    this.pendingTicks.add(pending);
  }

  // ---------------------------------------------------------------------------------------------
  // Node behaviour, shared by both drivers

  private sample(node: SimulatedNode, t: number) {
    const mesh = this.mesh;
    mesh.prepareSample(node, t);
    return node.sampleRound(this.intervalMs, {
      factor: node.has("flood") ? FLOOD_FACTOR : 1,
      extraBytesPerSecond: mesh.floodInto(node, t),
    });
  }

  /**
   * One tick of a node at `t`: draws the metric round's samples (always, so the models stay in
   * step whatever happens to the node), then says what leaves the node: nothing when it is down,
   * still waiting for acks (`busy`), hung or cut off from every observer; else its announcement
   * when due, the heartbeat and the reports.
   */
  private tick(node: SimulatedNode, t: number, metric: boolean, heartbeat: boolean, busy: boolean): Tick | undefined {
    const sample = metric ? this.sample(node, t) : undefined;
    // batman-adv's view moves on whether or not anyone hears the node.
    if (sample) for (const s of sample.links) seeTq(s.link, s.tq, t);
    if (!node.alive) return undefined;
    if (busy) {
      if (metric) this.counters.roundsSkipped++;
      return undefined;
    }
    if (!this.mesh.heard(node, t)) {
      this.counters.roundsUnheard++;
      return undefined;
    }
    const { id } = node;
    const events: { definition: EventDefinition; payload: unknown }[] = [];
    if (heartbeat) events.push({ definition: HeartbeatSent, payload: { nodeId: id, uptime: round(Math.max(0, t - node.bootedAt) / 1000, 2) } });
    if (sample) {
      events.push({ definition: LinkMetricsReported, payload: { nodeId: id, links: this.linkEntries(node, sample.links, t) } });
      events.push({ definition: NodeMetricsReported, payload: { nodeId: id, ...sample.metrics } });
    }
    const announce = node.announcedAt === undefined || t - node.announcedAt >= this.announceEveryMs;
    return {
      announcement: announce ? this.announcement(node) : undefined,
      events,
      producer: node.signingProducer(),
      badSignature: node.has("bad-signatures"),
    };
  }

  /** Manual mode: the sink takes everything synchronously, so an announcement counts as stored at once. */
  private emit(node: SimulatedNode, tick: Tick, t: number): void {
    const sink = this.sink!;
    const unsealed = { badSignature: tick.badSignature };
    // The node's clock reads the simulated time: occurredAt and the UUIDv7 ids follow it.
    const clock = { now: () => t };
    const flags = (definition: EventDefinition, payload: unknown): ManualEventFlags =>
      this.sealManual
        ? {
            badSignature: tick.badSignature,
            sealed: sealEvent(definition, payload, {
              subject: meshSubject(node.id, definition.type as keyof typeof meshSubjectKind),
              key: tick.producer.key,
              producerId: node.id,
              clock,
            }),
          }
        : unsealed;
    if (tick.announcement) {
      sink(node.id, NodeAnnounced, tick.announcement, t, flags(NodeAnnounced, tick.announcement));
      this.count(NodeAnnounced.type);
      node.announcedAt = t;
    }
    for (const e of tick.events) {
      sink(node.id, e.definition, e.payload, t, flags(e.definition, e.payload));
      this.count(e.definition.type);
    }
  }

  /** Real-timer mode: nothing else until the announcement is stored (consumers would refuse reports from an unknown key). */
  private async publishTick(node: SimulatedNode, tick: Tick, t: number): Promise<void> {
    node.busy = true;
    try {
      if (tick.announcement) {
        if (!(await this.publish(node, tick.producer, NodeAnnounced, tick.announcement))) return;
        node.announcedAt = t;
      }
      await Promise.all(tick.events.map((e) => this.publish(node, tick.producer, e.definition, e.payload)));
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
   * batctl-style neighbour entries. A lying node claims a perfect link to every neighbour and a
   * phantom one to a node it has no link with: its neighbours' reports contradict the first, and
   * the phantom's own table never lists it back.
   */
  private linkEntries(node: SimulatedNode, samples: readonly (LinkMetrics & { link: DirectedLink })[], t: number): LinkSample[] {
    let entries: LinkSample[] = samples.map((s) => ({
      neigh_address: s.link.neighMac,
      hard_ifname: s.link.hardIfname,
      tq: believedTq(s.link) ?? s.tq,
      last_seen_msecs: s.last_seen_msecs,
      throughput: s.throughput,
      loss: s.loss,
      latency_ms: s.latency_ms,
    }));
    if (node.has("lie")) {
      entries = entries.map((e) => ({ ...e, tq: 255, loss: 0, last_seen_msecs: Math.min(e.last_seen_msecs, 200), latency_ms: 1, throughput: 65_000 }));
      const phantom = this.phantomOf(node);
      if (phantom) {
        entries.push({ neigh_address: phantom.spec.primaryMac, hard_ifname: "mesh0", tq: 255, last_seen_msecs: 100, throughput: 65_000, loss: 0, latency_ms: 1 });
      }
    }
    return this.fitLinks(entries);
  }

  /** The lowest-index online node a liar has no link with (none in a full mesh). */
  private phantomOf(node: SimulatedNode): SimulatedNode | undefined {
    if (!this.phantoms.has(node)) {
      const mesh = this.mesh;
      const linked = new Set<number>([node.index]);
      for (const l of mesh.links) {
        if (l.from === node.index) linked.add(l.to);
        if (l.to === node.index) linked.add(l.from);
      }
      this.phantoms.set(node, mesh.nodes.find((n) => n.spec.online && !linked.has(n.index)));
    }
    return this.phantoms.get(node);
  }

  /**
   * The event allows 256 entries but only 40 KiB: a larger table (a VPN gateway of a big
   * community) first loses its optional `hard_ifname`s, then its weakest-TQ neighbours,
   * counted in `stats.linksTrimmed`.
   */
  private fitLinks(entries: LinkSample[]): LinkSample[] {
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

  private count(type: string): void {
    this.counters.published++;
    this.counters.publishedByType[type] = (this.counters.publishedByType[type] ?? 0) + 1;
  }

  /** Seals and appends one event within the in-flight window; false (and counted) on failure. */
  private async publish(node: SimulatedNode, producer: Producer, definition: EventDefinition, payload: unknown): Promise<boolean> {
    await this.acquire();
    try {
      const event = producer.seal(definition, payload, meshSubject(node.id, definition.type as keyof typeof meshSubjectKind));
      await this.store!.append(event, { timeoutMs: this.appendTimeoutMs });
      this.count(definition.type);
      return true;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      this.counters.errors++;
      this.counters.lastError = `${node.id} ${definition.type}: ${err.message}`;
      this.options.onError?.(err, node.id);
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

  // ---------------------------------------------------------------------------------------------
  // Faults

  /** Takes a node off the air: it stops reporting and its neighbours lose it. */
  failNode(nodeId: string): void {
    const mesh = this.mesh;
    mesh.node(nodeId).downBy.add("fail");
    mesh.changed();
  }

  /** Brings a node taken down by `failNode` back as after a reboot (unless a crash fault still holds it down). */
  recoverNode(nodeId: string): void {
    const mesh = this.mesh;
    const node = mesh.node(nodeId);
    if (!node.downBy.delete("fail")) return;
    mesh.changed();
    if (!node.down) node.reboot(this.now);
  }

  /** Lays extra loss (0-1) on both directions of every link between two nodes; 0 restores them. */
  impairLink(nodeA: string, nodeB: string, extraLoss: number): void {
    const mesh = this.mesh;
    const links = mesh.linksBetween(mesh.node(nodeA), mesh.node(nodeB));
    if (links.length === 0) throw new RangeError(`no link between ${nodeA} and ${nodeB}`);
    for (const l of links) {
      if (extraLoss > 0) mesh.setEffect(l, "impair", { loss: Math.min(1, extraLoss), latencyMs: 0 });
      else mesh.deleteEffect(l, "impair");
    }
  }

  /**
   * Injects a chaos fault now (see faults.ts for what each kind does). An id already injected is
   * cleared first, so injecting is idempotent. Throws `FaultTargetError` for unknown nodes or links.
   */
  inject(faultId: string, fault: Fault): void {
    this.clear(faultId);
    this.faults.set(faultId, injectFault(this.mesh, faultId, fault, this.now));
  }

  /** Clears a fault: exactly what it added is taken back (a crashed node reboots). False when it was not injected. */
  clear(faultId: string): boolean {
    const active = this.faults.get(faultId);
    if (!active) return false;
    this.faults.delete(faultId);
    const now = this.now;
    for (const node of active.undo()) node.reboot(now);
    return true;
  }

  /** Faults injected and not cleared, by id. */
  get activeFaults(): ReadonlyMap<string, Fault> {
    return new Map([...this.faults].map(([id, f]) => [id, f.fault]));
  }

  // ---------------------------------------------------------------------------------------------
  // Healing commands

  /**
   * Carries out a healing command on its target node now, as the node's agent would, and returns
   * its outcome payload. `repeated`: the command id was answered before; this is that answer
   * again and must not be published twice. Undefined when the node cannot answer: it is down,
   * hung, or cut off from every observer (the command never reaches it; the loop's deadline
   * handles that). Throws RangeError for a node the twin does not have.
   */
  applyCommand(command: HealingCommandIssued): { readonly outcome: CommandOutcome; readonly repeated: boolean } | undefined {
    const mesh = this.mesh;
    const node = mesh.node(command.targetNodeId);
    const t = this.now;
    if (!mesh.heard(node, t)) return undefined;
    return answerCommand(mesh, node, command, t, this.seed);
  }

  /**
   * Seals an outcome as the target node, with that node's key (or, under a bad-signatures fault,
   * with its key id and a wrong signature, as its other events), on `heal.<nodeId>.outcome`.
   */
  sealOutcome(outcome: CommandOutcome, options: Omit<SealOptions, "subject" | "key" | "producerId" | "clock"> = {}): SealedEvent {
    const node = this.mesh.node(outcome.payload.targetNodeId);
    const subject = healOutcomeSubject(node.id);
    const producer = node.signingProducer();
    return outcome.type === "heal.CommandApplied"
      ? producer.seal(CommandApplied, outcome.payload, subject, options)
      : producer.seal(CommandFailed, outcome.payload, subject, options);
  }

  // ---------------------------------------------------------------------------------------------
  // Routing, reachability, traffic

  /** A node's state now: faults, batman-adv settings, XDP rules. */
  nodeState(nodeId: string): TwinNodeState {
    const mesh = this.mesh;
    const node = mesh.node(nodeId);
    return {
      down: node.down,
      hung: node.hung,
      heard: mesh.heard(node, this.now),
      byzantine: [...new Set(node.byzantine.values())],
      hopPenalty: node.hopPenalty,
      interfaceHopPenalty: Object.fromEntries(node.interfaceHopPenalty),
      gateway: node.gateway,
      quarantined: [...node.quarantined.values()],
      rateLimits: [...node.rateLimits.values()],
    };
  }

  /** Whether the control plane hears the node's own events now (alive, not hung, a working path to an observer). */
  isHeard(nodeId: string): boolean {
    const mesh = this.mesh;
    return mesh.heard(mesh.node(nodeId), this.now);
  }

  /** The route-cost view of the mesh now: working directions with their true TQ, each node's penalties. */
  routeTopology(): RouteTopology {
    return routeTopology(this.mesh, this.now);
  }

  /**
   * The route-cost view batman-adv routes on now: every direction with the TQ of its window
   * average (the TQ it reports), each node's penalties as they are now (a new penalty travels
   * with the next OGM). A direction that dies leaves it as its average decays.
   */
  believedTopology(): RouteTopology {
    return believedTopology(this.mesh);
  }

  /** Every node's best route to `destination` now, as batman-adv converges to it. */
  routes(destination: string): ReadonlyMap<string, Route> {
    return bestRoutesTo(this.routeTopology(), destination);
  }

  /** Availability now: see routing.ts (`availability`) for the pairs and the delivery threshold. */
  availability(options: AvailabilityOptions = {}): Availability {
    return availability(this.mesh, this.now, this.seed, options);
  }

  /** Packets per second `atNodeId` accepts from its neighbour `sourceNodeId` now (after its rate limits and drop rules). */
  trafficSeenPps(sourceNodeId: string, atNodeId: string): number {
    const mesh = this.mesh;
    return mesh.trafficSeenPps(mesh.node(sourceNodeId), mesh.node(atNodeId), this.now);
  }
}

type AnnouncementPayload = typeof NodeAnnounced.schema.Type;
