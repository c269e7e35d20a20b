/**
 * Monitor: folds what the mesh reports (announcements, heartbeats, link tables, node
 * metrics, refused signatures) into the state Analyze needs, and answers "what is wrong at
 * time t" as findings for the planner.
 *
 * No I/O and no clock: every event comes with its time (the envelope's occurredAt), and
 * `findings(nowMs)` judges silence at the time it is given. Mutable inside for speed (10 000
 * nodes reporting every 250 ms), deterministic from the calls it receives.
 *
 * | option | default |
 * |---|---|
 * | `detector` | failure-detector defaults (threshold 8) |
 * | `link` | link-degradation defaults, but `warmUpSamples` 30 and `enterAfter` 5 (a radio link's spread needs more than 10 samples to show, and fading lasts seconds; a severe change still degrades at once), and TQ `{ enter: 0.95, exit: 0.5 }`: TQ is batman-adv's slow window average, so degradation is judged on the agent's loss and latency probes and on TQ only when it collapses |
 * | `deadTq` (a neighbour's TQ at or below it: the link is dead) | 5 |
 * | `deadLastSeenMs` (a neighbour unheard this long, batman-adv's `last_seen_msecs`, is dead too: TQ is a window average and falls late) | 5 000 |
 * | `deadAfter` (consecutive dead reports before a link between heard nodes counts as dead) | 3 |
 * | `usefulTq` (a link whose baseline TQ stays below it in both directions is never blamed: it dropping out is radio life) | 64 |
 * | `observers` (nodes whose reports reach the control plane directly) | every heard node |
 * | `classifyWithinMs` (longest wait for a neighbour's report before telling dead from hung) | 1 500 |
 * | `floodFactor` (tx rate over its own baseline that is a flood) | 5 |
 * | `minFloodBytesPerSecond` (of its own transmit bytes, not what it forwards) | 3 000 |
 * | `lieTq` (claims at least this TQ to a neighbour that, reporting too, does not list it at all) | 250 |
 * | `lieAfter` (consecutive reports with such a claim) | 3 |
 * | `badSignaturesToFlag` (refused signatures within `badSignatureWindowMs`) | 3 in 60 000 ms |
 */
import type { LinkMetricsReported, LinkSample, NodeAnnounced, NodeMetricsReported } from "../mesh/index.ts";
import { initialDetectorState, intervalStatistics, phi, recordHeartbeat, type DetectorState, type FailureDetectorOptions } from "./failure-detector.ts";
import { initialLinkState, observeLinkSample, type LinkDegradationOptions, type LinkDegradationState } from "./link-degradation.ts";
import type { Finding, NodeFlags } from "./plan.ts";
import { localizeRootCauses, type Link } from "./root-cause.ts";
import type { RouteLink } from "./route-cost.ts";

export interface MonitorOptions {
  readonly detector?: FailureDetectorOptions;
  readonly link?: LinkDegradationOptions;
  readonly deadTq?: number;
  readonly deadAfter?: number;
  readonly deadLastSeenMs?: number;
  readonly usefulTq?: number;
  readonly observers?: readonly string[];
  readonly classifyWithinMs?: number;
  readonly floodFactor?: number;
  readonly minFloodBytesPerSecond?: number;
  readonly lieTq?: number;
  readonly lieAfter?: number;
  readonly badSignaturesToFlag?: number;
  readonly badSignatureWindowMs?: number;
}

/** A finding with the time its first evidence appeared. */
export type TimedFinding = Finding & { readonly onsetAt: number };

interface ReportedLink {
  /** The neighbour's interface MAC on this link (`neigh_address`): what XDP matches. */
  readonly mac: string;
  readonly tq: number;
  readonly loss: number;
  readonly latency_ms: number;
  readonly hardIf: string | undefined;
  /** batman-adv's `last_seen_msecs`: how long ago the neighbour was last heard. */
  readonly lastSeenMs: number;
}

interface DirectedLinkState {
  degradation: LinkDegradationState;
  /** When the current bad spell (dead or degraded) began; undefined while fine. */
  badSince: number | undefined;
  /** Consecutive reports at or below `deadTq`, and when the first of them came. */
  deadReports: number;
  deadSince: number | undefined;
}

interface NodeView {
  readonly id: string;
  macs: readonly string[];
  primaryMac: string | undefined;
  detector: DetectorState;
  /** Its latest link table, by neighbour id, and when it was reported. */
  links: Map<string, ReportedLink>;
  linksAt: number | undefined;
  /** Transmit counter and time of its previous metrics report. */
  lastTx: { bytes: number; at: number } | undefined;
  baselineTxRate: number | undefined;
  txRateSamples: number;
  /** Consecutive metrics reports above the flood threshold. */
  floodReports: number;
  flooding: boolean;
  floodingSince: number | undefined;
  lieStreak: number;
  lyingSince: number | undefined;
  badSignatureTimes: number[];
}

export interface NodeLiveness {
  readonly phi: number;
  readonly suspected: boolean;
  readonly lastHeartbeatAt: number | undefined;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const undirected = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

export class MeshMonitor {
  private readonly nodes = new Map<string, NodeView>();
  private readonly macOwner = new Map<string, string>();
  /** Every link ever reported, undirected: the physical adjacency root-cause works on. */
  private readonly adjacency = new Map<string, Link>();
  private readonly directed = new Map<string, DirectedLinkState>();
  private readonly options: Required<Omit<MonitorOptions, "detector" | "link" | "observers">> & Pick<MonitorOptions, "detector" | "link" | "observers">;

  constructor(options: MonitorOptions = {}) {
    this.options = {
      ...options,
      deadTq: options.deadTq ?? 5,
      deadAfter: options.deadAfter ?? 3,
      deadLastSeenMs: options.deadLastSeenMs ?? 5_000,
      usefulTq: options.usefulTq ?? 64,
      classifyWithinMs: options.classifyWithinMs ?? 1_500,
      floodFactor: options.floodFactor ?? 5,
      minFloodBytesPerSecond: options.minFloodBytesPerSecond ?? 3_000,
      lieTq: options.lieTq ?? 250,
      lieAfter: options.lieAfter ?? 3,
      badSignaturesToFlag: options.badSignaturesToFlag ?? 3,
      badSignatureWindowMs: options.badSignatureWindowMs ?? 60_000,
    };
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Node ids the monitor knows, sorted. */
  nodeIds(): string[] {
    return [...this.nodes.keys()].sort(compare);
  }

  private view(id: string): NodeView {
    let v = this.nodes.get(id);
    if (!v) {
      v = {
        id,
        macs: [],
        primaryMac: undefined,
        detector: initialDetectorState(this.options.detector),
        links: new Map(),
        linksAt: undefined,
        lastTx: undefined,
        baselineTxRate: undefined,
        txRateSamples: 0,
        floodReports: 0,
        flooding: false,
        floodingSince: undefined,
        lieStreak: 0,
        lyingSince: undefined,
        badSignatureTimes: [],
      };
      this.nodes.set(id, v);
    }
    return v;
  }

  /** A node (re)announced itself with its MACs. Counts as a sign of life. */
  announced(nodeId: string, primaryMac: string, macs: readonly string[], atMs: number): void {
    const v = this.view(nodeId);
    v.primaryMac = primaryMac;
    v.macs = [...new Set([primaryMac, ...macs])];
    for (const mac of v.macs) this.macOwner.set(mac, nodeId);
    v.detector = recordHeartbeat(v.detector, atMs);
  }

  heartbeat(nodeId: string, atMs: number): void {
    const v = this.view(nodeId);
    v.detector = recordHeartbeat(v.detector, atMs);
  }

  /** A node's link table. Neighbours are resolved through announced MACs; unknown MACs wait for their announcement. */
  linksReported(nodeId: string, samples: readonly LinkSample[], atMs: number): void {
    const v = this.view(nodeId);
    const previous = v.links;
    const links = new Map<string, ReportedLink>();
    for (const s of samples) {
      const neighbour = this.macOwner.get(s.neigh_address);
      if (neighbour === undefined || neighbour === nodeId) continue;
      // Several interfaces to one neighbour: keep the best, as batman-adv's router choice does.
      const seen = links.get(neighbour);
      if (seen && seen.tq >= s.tq) continue;
      links.set(neighbour, { mac: s.neigh_address, tq: s.tq, loss: s.loss, latency_ms: s.latency_ms, hardIf: s.hard_ifname, lastSeenMs: s.last_seen_msecs });
    }
    // A neighbour that vanished from the table is a dead link, reported with TQ 0, unless only
    // this node ever claimed the link: then it was never there (a liar's phantom), and goes.
    for (const [neighbour, old] of previous) {
      if (links.has(neighbour)) continue;
      if (this.nodes.get(neighbour)?.links.has(nodeId)) links.set(neighbour, { ...old, tq: 0, loss: 1, lastSeenMs: Infinity });
      else {
        this.directed.delete(`${nodeId}>${neighbour}`);
        if (!this.directed.has(`${neighbour}>${nodeId}`)) this.adjacency.delete(undirected(nodeId, neighbour));
      }
    }
    v.links = links;
    v.linksAt = atMs;
    for (const [neighbour, l] of links) {
      const key = undirected(nodeId, neighbour);
      if (!this.adjacency.has(key)) this.adjacency.set(key, nodeId < neighbour ? [nodeId, neighbour] : [neighbour, nodeId]);
      const d = this.directedState(nodeId, neighbour);
      const dead = this.isDead(l);
      if (!dead) d.degradation = observeLinkSample(d.degradation, l).state;
      d.deadReports = dead ? d.deadReports + 1 : 0;
      d.deadSince = dead ? (d.deadSince ?? atMs) : undefined;
      // A marginal radio link dips to nothing now and then: dead only when it stays so.
      const deadLasting = d.deadReports >= this.options.deadAfter;
      const bad = deadLasting || d.degradation.status === "degraded";
      d.badSince = bad ? (d.badSince ?? (deadLasting ? d.deadSince : atMs)) : undefined;
    }
    this.judgeClaims(v);
  }

  private isDead(l: ReportedLink): boolean {
    return l.tq <= this.options.deadTq || l.lastSeenMs >= this.options.deadLastSeenMs;
  }

  private directedState(from: string, to: string): DirectedLinkState {
    const key = `${from}>${to}`;
    let d = this.directed.get(key);
    if (!d) {
      d = { degradation: initialLinkState({ warmUpSamples: 30, enterAfter: 5, tq: { enter: 0.95, exit: 0.5 }, ...this.options.link }), badSince: undefined, deadReports: 0, deadSince: undefined };
      this.directed.set(key, d);
    }
    return d;
  }

  /**
   * A lie: the node claims a near-perfect link to a neighbour that reports its own table and
   * does not list it at all. A weak or faded direction is radio life; a perfect link only one
   * end knows of is made up.
   */
  private judgeClaims(v: NodeView): void {
    const { lieTq, lieAfter } = this.options;
    let lies = false;
    for (const [neighbour, l] of v.links) {
      if (l.tq < lieTq) continue;
      const other = this.nodes.get(neighbour);
      if (!other || other.linksAt === undefined) continue;
      if (!other.links.has(v.id)) lies = true;
    }
    v.lieStreak = lies ? v.lieStreak + 1 : 0;
    if (v.lieStreak >= lieAfter) v.lyingSince ??= v.linksAt;
    else if (v.lieStreak === 0) v.lyingSince = undefined;
  }

  /** Node metrics: the transmit rate against the node's own baseline tells a flood. */
  metricsReported(nodeId: string, txBytes: number, atMs: number): void {
    const v = this.view(nodeId);
    const last = v.lastTx;
    v.lastTx = { bytes: txBytes, at: atMs };
    if (!last || atMs <= last.at || txBytes < last.bytes) return; // first report, reordered, or counters reset by a reboot
    const rate = ((txBytes - last.bytes) * 1000) / (atMs - last.at);
    const base = v.baselineTxRate;
    const flood = base !== undefined && v.txRateSamples >= 20 && rate > Math.max(this.options.floodFactor * base, this.options.minFloodBytesPerSecond);
    if (flood) {
      // Three reports in a row: a burst (a backup, a video call) is not a flood.
      v.floodReports++;
      v.floodingSince ??= atMs;
      if (v.floodReports >= 3) v.flooding = true;
      return;
    }
    v.floodReports = 0;
    v.flooding = false;
    v.floodingSince = undefined;
    v.txRateSamples++;
    // Running mean while warming up, then a slow EWMA: a flood never teaches the baseline.
    const w = v.txRateSamples <= 5 ? 1 / v.txRateSamples : 0.05;
    v.baselineTxRate = base === undefined ? rate : base + w * (rate - base);
  }

  /** An event claiming to come from `producerId` failed signature verification. */
  badSignature(producerId: string, atMs: number): void {
    const v = this.nodes.get(producerId);
    if (!v) return; // not a node we know: nothing to quarantine
    v.badSignatureTimes.push(atMs);
    if (v.badSignatureTimes.length > 64) v.badSignatureTimes.splice(0, v.badSignatureTimes.length - 64);
  }

  liveness(nodeId: string, nowMs: number): NodeLiveness | undefined {
    const v = this.nodes.get(nodeId);
    if (!v) return undefined;
    const p = phi(v.detector, nowMs);
    return { phi: p, suspected: p >= v.detector.options.threshold, lastHeartbeatAt: v.detector.lastHeartbeatMs };
  }

  /** The node an announced MAC belongs to. */
  ownerOfMac(mac: string): string | undefined {
    return this.macOwner.get(mac);
  }

  /** The node's mesh MAC (what XDP at its neighbours matches). */
  macOf(nodeId: string): string | undefined {
    return this.nodes.get(nodeId)?.primaryMac;
  }

  /** What the planner knows of each node: MAC and misbehaviour flags. */
  flags(nowMs: number): Record<string, NodeFlags> {
    const out: Record<string, NodeFlags> = {};
    for (const v of this.nodes.values()) {
      const badSignatures = this.recentBadSignatures(v, nowMs) >= this.options.badSignaturesToFlag;
      const lying = v.lyingSince !== undefined;
      const f: { -readonly [K in keyof NodeFlags]: NodeFlags[K] } = {};
      if (v.primaryMac) f.mac = v.primaryMac;
      if (v.flooding) f.flooding = true;
      if (lying) f.lying = true;
      if (badSignatures) f.badSignatures = true;
      // ~500 bytes a packet: the node's normal packet rate, the limit a flood is held to.
      if (v.baselineTxRate !== undefined) f.baselinePps = Math.max(10, Math.round(v.baselineTxRate / 500));
      out[v.id] = f;
    }
    return out;
  }

  private recentBadSignatures(v: NodeView, nowMs: number): number {
    const from = nowMs - this.options.badSignatureWindowMs;
    let n = 0;
    for (const t of v.badSignatureTimes) if (t >= from && t <= nowMs) n++;
    return n;
  }

  /**
   * batman-adv's view as the reports give it: every directed link ever reported, with its
   * latest TQ and interface, for route-cost arithmetic. A dead link, or any link of a silent
   * node, has TQ 0: no route uses it, but the planner still sees who neighbours whom.
   */
  routeLinks(nowMs: number): RouteLink[] {
    const out: RouteLink[] = [];
    for (const v of this.nodes.values()) {
      const silent = this.suspected(v, nowMs);
      for (const [target, l] of v.links) {
        const tq = silent || this.isDead(l) ? 0 : l.tq;
        out.push(l.hardIf === undefined ? { source: v.id, target, tq } : { source: v.id, target, tq, hardIf: l.hardIf });
      }
    }
    return out;
  }

  /** The MAC `from` hears `to` with (its interface on their link), else `to`'s primary MAC. */
  neighbourMac(from: string, to: string): string | undefined {
    return this.nodes.get(from)?.links.get(to)?.mac ?? this.nodes.get(to)?.primaryMac;
  }

  /** The latest TQ `from` reports for `to`; undefined when it never listed it. */
  reportedTq(from: string, to: string): number | undefined {
    return this.nodes.get(from)?.links.get(to)?.tq;
  }

  /** Whether `from`'s latest report says it no longer hears `to` (TQ gone or unheard for `deadLastSeenMs`). */
  reportsDead(from: string, to: string): boolean | undefined {
    const l = this.nodes.get(from)?.links.get(to);
    return l === undefined ? undefined : this.isDead(l);
  }

  /** When `from` last reported its link table. */
  reportedAt(from: string): number | undefined {
    return this.nodes.get(from)?.linksAt;
  }

  /** Whether the directed link is currently degraded or dead as `from` reports it. */
  linkBad(from: string, to: string): boolean {
    return this.directed.get(`${from}>${to}`)?.badSince !== undefined;
  }

  private suspected(v: NodeView, nowMs: number): boolean {
    return phi(v.detector, nowMs) >= v.detector.options.threshold;
  }

  /**
   * What is wrong at `nowMs`: root causes of silence and bad links (`localizeRootCauses`),
   * then nodes that misbehave while heard. A silent node waits (up to `classifyWithinMs`)
   * until some heard neighbour has reported since it went quiet, so a crash (its
   * neighbours lose it) is told apart from a hang (they still hear it).
   */
  findings(nowMs: number): TimedFinding[] {
    const silent: string[] = [];
    const waiting = new Set<string>();
    const onset = new Map<string, number>();
    const dueAt = new Map<string, number>();
    for (const v of this.nodes.values()) {
      if (!this.suspected(v, nowMs)) continue;
      // Its heartbeats are refused for bad signatures, not missing: that is misbehaviour, found below.
      if (this.recentBadSignatures(v, nowMs) >= this.options.badSignaturesToFlag) continue;
      const last = v.detector.lastHeartbeatMs!;
      onset.set(v.id, last);
      // A report counts once the node's next heartbeat was due: before that it was still up.
      const due = last + intervalStatistics(v.detector).meanMs;
      dueAt.set(v.id, due);
      const around = [...this.neighboursOf(v.id)].map((n) => this.nodes.get(n)).filter((o): o is NodeView => o !== undefined && !this.suspected(o, nowMs));
      const evidence = around.some((o) => o.linksAt !== undefined && o.linksAt > due);
      // A neighbour that has not been heard since this node went quiet may be going quiet with
      // it (a group cut off at once): wait for it, so the group is judged as one.
      const goingQuiet = around.some((o) => (o.detector.lastHeartbeatMs ?? 0) <= due);
      if ((evidence && !goingQuiet) || nowMs - last >= this.options.classifyWithinMs) silent.push(v.id);
      else waiting.add(v.id);
    }
    // Silent neighbours are judged together: one still waiting keeps the others waiting, so a
    // group cut off as a whole is seen whole, not node by node.
    for (let moved = true; moved && waiting.size > 0; ) {
      moved = false;
      for (let i = silent.length - 1; i >= 0; i--) {
        const n = silent[i]!;
        if (nowMs - onset.get(n)! >= this.options.classifyWithinMs) continue;
        if ([...this.neighboursOf(n)].some((m) => waiting.has(m))) {
          waiting.add(n);
          silent.splice(i, 1);
          moved = true;
        }
      }
    }
    const silentSet = new Set(silent);
    const heard = (n: string) => !silentSet.has(n) && !waiting.has(n);
    const deadLinks: Link[] = [];
    const degradedLinks: Link[] = [];
    let anyBad = false;
    // A neighbour that has not reported since a node went quiet has no evidence it is alive:
    // its stale "link fine" must not turn a crash into a hang.
    // Towards a silent node, one report since it went quiet says enough: it hears the node or not.
    for (const n of silent) {
      const due = dueAt.get(n)!;
      for (const m of this.neighboursOf(n)) {
        const other = this.nodes.get(m);
        if (!other || !heard(m)) continue;
        const stale = other.linksAt === undefined || other.linksAt <= due;
        const link = other.links.get(n);
        if (stale || link === undefined || this.isDead(link)) deadLinks.push(n < m ? [n, m] : [m, n]);
      }
    }
    for (const [key, d] of this.directed) {
      if (d.badSince === undefined) continue;
      const [from, to] = key.split(">") as [string, string];
      if (!heard(from) || !heard(to)) continue;
      // Both ends must see it: a radio fades one direction at a time, while a cut, a jammer
      // or a failing interface hurts both. Each bad pair is taken once, from its smaller end.
      const back = this.directed.get(`${to}>${from}`);
      if (back !== undefined && (back.badSince === undefined || from > to)) continue;
      // Blame the link only once its far end showed life after it went bad; until then a
      // crash of that end looks the same and the failure detector decides.
      const far = this.nodes.get(to)?.detector.lastHeartbeatMs;
      if (far === undefined || far <= d.badSince) continue;
      if (!this.useful(from, to)) continue;
      anyBad = true;
      const forward = this.nodes.get(from)!.links.get(to);
      const backward = back ? this.nodes.get(to)!.links.get(from) : undefined;
      const link: Link = from < to ? [from, to] : [to, from];
      if ((forward === undefined || this.isDead(forward)) && (backward === undefined || this.isDead(backward))) deadLinks.push(link);
      else degradedLinks.push(link);
      const since = Math.max(d.badSince, back?.badSince ?? d.badSince);
      onset.set(undirected(from, to), Math.min(onset.get(undirected(from, to)) ?? Infinity, since));
    }
    const findings: TimedFinding[] = [];
    if (silent.length > 0 || anyBad) {
      const nodes = [...this.nodes.keys()].filter((n) => !waiting.has(n));
      const observers = this.options.observers ?? nodes.filter(heard);
      const causes = localizeRootCauses({
        nodes,
        links: [...this.adjacency.values()].filter(([a, b]) => !waiting.has(a) && !waiting.has(b)),
        silent,
        deadLinks,
        degradedLinks,
        observers,
      });
      for (const c of causes) {
        // Say which metrics left the baseline: what an operator checks first.
        const why = c.kind === "link-degraded" && c.blamed.kind === "link" ? this.degradedBy(c.blamed.link) : "";
        findings.push({ ...c, reason: why ? `${c.reason} (${why})` : c.reason, onsetAt: this.onsetOf(c, onset, nowMs) });
      }
    }
    for (const v of this.nodes.values()) {
      if (!heard(v.id)) continue;
      const reasons: string[] = [];
      let since = Infinity;
      if (v.flooding) (reasons.push("transmits far above its own baseline"), (since = Math.min(since, v.floodingSince!)));
      if (v.lyingSince !== undefined) (reasons.push("claims links its neighbours do not see"), (since = Math.min(since, v.lyingSince)));
      const bad = this.recentBadSignatures(v, nowMs);
      if (bad >= this.options.badSignaturesToFlag) {
        reasons.push(`${bad} events with bad signatures in ${this.options.badSignatureWindowMs / 1000} s`);
        since = Math.min(since, v.badSignatureTimes.find((t) => t >= nowMs - this.options.badSignatureWindowMs) ?? nowMs);
      }
      if (reasons.length === 0) continue;
      findings.push({ kind: "node-misbehaving", blamed: { kind: "node", node: v.id }, affected: [v.id], reason: `${v.id} ${reasons.join("; ")}`, onsetAt: since });
    }
    return findings;
  }

  /** Whether the link was worth having: its learnt TQ in some direction reached `usefulTq`. */
  private useful(a: string, b: string): boolean {
    const tq = (x: string, y: string) => this.directed.get(`${x}>${y}`)?.degradation.baseline?.tq ?? 0;
    return Math.max(tq(a, b), tq(b, a)) >= this.options.usefulTq;
  }

  private degradedBy([a, b]: Link): string {
    const metrics = new Set<string>();
    for (const key of [`${a}>${b}`, `${b}>${a}`]) for (const m of this.directed.get(key)?.degradation.triggeredBy ?? []) metrics.add(m);
    return [...metrics].sort().join(", ");
  }

  private *neighboursOf(nodeId: string): Iterable<string> {
    const v = this.nodes.get(nodeId);
    if (v) yield* v.links.keys();
    // Neighbours that list it, even if it never reported them.
    for (const other of this.nodes.values()) if (other.id !== nodeId && other.links.has(nodeId) && !v?.links.has(other.id)) yield other.id;
  }

  /** The earliest evidence behind a finding: a silent node's last heartbeat, a link's first bad report. */
  private onsetOf(c: Finding, onset: ReadonlyMap<string, number>, nowMs: number): number {
    const times: number[] = [];
    const b = c.blamed;
    if (b.kind === "node") {
      times.push(onset.get(b.node) ?? Infinity);
      if ("link" in b && b.link) times.push(onset.get(undirected(b.link[0], b.link[1])) ?? Infinity);
    } else if (b.kind === "link") times.push(onset.get(undirected(b.link[0], b.link[1])) ?? Infinity);
    else for (const l of b.links) times.push(onset.get(undirected(l[0], l[1])) ?? Infinity);
    for (const n of c.affected) times.push(onset.get(n) ?? Infinity);
    const t = Math.min(...times);
    return Number.isFinite(t) ? t : nowMs;
  }
}

/**
 * Feeds one MESH event (its wire type, producer and payload, at its occurrence time) to a
 * monitor: the one mapping from mesh events to Monitor calls, shared by the live controller
 * and simulations. Other types are ignored.
 */
export const observeMeshEvent = (monitor: MeshMonitor, type: string, nodeId: string, payload: unknown, atMs: number): void => {
  switch (type) {
    case "mesh.HeartbeatSent":
      monitor.heartbeat(nodeId, atMs);
      break;
    case "mesh.NodeAnnounced": {
      const p = payload as NodeAnnounced;
      monitor.announced(nodeId, p.primaryMac, p.macs, atMs);
      break;
    }
    case "mesh.LinkMetricsReported":
      monitor.linksReported(nodeId, (payload as LinkMetricsReported).links, atMs);
      break;
    case "mesh.NodeMetricsReported": {
      // What the node itself sends: forwarded bytes would flag the neighbours passing a flood on.
      const t = (payload as NodeMetricsReported).traffic;
      monitor.metricsReported(nodeId, t.tx_bytes + t.mgmt_tx_bytes, atMs);
      break;
    }
  }
};
