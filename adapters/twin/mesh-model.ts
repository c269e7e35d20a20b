import type { Clock } from "../../streams/clock.ts";
import { LinkModel, linkConditions } from "./link-model.ts";
import { HARD_IFNAME, MEAN_PACKET_BYTES, OGM_INTERVAL_MS, SimulatedNode, type DirectedLink, type EffectWindow, type LinkEffect } from "./node.ts";
import { Rng } from "../../domains/kernel/rng.ts";
import type { MeshTopology } from "./topology.ts";

/** Effect keys of interface restarts (commands.ts): the control plane's doing, not the medium's. */
export const RESTART_EFFECT = "restart:";

/** Whether a window holds `t`. */
const inWindow = (w: EffectWindow, t: number): boolean => {
  if (t < w.startMs) return false;
  const elapsed = t - w.startMs;
  return w.periodMs === undefined ? elapsed < w.downMs : elapsed % w.periodMs < w.downMs;
};

/** The first time after `t` at which the window opens or closes (Infinity when it never does again). */
const nextEdge = (w: EffectWindow, t: number): number => {
  if (t < w.startMs) return w.startMs;
  const elapsed = t - w.startMs;
  if (w.periodMs === undefined) return elapsed < w.downMs ? w.startMs + w.downMs : Infinity;
  if (w.downMs >= w.periodMs) return Infinity;
  const phase = elapsed % w.periodMs;
  return phase < w.downMs ? t + (w.downMs - phase) : t + (w.periodMs - phase);
};

export const isActive = (effect: LinkEffect, t: number): boolean => effect.window === undefined || inWindow(effect.window, t);

export interface MeshModelOptions {
  readonly seed: number;
  readonly intervalMs: number;
  readonly clock?: Clock;
  /** Observer node ids; default: the topology's gateways, or a few best-connected nodes. */
  readonly observers?: readonly string[];
}

/**
 * The true state of the simulated mesh, shared by everything that changes or reads it: nodes,
 * directed links with the effects laid over them, batman-adv settings, XDP rules, and which
 * nodes the control plane can hear. Times are ms on the twin's timeline, passed in.
 */
export class MeshModel {
  readonly nodes: SimulatedNode[];
  readonly links: DirectedLink[] = [];
  readonly byId: ReadonlyMap<string, SimulatedNode>;
  /** Every MAC (primary and interface) → its node. */
  readonly macOwner = new Map<string, SimulatedNode>();
  /** Indices of the nodes uplinked to the control plane. */
  readonly observers: readonly number[];
  /** Links carrying windowed effects (flaps, restarts): their edges end a cached reachability. */
  private readonly windowed = new Set<DirectedLink>();
  /** Bumped on every change that can alter which links work. */
  private version = 0;
  private reach: { version: number; fromMs: number; untilMs: number; heard: Uint8Array } | undefined;

  constructor(
    readonly topology: MeshTopology,
    options: MeshModelOptions,
  ) {
    const { seed } = options;
    const online = topology.nodes.filter((n) => n.online).length;
    this.nodes = topology.nodes.map((spec) => new SimulatedNode(spec, seed, options.intervalMs, online, options.clock));
    this.byId = new Map(this.nodes.map((n) => [n.id, n]));
    for (const node of this.nodes) for (const mac of [node.spec.primaryMac, ...node.spec.macs]) this.macOwner.set(mac, node);

    const pairs = new Map<string, DirectedLink>();
    topology.links.forEach((link, i) => {
      this.nodes[link.a]!.interfaces.add(HARD_IFNAME[link.kind]);
      this.nodes[link.b]!.interfaces.add(HARD_IFNAME[link.kind]);
      for (const from of ["a", "b"] as const) {
        const self = from === "a" ? link.a : link.b;
        const other = from === "a" ? link.b : link.a;
        const recordedTq = from === "a" ? link.tqAB : link.tqBA;
        // A snapshot's TQ of 0 means this end did not list the neighbour; neither do we.
        if (recordedTq === 0) continue;
        if (!topology.nodes[self]!.online || !topology.nodes[other]!.online) continue;
        const dir = from === "a" ? 0 : 1;
        const conditions = linkConditions(link, from, {
          rng: new Rng(seed, 0x6c6b636e, i, dir),
          ...(topology.radioRangeM !== undefined ? { radioRangeM: topology.radioRangeM } : {}),
        });
        const directed: DirectedLink = {
          index: this.links.length,
          topologyLink: i,
          from: self,
          to: other,
          kind: link.kind,
          localMac: from === "a" ? link.aMac : link.bMac,
          neighMac: from === "a" ? link.bMac : link.aMac,
          hardIfname: HARD_IFNAME[link.kind],
          model: new LinkModel(conditions, new Rng(seed, 0x6c6b736d, i, dir), { ogmIntervalMs: OGM_INTERVAL_MS }),
          reverse: undefined,
          effects: new Map(),
        };
        this.links.push(directed);
        this.nodes[self]!.links.push(directed);
        const back = pairs.get(`${i}:${1 - dir}`);
        if (back) (directed.reverse = back), (back.reverse = directed);
        pairs.set(`${i}:${dir}`, directed);
      }
    });
    this.observers = this.chooseObservers(options.observers);
    for (const i of this.observers) this.nodes[i]!.gateway = { mode: "server" };
    for (const node of this.nodes) if (node.spec.gateway) node.gateway = { mode: "server" };
  }

  /**
   * Given ids, those; else the snapshot's online gateways; else a few well-connected nodes,
   * spread out: the highest degree first, then the next highest not next to one already chosen
   * (about one per hundred nodes, 2 to 8), so one crash does not silence the whole mesh.
   */
  private chooseObservers(ids: readonly string[] | undefined): number[] {
    if (ids) {
      return [
        ...new Set(
          ids.map((id) => {
            const node = this.byId.get(id);
            if (!node) throw new RangeError(`observer ${id} is not a node of the twin`);
            return node.index;
          }),
        ),
      ];
    }
    const online = this.nodes.filter((n) => n.spec.online);
    const gateways = online.filter((n) => n.spec.gateway).map((n) => n.index);
    if (gateways.length > 0) return gateways;
    if (online.length === 0) return [];
    const wanted = Math.min(online.length, Math.max(online.length > 1 ? 2 : 1, Math.min(8, Math.round(online.length / 100))));
    const degree = (n: SimulatedNode) => new Set(n.links.map((l) => l.to)).size;
    const ranked = [...online].sort((x, y) => degree(y) - degree(x) || x.index - y.index);
    const chosen: SimulatedNode[] = [];
    const near = new Set<number>();
    for (const n of ranked) {
      if (chosen.length >= wanted) break;
      if (near.has(n.index)) continue;
      chosen.push(n);
      near.add(n.index);
      for (const l of n.links) near.add(l.to);
    }
    for (const n of ranked) if (chosen.length < wanted && !chosen.includes(n)) chosen.push(n);
    return chosen.map((n) => n.index).sort((a, b) => a - b);
  }

  node(nodeId: string): SimulatedNode {
    const node = this.byId.get(nodeId);
    if (!node) throw new RangeError(`no node ${nodeId} in the twin`);
    return node;
  }

  /** Marks link state as changed (faults, rules, nodes down or up). */
  changed(): void {
    this.version++;
  }

  /** Both directions of every link between two nodes. */
  linksBetween(a: SimulatedNode, b: SimulatedNode): DirectedLink[] {
    return [...a.links.filter((l) => l.to === b.index), ...b.links.filter((l) => l.to === a.index)];
  }

  setEffect(link: DirectedLink, key: string, effect: LinkEffect): void {
    link.effects.set(key, effect);
    if (effect.window) this.windowed.add(link);
    this.changed();
  }

  deleteEffect(link: DirectedLink, key: string): void {
    if (!link.effects.delete(key)) return;
    if (![...link.effects.values()].some((e) => e.window)) this.windowed.delete(link);
    this.changed();
  }

  /**
   * Whether `enforcer` drops `sender`'s frames on this link: an XDP rule (keyed as `sourceKey`
   * does) on the sender's interface MAC or on its originator address (batman-adv headers carry it).
   */
  drops(enforcer: SimulatedNode, sender: SimulatedNode, senderMac: string, t: number): boolean {
    if (enforcer.quarantined.size === 0) return false;
    const active = (key: string) => enforcer.quarantined.has(key) && !(t >= (enforcer.quarantinedUntil.get(key) ?? Infinity));
    return active(`mac:${senderMac}`) || active(`mac:${sender.spec.primaryMac}`);
  }

  /**
   * Extra loss on one direction at `t`, 0-1. 1 when an end is down, or when either end drops the
   * other's frames: batman-adv IV rates a neighbour by its OGMs *and* the echoes of its own, so a
   * drop in one direction kills the TQ of both. Otherwise the effects compose as independent
   * losses: 1 − Π(1 − loss).
   */
  impairment(link: DirectedLink, t: number): number {
    const from = this.nodes[link.from]!;
    const to = this.nodes[link.to]!;
    if (from.down || to.down) return 1;
    if (this.drops(to, from, link.localMac, t) || this.drops(from, to, link.neighMac, t)) return 1;
    let kept = 1;
    for (const effect of link.effects.values()) if (isActive(effect, t)) kept *= 1 - effect.loss;
    return 1 - kept;
  }

  /** Extra latency on one direction at `t`, ms: the active effects add up. */
  latency(link: DirectedLink, t: number): number {
    let sum = 0;
    for (const effect of link.effects.values()) if (isActive(effect, t)) sum += effect.latencyMs;
    return sum;
  }

  /** A direction carries frames unless something cuts it completely. */
  works(link: DirectedLink, t: number): boolean {
    return this.impairment(link, t) < 1;
  }

  /**
   * Whether the medium carries frames at `t` whatever the control plane does: both ends up
   * and no fault cuts the direction. XDP drop rules and interface restarts are the control
   * plane's own doing and are not counted here (availability's denominator must not shrink
   * because healing blocked something).
   */
  physicallyWorks(link: DirectedLink, t: number): boolean {
    if (this.nodes[link.from]!.down || this.nodes[link.to]!.down) return false;
    for (const [key, effect] of link.effects) if (effect.loss >= 1 && !key.startsWith(RESTART_EFFECT) && isActive(effect, t)) return false;
    return true;
  }

  /** Why a direction carries nothing at `t`, undefined when it works. */
  whyCut(link: DirectedLink, t: number): "node-down" | "xdp-blocked" | "interface-restart" | "link-cut" | undefined {
    const from = this.nodes[link.from]!;
    const to = this.nodes[link.to]!;
    if (from.down || to.down) return "node-down";
    if (this.drops(to, from, link.localMac, t) || this.drops(from, to, link.neighMac, t)) return "xdp-blocked";
    let kept = 1;
    let restart = false;
    for (const [key, effect] of link.effects) {
      if (!isActive(effect, t)) continue;
      kept *= 1 - effect.loss;
      if (effect.loss >= 1 && key.startsWith(RESTART_EFFECT)) restart = true;
    }
    if (kept > 0) return undefined;
    return restart ? "interface-restart" : "link-cut";
  }

  /** The true loss of a direction at `t`: its current radio state under the effects of `t`. */
  loss(link: DirectedLink, t: number): number {
    return link.model.currentLoss(this.impairment(link, t));
  }

  /** Lays the effects of `t` on every link model of a node before it samples them. */
  prepareSample(node: SimulatedNode, t: number): void {
    for (const l of node.links) l.model.impair(this.impairment(l, t), this.latency(l, t));
  }

  /**
   * Whether a node's frames reach an observer at `t`: alive and linked by working directions
   * (through alive nodes; hung nodes still forward) to a node uplinked to the control plane.
   */
  reachable(node: SimulatedNode, t: number): boolean {
    return this.heardSet(t)[node.index] === 1;
  }

  /** The control plane hears a node's own events: alive, not hung, reachable. */
  heard(node: SimulatedNode, t: number): boolean {
    return node.alive && !node.hung && this.reachable(node, t);
  }

  private heardSet(t: number): Uint8Array {
    const r = this.reach;
    if (r && r.version === this.version && t >= r.fromMs && t < r.untilMs) return r.heard;
    const heard = new Uint8Array(this.nodes.length);
    const queue: number[] = [];
    for (const i of this.observers) {
      if (!this.nodes[i]!.alive) continue;
      heard[i] = 1;
      queue.push(i);
    }
    // Walk backwards from the observers: u is heard when one of its working directions u → v leads to a heard v.
    const into = this.incoming();
    for (let head = 0; head < queue.length; head++) {
      const v = queue[head]!;
      for (const l of into[v]!) {
        if (heard[l.from] === 1 || !this.works(l, t)) continue;
        heard[l.from] = 1;
        queue.push(l.from);
      }
    }
    let untilMs = Infinity;
    for (const l of this.windowed) for (const e of l.effects.values()) if (e.window) untilMs = Math.min(untilMs, nextEdge(e.window, t));
    // A fence lifting itself changes who is heard too.
    for (const n of this.nodes) for (const until of n.quarantinedUntil.values()) if (until > t) untilMs = Math.min(untilMs, until);
    this.reach = { version: this.version, fromMs: t, untilMs, heard };
    return heard;
  }

  private incomingLinks: DirectedLink[][] | undefined;
  private incoming(): DirectedLink[][] {
    if (!this.incomingLinks) {
      this.incomingLinks = this.nodes.map(() => []);
      for (const l of this.links) this.incomingLinks[l.to]!.push(l);
    }
    return this.incomingLinks;
  }

  /** The direction `sender → receiver` (the receiver's own entry when the sender does not list it). */
  private direction(sender: SimulatedNode, receiver: SimulatedNode): DirectedLink | undefined {
    return sender.links.find((l) => l.to === receiver.index) ?? receiver.links.find((l) => l.to === sender.index);
  }

  /**
   * Packets per second `receiver` accepts from its neighbour `sender` at `t`: what the sender
   * sends, capped by the receiver's rate limit on the sender's MAC; 0 without a working link
   * or when the receiver drops the sender's frames.
   */
  trafficSeenPps(sender: SimulatedNode, receiver: SimulatedNode, t: number): number {
    if (!sender.alive || !receiver.alive) return 0;
    const link = this.direction(sender, receiver);
    if (!link || !this.works(link, t)) return 0;
    const mac = link.from === sender.index ? link.localMac : link.neighMac;
    let pps = sender.sentPps();
    for (const key of [`mac:${mac}`, `mac:${sender.spec.primaryMac}`]) {
      const rule = receiver.rateLimits.get(key);
      if (rule) pps = Math.min(pps, rule.pps);
    }
    return pps;
  }

  /** Flood bytes per second a node lets in from flooding neighbours at `t`, beyond their normal traffic. */
  floodInto(node: SimulatedNode, t: number): number {
    let bytes = 0;
    for (const l of node.links) {
      const sender = this.nodes[l.to]!;
      if (!sender.has("flood")) continue;
      bytes += Math.max(0, this.trafficSeenPps(sender, node, t) - sender.normalPps()) * MEAN_PACKET_BYTES;
    }
    return bytes;
  }
}
