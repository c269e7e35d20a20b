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
 * | `deadLoss` (the agent's probes to a neighbour lose at least this share: the link is dead; TQ is a window average and falls late) | 0.95 |
 * | `deadLastSeenMs` (a neighbour unheard this long, batman-adv's `last_seen_msecs`, is dead too; OGMs are broadcast and never retried, so a lossy radio link goes unheard for several seconds now and then, and only a silence no loss explains counts) | 30 000 |
 * | `deadAfter` (consecutive dead reports before a link between heard nodes counts as dead) | 3 |
 * | `minLoss` (a link degraded by loss alone is blamed only while each direction loses at least this much: below it the radio's retries still deliver over 99 % of unicast frames, and a radio link's loss wanders that far by itself) | 0.5 |
 * | `usefulTq` (a link whose baseline TQ stays below it in either direction is never blamed: it dropping out is radio life, and batman-adv rates a neighbour with echoes of its own OGMs, so a link that loses most frames one way carries little either way) | 64 |
 * | `observers` (nodes whose reports reach the control plane directly) | every heard node |
 * | `classifyWithinMs` (longest wait for a neighbour's report before telling dead from hung; also how long the remnants of a dissolving partition or upstream failure are held back while its nodes come back) | 1 500 |
 * | `floodFactor` (tx rate over its own baseline that is a flood) | 5 |
 * | `minFloodBytesPerSecond` (of its own transmit bytes, not what it forwards; a quiet node whose clients come back moves from a few hundred bytes to a few kB per second) | 20 000 |
 * | `lieTq` (claims at least this TQ to a neighbour that, reporting too, does not list it at all) | 250 |
 * | `lieAfter` (consecutive reports with such a claim) | 3 |
 * | `badSignaturesToFlag` (refused signatures within `badSignatureWindowMs`) | 3 in 60 000 ms |
 */
import type { LinkMetricsReported, LinkSample, NodeAnnounced, NodeMetricsReported } from "../mesh/index.ts";
import { PagedColumn } from "./columns.ts";
import { HeartbeatWindows, type FailureDetectorOptions } from "./failure-detector.ts";
import { LinkDegradationTable, type LinkDegradationOptions } from "./link-degradation.ts";
import type { Finding, NodeFlags } from "./plan.ts";
import { localizeRootCauses, type Link, type RootCause } from "./root-cause.ts";
import type { RouteLink } from "./route-cost.ts";

export interface MonitorOptions {
  readonly detector?: FailureDetectorOptions;
  readonly link?: LinkDegradationOptions;
  readonly deadTq?: number;
  readonly deadAfter?: number;
  readonly deadLastSeenMs?: number;
  readonly deadLoss?: number;
  readonly minLoss?: number;
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

export interface NodeLiveness {
  readonly phi: number;
  readonly suspected: boolean;
  readonly lastHeartbeatAt: number | undefined;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const undirected = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

/**
 * A flat copy of a string. Strings decoded from an event are slices of the text of its whole
 * payload (cbor-x decodes all strings of a message at once), so one MAC kept from a link table
 * would keep the whole table's text alive: ids, MACs and interface names are copied once, when
 * first seen, and every later report refers to the copy. JSON round-trips every code unit exactly.
 */
const flatCopy = (s: string): string => JSON.parse(JSON.stringify(s)) as string;

/** Root causes of silence: the ones a healing cut dissolves. */
const SILENCE_KINDS: ReadonlySet<string> = new Set(["partition", "upstream-failure", "node-dead", "node-silent"]);

const MAX_COUNT = 0xffff_ffff;
/** 256 nodes, 4096 directed links per page of a column. */
const NODE_PAGE_BITS = 8;
const LINK_PAGE_BITS = 12;
const NONE = -1;

// Per-node flags: which optional values a node has.
const HAS_LINKS = 1;
const HAS_LAST_TX = 2;
const HAS_BASELINE_TX = 4;
const FLOODING = 8;
const HAS_FLOODING_SINCE = 16;
const HAS_LYING_SINCE = 32;
// Per-directed-link flags.
const HAS_BAD_SINCE = 1;
const HAS_DEAD_SINCE = 2;

/**
 * State is struct-of-arrays, sized for 10 000 nodes and their 80 000 directed links: a node is
 * an index (order of first sight) into typed-array columns, its heartbeat window a slot of a
 * `HeartbeatWindows`; a directed link (a line of a node's link table) is a slot into columns
 * holding the latest report of it, its dead/bad spell and its degradation detector (a slot
 * of a `LinkDegradationTable`). A node's link table is the list of its slots, in the order of
 * its report; a link that leaves every table frees its slot for the next new one. MACs and
 * interface names are interned. What the monitor answers is the same as with one object per
 * node and per link: only the storage changed.
 */
export class MeshMonitor {
  private readonly options: Required<Omit<MonitorOptions, "detector" | "link" | "observers">> & Pick<MonitorOptions, "detector" | "link" | "observers">;

  // Nodes, by index.
  private readonly ids: string[] = [];
  private readonly indexOf = new Map<string, number>();
  private readonly detectors: HeartbeatWindows;
  private readonly nodeFlags = new PagedColumn((n) => new Uint8Array(n), NODE_PAGE_BITS);
  private readonly primaryMac = new PagedColumn((n) => new Int32Array(n), NODE_PAGE_BITS);
  /** When the node last reported its link table. */
  private readonly linksAt = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  /** Transmit counter and time of its previous metrics report. */
  private readonly lastTxBytes = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  private readonly lastTxAt = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  private readonly baselineTxRate = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  private readonly txRateSamples = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  /** Consecutive metrics reports above the flood threshold. */
  private readonly floodReports = new PagedColumn((n) => new Uint32Array(n), NODE_PAGE_BITS);
  private readonly floodingSince = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  private readonly lieStreak = new PagedColumn((n) => new Uint32Array(n), NODE_PAGE_BITS);
  private readonly lyingSince = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  /** Each node's latest link table: its directed-link slots, in the order of its report. */
  private readonly tables: number[][] = [];
  /** Refused signatures of the nodes that had any, oldest first, at most 64. */
  private readonly badSignatureTimes = new Map<number, number[]>();
  /** Silent nodes a group finding (partition, upstream failure) covered, and when it last did. */
  private readonly coveredByGroupAt = new Map<string, number>();
  /** Keys of the silence findings of the previous call. */
  private previousSilence = new Set<string>();

  // Interned MACs (announced) and their owners; interned interface names.
  private readonly macIndex = new Map<string, number>();
  private readonly macs: string[] = [];
  private readonly macOwner: number[] = [];
  private readonly interfaceIndex = new Map<string, number>();
  private readonly interfaces: string[] = [];

  // Directed links, by slot.
  private slotsUsed = 0;
  private readonly freeSlots: number[] = [];
  private readonly linkTo = new PagedColumn((n) => new Int32Array(n), LINK_PAGE_BITS);
  /** The neighbour's interface MAC on this link (`neigh_address`, what XDP matches), interned. */
  private readonly linkMac = new PagedColumn((n) => new Int32Array(n), LINK_PAGE_BITS);
  private readonly linkInterface = new PagedColumn((n) => new Int32Array(n), LINK_PAGE_BITS);
  private readonly linkTq = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  private readonly linkLoss = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  private readonly linkLatency = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  /** batman-adv's `last_seen_msecs`: how long ago the neighbour was last heard. */
  private readonly linkLastSeen = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  private readonly linkFlags = new PagedColumn((n) => new Uint8Array(n), LINK_PAGE_BITS);
  /** Consecutive reports at or below `deadTq`, and when the first of them came. */
  private readonly deadReports = new PagedColumn((n) => new Uint32Array(n), LINK_PAGE_BITS);
  private readonly deadSince = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  /** When the current bad spell (dead or degraded) began. */
  private readonly badSince = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  /** The report (a running count) that last listed the slot: tells the lines a new report dropped. */
  private readonly listedIn = new PagedColumn((n) => new Uint32Array(n), LINK_PAGE_BITS);
  private reports = 0;
  private readonly degradation: LinkDegradationTable;
  private readonly nodeColumns = [this.nodeFlags, this.primaryMac, this.linksAt, this.lastTxBytes, this.lastTxAt, this.baselineTxRate, this.txRateSamples, this.floodReports, this.floodingSince, this.lieStreak, this.lyingSince];
  private readonly linkColumns = [this.linkTo, this.linkMac, this.linkInterface, this.linkTq, this.linkLoss, this.linkLatency, this.linkLastSeen, this.linkFlags, this.deadReports, this.deadSince, this.badSince, this.listedIn];

  constructor(options: MonitorOptions = {}) {
    this.options = {
      ...options,
      deadTq: options.deadTq ?? 5,
      deadAfter: options.deadAfter ?? 3,
      deadLastSeenMs: options.deadLastSeenMs ?? 30_000,
      deadLoss: options.deadLoss ?? 0.95,
      minLoss: options.minLoss ?? 0.5,
      usefulTq: options.usefulTq ?? 64,
      classifyWithinMs: options.classifyWithinMs ?? 1_500,
      floodFactor: options.floodFactor ?? 5,
      minFloodBytesPerSecond: options.minFloodBytesPerSecond ?? 20_000,
      lieTq: options.lieTq ?? 250,
      lieAfter: options.lieAfter ?? 3,
      badSignaturesToFlag: options.badSignaturesToFlag ?? 3,
      badSignatureWindowMs: options.badSignatureWindowMs ?? 60_000,
    };
    this.detectors = new HeartbeatWindows(options.detector);
    this.degradation = new LinkDegradationTable({ warmUpSamples: 30, enterAfter: 5, tq: { enter: 0.95, exit: 0.5 }, ...options.link });
  }

  get size(): number {
    return this.ids.length;
  }

  /** Node ids the monitor knows, sorted. */
  nodeIds(): string[] {
    return [...this.ids].sort(compare);
  }

  /** Per-node flags. */
  private has(v: number, flag: number): boolean {
    return (this.nodeFlags.get(v) & flag) !== 0;
  }

  private raise(v: number, flags: number): void {
    this.nodeFlags.set(v, this.nodeFlags.get(v) | flags);
  }

  private lower(v: number, flags: number): void {
    this.nodeFlags.set(v, this.nodeFlags.get(v) & ~flags);
  }

  private view(id: string): number {
    const known = this.indexOf.get(id);
    if (known !== undefined) return known;
    const i = this.ids.length;
    for (const column of this.nodeColumns) column.reserve(i + 1);
    const copy = flatCopy(id);
    this.ids.push(copy);
    this.indexOf.set(copy, i);
    this.primaryMac.set(i, NONE);
    this.tables.push([]);
    this.detectors.add();
    return i;
  }

  private macId(mac: string): number {
    let m = this.macIndex.get(mac);
    if (m === undefined) {
      m = this.macs.length;
      const copy = flatCopy(mac);
      this.macs.push(copy);
      this.macOwner.push(NONE);
      this.macIndex.set(copy, m);
    }
    return m;
  }

  private interfaceId(name: string | undefined): number {
    if (name === undefined) return NONE;
    let n = this.interfaceIndex.get(name);
    if (n === undefined) {
      n = this.interfaces.length;
      const copy = flatCopy(name);
      this.interfaces.push(copy);
      this.interfaceIndex.set(copy, n);
    }
    return n;
  }

  /** A node (re)announced itself with its MACs. Counts as a sign of life. */
  announced(nodeId: string, primaryMac: string, macs: readonly string[], atMs: number): void {
    const v = this.view(nodeId);
    this.primaryMac.set(v, this.macId(primaryMac));
    for (const mac of new Set([primaryMac, ...macs])) this.macOwner[this.macId(mac)] = v;
    this.detectors.record(v, atMs);
  }

  heartbeat(nodeId: string, atMs: number): void {
    this.detectors.record(this.view(nodeId), atMs);
  }

  /** The slot of the line for `to` in `from`'s link table; NONE when it has none. */
  private slotOf(from: number, to: number): number {
    if (from < 0 || to < 0) return NONE;
    for (const slot of this.tables[from]!) if (this.linkTo.get(slot) === to) return slot;
    return NONE;
  }

  /** A fresh line for `to` (in the table of the node being reported, which lists it). */
  private newSlot(to: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotsUsed++;
      for (const column of this.linkColumns) column.reserve(slot + 1);
    }
    this.linkTo.set(slot, to);
    this.linkFlags.set(slot, 0);
    this.deadReports.set(slot, 0);
    this.listedIn.set(slot, 0);
    this.degradation.reset(slot);
    return slot;
  }

  /** A node's link table. Neighbours are resolved through announced MACs; unknown MACs wait for their announcement. */
  linksReported(nodeId: string, samples: readonly LinkSample[], atMs: number): void {
    const v = this.view(nodeId);
    const previous = this.tables[v]!;
    const table: number[] = [];
    const report = (this.reports = this.reports === MAX_COUNT ? 1 : this.reports + 1);
    if (report === 1) for (let slot = 0; slot < this.slotsUsed; slot++) this.listedIn.set(slot, 0);
    for (const s of samples) {
      const m = this.macIndex.get(s.neigh_address);
      const neighbour = m === undefined ? NONE : this.macOwner[m]!;
      if (neighbour === NONE || neighbour === v) continue;
      let slot = NONE;
      for (const listed of table) if (this.linkTo.get(listed) === neighbour) slot = listed;
      if (slot !== NONE) {
        // Several interfaces to one neighbour: keep the best, as batman-adv's router choice does.
        if (this.linkTq.get(slot) >= s.tq) continue;
      } else {
        slot = this.slotOf(v, neighbour);
        if (slot === NONE) slot = this.newSlot(neighbour);
        this.listedIn.set(slot, report);
        table.push(slot);
      }
      this.linkMac.set(slot, m!);
      this.linkTq.set(slot, s.tq);
      this.linkLoss.set(slot, s.loss);
      this.linkLatency.set(slot, s.latency_ms);
      this.linkInterface.set(slot, this.interfaceId(s.hard_ifname));
      this.linkLastSeen.set(slot, s.last_seen_msecs);
    }
    // A neighbour that vanished from the table is a dead link, reported with TQ 0, unless only
    // this node ever claimed the link: then it was never there (a liar's phantom), and goes.
    for (const slot of previous) {
      if (this.listedIn.get(slot) === report) continue;
      if (this.slotOf(this.linkTo.get(slot), v) !== NONE) {
        this.linkTq.set(slot, 0);
        this.linkLoss.set(slot, 1);
        this.linkLastSeen.set(slot, Infinity);
        this.listedIn.set(slot, report);
        table.push(slot);
      } else this.freeSlots.push(slot);
    }
    this.tables[v] = table.length === previous.length && table.every((slot, k) => slot === previous[k]) ? previous : table;
    this.linksAt.set(v, atMs);
    this.raise(v, HAS_LINKS);
    for (const slot of table) {
      const dead = this.isDead(slot);
      if (!dead) this.degradation.observe(slot, this.linkTq.get(slot), this.linkLoss.get(slot), this.linkLatency.get(slot));
      const flags = this.linkFlags.get(slot);
      this.deadReports.set(slot, dead ? Math.min(this.deadReports.get(slot) + 1, MAX_COUNT) : 0);
      if (dead && !(flags & HAS_DEAD_SINCE)) this.deadSince.set(slot, atMs);
      // A marginal radio link dips to nothing now and then: dead only when it stays so.
      const deadLasting = this.deadReports.get(slot) >= this.options.deadAfter;
      const bad = deadLasting || this.degradation.statusOf(slot) === "degraded";
      if (bad && !(flags & HAS_BAD_SINCE)) this.badSince.set(slot, deadLasting ? this.deadSince.get(slot) : atMs);
      this.linkFlags.set(slot, (dead ? HAS_DEAD_SINCE : 0) | (bad ? HAS_BAD_SINCE : 0));
    }
    this.judgeClaims(v);
  }

  private isDead(slot: number): boolean {
    return this.linkTq.get(slot) <= this.options.deadTq || this.linkLoss.get(slot) >= this.options.deadLoss || this.linkLastSeen.get(slot) >= this.options.deadLastSeenMs;
  }

  /**
   * A lie: the node claims a near-perfect link to a neighbour that reports its own table and
   * does not list it at all. A weak or faded direction is radio life; a perfect link only one
   * end knows of is made up.
   */
  private judgeClaims(v: number): void {
    const { lieTq, lieAfter } = this.options;
    let lies = false;
    for (const slot of this.tables[v]!) {
      if (this.linkTq.get(slot) < lieTq) continue;
      const other = this.linkTo.get(slot);
      if (!this.has(other, HAS_LINKS)) continue;
      if (this.slotOf(other, v) === NONE) lies = true;
    }
    const streak = lies ? Math.min(this.lieStreak.get(v) + 1, MAX_COUNT) : 0;
    this.lieStreak.set(v, streak);
    if (streak >= lieAfter) {
      if (!this.has(v, HAS_LYING_SINCE)) {
        this.lyingSince.set(v, this.linksAt.get(v));
        this.raise(v, HAS_LYING_SINCE);
      }
    } else if (streak === 0) this.lower(v, HAS_LYING_SINCE);
  }

  /** Node metrics: the transmit rate against the node's own baseline tells a flood. */
  metricsReported(nodeId: string, txBytes: number, atMs: number): void {
    const v = this.view(nodeId);
    const flags = this.nodeFlags.get(v);
    const lastBytes = this.lastTxBytes.get(v);
    const lastAt = this.lastTxAt.get(v);
    this.lastTxBytes.set(v, txBytes);
    this.lastTxAt.set(v, atMs);
    this.raise(v, HAS_LAST_TX);
    if (!(flags & HAS_LAST_TX) || atMs <= lastAt || txBytes < lastBytes) return; // first report, reordered, or counters reset by a reboot
    const rate = ((txBytes - lastBytes) * 1000) / (atMs - lastAt);
    const hasBase = (flags & HAS_BASELINE_TX) !== 0;
    const base = this.baselineTxRate.get(v);
    const flood = hasBase && this.txRateSamples.get(v) >= 20 && rate > Math.max(this.options.floodFactor * base, this.options.minFloodBytesPerSecond);
    if (flood) {
      // Three reports in a row: a burst (a backup, a video call) is not a flood.
      const reports = Math.min(this.floodReports.get(v) + 1, MAX_COUNT);
      this.floodReports.set(v, reports);
      if (!(flags & HAS_FLOODING_SINCE)) this.floodingSince.set(v, atMs);
      this.raise(v, HAS_FLOODING_SINCE | (reports >= 3 ? FLOODING : 0));
      return;
    }
    this.floodReports.set(v, 0);
    this.lower(v, FLOODING | HAS_FLOODING_SINCE);
    const samples = this.txRateSamples.get(v) + 1;
    this.txRateSamples.set(v, samples);
    // Running mean while warming up, then a slow EWMA: a flood never teaches the baseline.
    const w = samples <= 5 ? 1 / samples : 0.05;
    this.baselineTxRate.set(v, hasBase ? base + w * (rate - base) : rate);
    this.raise(v, HAS_BASELINE_TX);
  }

  /** An event claiming to come from `producerId` failed signature verification. */
  badSignature(producerId: string, atMs: number): void {
    const v = this.indexOf.get(producerId);
    if (v === undefined) return; // not a node we know: nothing to quarantine
    let times = this.badSignatureTimes.get(v);
    if (!times) this.badSignatureTimes.set(v, (times = []));
    times.push(atMs);
    if (times.length > 64) times.splice(0, times.length - 64);
  }

  liveness(nodeId: string, nowMs: number): NodeLiveness | undefined {
    const v = this.indexOf.get(nodeId);
    if (v === undefined) return undefined;
    const p = this.detectors.phi(v, nowMs);
    return { phi: p, suspected: p >= this.detectors.options.threshold, lastHeartbeatAt: this.detectors.lastHeartbeatMs(v) };
  }

  /** The node an announced MAC belongs to. */
  ownerOfMac(mac: string): string | undefined {
    const m = this.macIndex.get(mac);
    const owner = m === undefined ? NONE : this.macOwner[m]!;
    return owner === NONE ? undefined : this.ids[owner];
  }

  private primaryMacOf(v: number): string | undefined {
    const m = this.primaryMac.get(v);
    return m === NONE ? undefined : this.macs[m];
  }

  /** The node's mesh MAC (what XDP at its neighbours matches). */
  macOf(nodeId: string): string | undefined {
    const v = this.indexOf.get(nodeId);
    return v === undefined ? undefined : this.primaryMacOf(v);
  }

  /** What the planner knows of each node: MAC and misbehaviour flags. */
  flags(nowMs: number): Record<string, NodeFlags> {
    const out: Record<string, NodeFlags> = {};
    for (let v = 0; v < this.ids.length; v++) {
      const flags = this.nodeFlags.get(v);
      const badSignatures = this.recentBadSignatures(v, nowMs) >= this.options.badSignaturesToFlag;
      const f: { -readonly [K in keyof NodeFlags]: NodeFlags[K] } = {};
      const mac = this.primaryMacOf(v);
      if (mac) f.mac = mac;
      if (flags & FLOODING) f.flooding = true;
      if (flags & HAS_LYING_SINCE) f.lying = true;
      if (badSignatures) f.badSignatures = true;
      // ~500 bytes a packet: the node's normal packet rate, the limit a flood is held to.
      if (flags & HAS_BASELINE_TX) f.baselinePps = Math.max(10, Math.round(this.baselineTxRate.get(v) / 500));
      out[this.ids[v]!] = f;
    }
    return out;
  }

  private recentBadSignatures(v: number, nowMs: number): number {
    const times = this.badSignatureTimes.get(v);
    if (!times) return 0;
    const from = nowMs - this.options.badSignatureWindowMs;
    let n = 0;
    for (const t of times) if (t >= from && t <= nowMs) n++;
    return n;
  }

  /**
   * batman-adv's view as the reports give it: every directed link ever reported, with its
   * latest TQ and interface, for route-cost arithmetic. A dead link, or any link of a silent
   * node, has TQ 0: no route uses it, but the planner still sees who neighbours whom.
   */
  routeLinks(nowMs: number): RouteLink[] {
    const out: RouteLink[] = [];
    for (let v = 0; v < this.ids.length; v++) {
      const silent = this.suspected(v, nowMs);
      const source = this.ids[v]!;
      for (const slot of this.tables[v]!) {
        const target = this.ids[this.linkTo.get(slot)]!;
        const tq = silent || this.isDead(slot) ? 0 : this.linkTq.get(slot);
        const hardIf = this.linkInterface.get(slot);
        out.push(hardIf === NONE ? { source, target, tq } : { source, target, tq, hardIf: this.interfaces[hardIf]! });
      }
    }
    return out;
  }

  private slotBetween(from: string, to: string): number {
    return this.slotOf(this.indexOf.get(from) ?? NONE, this.indexOf.get(to) ?? NONE);
  }

  /** The MAC `from` hears `to` with (its interface on their link), else `to`'s primary MAC. */
  neighbourMac(from: string, to: string): string | undefined {
    const slot = this.slotBetween(from, to);
    if (slot !== NONE) return this.macs[this.linkMac.get(slot)];
    return this.macOf(to);
  }

  /** The latest TQ `from` reports for `to`; undefined when it never listed it. */
  reportedTq(from: string, to: string): number | undefined {
    const slot = this.slotBetween(from, to);
    return slot === NONE ? undefined : this.linkTq.get(slot);
  }

  /** Whether `from`'s latest report says it no longer hears `to` (TQ gone or unheard for `deadLastSeenMs`). */
  reportsDead(from: string, to: string): boolean | undefined {
    const slot = this.slotBetween(from, to);
    return slot === NONE ? undefined : this.isDead(slot);
  }

  private reportedAtOf(v: number): number | undefined {
    return this.has(v, HAS_LINKS) ? this.linksAt.get(v) : undefined;
  }

  /** When `from` last reported its link table. */
  reportedAt(from: string): number | undefined {
    const v = this.indexOf.get(from);
    return v === undefined ? undefined : this.reportedAtOf(v);
  }

  /** Whether the directed link is currently degraded or dead as `from` reports it. */
  linkBad(from: string, to: string): boolean {
    const slot = this.slotBetween(from, to);
    return slot !== NONE && (this.linkFlags.get(slot) & HAS_BAD_SINCE) !== 0;
  }

  private suspected(v: number, nowMs: number): boolean {
    return this.detectors.phi(v, nowMs) >= this.detectors.options.threshold;
  }

  private badSinceOf(slot: number): number | undefined {
    return this.linkFlags.get(slot) & HAS_BAD_SINCE ? this.badSince.get(slot) : undefined;
  }

  /**
   * What is wrong at `nowMs`: root causes of silence and bad links (`localizeRootCauses`),
   * then nodes that misbehave while heard. A silent node waits (up to `classifyWithinMs`)
   * until some heard neighbour has reported since it went quiet, so a crash (its
   * neighbours lose it) is told apart from a hang (they still hear it).
   */
  findings(nowMs: number): TimedFinding[] {
    const ids = this.ids;
    const silent: number[] = [];
    const waiting = new Set<number>();
    const onset = new Map<string, number>();
    const dueAt = new Map<number, number>();
    for (let v = 0; v < ids.length; v++) {
      if (!this.suspected(v, nowMs)) continue;
      // Its heartbeats are refused for bad signatures, not missing: that is misbehaviour, found below.
      if (this.recentBadSignatures(v, nowMs) >= this.options.badSignaturesToFlag) continue;
      const last = this.detectors.lastHeartbeatMs(v)!;
      onset.set(ids[v]!, last);
      // A report counts once the node's next heartbeat was due: before that it was still up.
      const due = last + this.detectors.statistics(v).meanMs;
      dueAt.set(v, due);
      const around = this.neighboursOf(v).filter((o) => !this.suspected(o, nowMs));
      const evidence = around.some((o) => this.has(o, HAS_LINKS) && this.linksAt.get(o) > due);
      // A neighbour that has not been heard since this node went quiet may be going quiet with
      // it (a group cut off at once): wait for it, so the group is judged as one.
      const goingQuiet = around.some((o) => (this.detectors.lastHeartbeatMs(o) ?? 0) <= due);
      if ((evidence && !goingQuiet) || nowMs - last >= this.options.classifyWithinMs) silent.push(v);
      else waiting.add(v);
    }
    // Silent neighbours are judged together: one still waiting keeps the others waiting, so a
    // group cut off as a whole is seen whole, not node by node — also a node whose own wait is
    // over (its last heartbeat came a little before the cut): the neighbours it waits for went
    // quiet after it, and each waits at most `classifyWithinMs` from its own last heartbeat.
    for (let moved = true; moved && waiting.size > 0; ) {
      moved = false;
      for (let i = silent.length - 1; i >= 0; i--) {
        const n = silent[i]!;
        if (this.neighboursOf(n).some((m) => waiting.has(m))) {
          waiting.add(n);
          silent.splice(i, 1);
          moved = true;
        }
      }
    }
    const silentSet = new Set(silent);
    const heard = (n: number) => !silentSet.has(n) && !waiting.has(n);
    const deadLinks: Link[] = [];
    const degradedLinks: Link[] = [];
    let anyBad = false;
    const linkOf = (a: number, b: number): Link => (ids[a]! < ids[b]! ? [ids[a]!, ids[b]!] : [ids[b]!, ids[a]!]);
    // A neighbour that has not reported since a node went quiet has no evidence it is alive:
    // its stale "link fine" must not turn a crash into a hang.
    // Towards a silent node, one report since it went quiet says enough: it hears the node or not.
    for (const n of silent) {
      const due = dueAt.get(n)!;
      for (const m of this.neighboursOf(n)) {
        if (!heard(m)) continue;
        const stale = !this.has(m, HAS_LINKS) || this.linksAt.get(m) <= due;
        const link = this.slotOf(m, n);
        if (stale || link === NONE || this.isDead(link)) deadLinks.push(linkOf(n, m));
      }
    }
    for (let v = 0; v < ids.length; v++) {
      for (const slot of this.tables[v]!) {
        const badSince = this.badSinceOf(slot);
        if (badSince === undefined) continue;
        const from = v;
        const to = this.linkTo.get(slot);
        if (!heard(from) || !heard(to)) continue;
        // Both ends must see it: a radio fades one direction at a time, while a cut, a jammer
        // or a failing interface hurts both. Each bad pair is taken once, from its smaller end.
        const back = this.slotOf(to, from);
        const backBadSince = back === NONE ? undefined : this.badSinceOf(back);
        if (back !== NONE && (backBadSince === undefined || ids[from]! > ids[to]!)) continue;
        // Blame the link only once its far end showed life after it went bad; until then a
        // crash of that end looks the same and the failure detector decides.
        const far = this.detectors.lastHeartbeatMs(to);
        if (far === undefined || far <= badSince) continue;
        if (!this.useful(slot, back)) continue;
        if (!this.material(slot) || (back !== NONE && !this.material(back))) continue;
        anyBad = true;
        const link = linkOf(from, to);
        if (this.isDead(slot) && (back === NONE || this.isDead(back))) deadLinks.push(link);
        else degradedLinks.push(link);
        const since = Math.max(badSince, backBadSince ?? badSince);
        const key = undirected(link[0], link[1]);
        onset.set(key, Math.min(onset.get(key) ?? Infinity, since));
      }
    }
    const findings: TimedFinding[] = [];
    if (silent.length > 0 || anyBad) {
      const nodes: string[] = [];
      const heardNodes: string[] = [];
      for (let v = 0; v < ids.length; v++) {
        if (waiting.has(v)) continue;
        nodes.push(ids[v]!);
        if (heard(v)) heardNodes.push(ids[v]!);
      }
      const causes = localizeRootCauses({
        nodes,
        links: this.adjacency(waiting),
        silent: silent.map((v) => ids[v]!),
        deadLinks,
        degradedLinks,
        observers: this.options.observers ?? heardNodes,
      });
      for (const c of this.withoutGroupRemnants(causes, nowMs)) {
        // Say which metrics left the baseline: what an operator checks first.
        const why = c.kind === "link-degraded" && c.blamed.kind === "link" ? this.degradedBy(c.blamed.link) : "";
        findings.push({ ...c, reason: why ? `${c.reason} (${why})` : c.reason, onsetAt: this.onsetOf(c, onset, nowMs) });
      }
    } else this.withoutGroupRemnants([], nowMs);
    for (let v = 0; v < ids.length; v++) {
      if (!heard(v)) continue;
      const flags = this.nodeFlags.get(v);
      const reasons: string[] = [];
      let since = Infinity;
      if (flags & FLOODING) (reasons.push("transmits far above its own baseline"), (since = Math.min(since, this.floodingSince.get(v))));
      if (flags & HAS_LYING_SINCE) (reasons.push("claims links its neighbours do not see"), (since = Math.min(since, this.lyingSince.get(v))));
      const bad = this.recentBadSignatures(v, nowMs);
      if (bad >= this.options.badSignaturesToFlag) {
        reasons.push(`${bad} events with bad signatures in ${this.options.badSignatureWindowMs / 1000} s`);
        since = Math.min(since, this.badSignatureTimes.get(v)!.find((t) => t >= nowMs - this.options.badSignatureWindowMs) ?? nowMs);
      }
      if (reasons.length === 0) continue;
      const id = ids[v]!;
      findings.push({ kind: "node-misbehaving", blamed: { kind: "node", node: id }, affected: [id], reason: `${id} ${reasons.join("; ")}`, onsetAt: since });
    }
    return findings;
  }

  /**
   * Holds back, for up to `classifyWithinMs`, a new silence finding about nodes that a group
   * finding (a partition, an upstream failure) covered until just now. When a cut heals, its
   * nodes come back one heartbeat at a time, and their neighbours' next reports lag behind: for
   * a moment the group dissolves into single "dead" or "hung" nodes and smaller groups, each of
   * which would open an incident of its own, and a fence on a node coming back cuts it off
   * again. A node still silent once the hold has passed is judged as usual.
   */
  private withoutGroupRemnants(causes: readonly RootCause[], nowMs: number): RootCause[] {
    const hold = this.options.classifyWithinMs;
    for (const [node, at] of this.coveredByGroupAt) if (at < nowMs - hold) this.coveredByGroupAt.delete(node);
    const silence = new Set<string>();
    const kept: RootCause[] = [];
    for (const c of causes) {
      if (!SILENCE_KINDS.has(c.kind)) {
        kept.push(c);
        continue;
      }
      const key = `${c.kind}:${JSON.stringify(c.blamed)}`;
      // A held remnant is not remembered: on the next call it is a remnant still, until the
      // hold (from when the group last covered its nodes) has passed.
      const remnant = !this.previousSilence.has(key) && c.affected.length > 0 && c.affected.every((n) => this.coveredByGroupAt.has(n));
      if (remnant) continue;
      silence.add(key);
      kept.push(c);
    }
    for (const c of kept) if (c.kind === "partition" || c.kind === "upstream-failure") for (const n of c.affected) this.coveredByGroupAt.set(n, nowMs);
    this.previousSilence = silence;
    return kept;
  }

  /**
   * The physical adjacency root-cause works on: every link some end currently lists (a line
   * stays in a table, dead, while the other end still lists it), once per pair.
   */
  private adjacency(excluded: ReadonlySet<number>): Link[] {
    const links: Link[] = [];
    for (let v = 0; v < this.ids.length; v++) {
      if (excluded.has(v)) continue;
      const a = this.ids[v]!;
      for (const slot of this.tables[v]!) {
        const to = this.linkTo.get(slot);
        if (excluded.has(to)) continue;
        const b = this.ids[to]!;
        // From the smaller end, or from the only end that lists it.
        if (a < b || this.slotOf(to, v) === NONE) links.push(a < b ? [a, b] : [b, a]);
      }
    }
    return links;
  }

  /** Whether a bad direction is bad enough to heal: dead, slowed down, TQ collapsed, or losing at least `minLoss`. */
  private material(slot: number): boolean {
    if (this.isDead(slot) || this.linkLoss.get(slot) >= this.options.minLoss) return true;
    return this.degradation.triggeredBy(slot).some((m) => m !== "loss");
  }

  /** Whether the link was worth having: its learnt TQ reached `usefulTq` both ways (the one way reported, for a link only one end lists). */
  private useful(slot: number, back: number): boolean {
    const tq = (s: number) => (s === NONE ? 0 : (this.degradation.baselineTq(s) ?? 0));
    return (back === NONE ? tq(slot) : Math.min(tq(slot), tq(back))) >= this.options.usefulTq;
  }

  private degradedBy([a, b]: Link): string {
    const metrics = new Set<string>();
    for (const slot of [this.slotBetween(a, b), this.slotBetween(b, a)]) if (slot !== NONE) for (const m of this.degradation.triggeredBy(slot)) metrics.add(m);
    return [...metrics].sort().join(", ");
  }

  /** Nodes in `v`'s link table, then the nodes that list `v` in theirs though it does not list them. */
  private neighboursOf(v: number): number[] {
    const out: number[] = [];
    for (const slot of this.tables[v]!) out.push(this.linkTo.get(slot));
    for (let other = 0; other < this.ids.length; other++) if (other !== v && this.slotOf(other, v) !== NONE && this.slotOf(v, other) === NONE) out.push(other);
    return out;
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
      // The node's own data frames: forwarded bytes would flag the neighbours passing a flood on, and
      // management frames (OGMs, growing with the size of the mesh) would drown a quiet node's flood.
      const t = (payload as NodeMetricsReported).traffic;
      monitor.metricsReported(nodeId, t.tx_bytes, atMs);
      break;
    }
  }
};
