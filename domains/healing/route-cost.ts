/**
 * Route costs with batman-adv's own B.A.T.M.A.N. IV arithmetic, so the twin and the
 * healing planner choose the routes a real mesh chooses.
 *
 * What batman-adv does (net/batman-adv/bat_iv_ogm.c, read for this module):
 * - An originator broadcasts its OGM with `tq = 255` (BATADV_TQ_MAX_VALUE).
 * - A node receiving it from neighbour N on hard interface `h` (`batadv_iv_ogm_calc_tq`):
 *   `tq = tq · tq_own · tq_asym_penalty · iface / 255³` (integer division), where `iface`
 *   is `255 − h.hop_penalty` (per hard interface, 2020.3+/Linux 5.8, default 0) and, when
 *   the OGM is considered for re-sending on the same WiFi interface it came in on,
 *   additionally hop-penalised (`batadv_hop_penalty`) because half-duplex radios halve
 *   throughput. The result is kept only if `tq >= 1` (BATADV_TQ_TOTAL_BIDRECT_LIMIT).
 * - Before re-broadcasting, `batadv_iv_ogm_forward` applies the node's mesh-wide hop
 *   penalty: `tq = tq · (255 − hop_penalty) / 255` (`batadv_hop_penalty`). Mesh default
 *   is 30 (`atomic_set(&bat_priv->hop_penalty, 30)`; it was 10 before 2013).
 * - A node forwards only OGMs that came from its best next hop for that originator, and
 *   switches next hop only when another neighbour offers a strictly higher averaged TQ
 *   (`batadv_iv_ogm_orig_update`). OGM TTL is 50 (BATADV_TTL).
 *
 * batman-adv is distance-vector: each node only knows its neighbours' best offers. Every
 * step above is monotone (more in, never less out) and never increases TQ, so a central
 * widest-path search (Dijkstra, best TQ first) over the same arithmetic reaches the
 * distance-vector fixpoint, i.e. the same choices, under these assumptions:
 * - steady state: link TQs stable for the TQ window (BATADV_TQ_GLOBAL_WINDOW_SIZE = 5
 *   OGMs), so each neighbour's `tq_avg` equals the value computed here;
 * - a link's `tq` is batman's local TQ of that neighbour (`tq_own`) on a symmetric link
 *   (`tq_asym_penalty` = 255, full receive window) and before any interface penalty;
 * - ties: batman keeps the incumbent router (history we do not have); here fewer hops win,
 *   then the smaller neighbour id;
 * - paths of more than 50 hops are cut off, which is approximate for widest paths (at the
 *   default hop penalty a 50-hop TQ has decayed to 0 anyway).
 *
 * Data follows links `source → target`; the OGM that advertises the destination travels
 * the other way, so a link's `tq` is the one its `source` measures towards `target`.
 */

/** BATADV_TQ_MAX_VALUE: a perfect link, and the TQ an originator sends. */
export const TQ_MAX = 255;
/** Mesh-wide hop_penalty batman-adv sets on a new mesh interface. */
export const DEFAULT_HOP_PENALTY = 30;
/** BATADV_TQ_TOTAL_BIDRECT_LIMIT: a route needs at least this TQ. */
export const MIN_ROUTE_TQ = 1;
/** BATADV_TTL: an OGM travels at most this many hops. */
export const OGM_TTL = 50;

const assertTq = (name: string, value: number): void => {
  if (!Number.isInteger(value) || value < 0 || value > TQ_MAX) throw new RangeError(`${name} must be an integer 0-255, got ${value}`);
};

/** `batadv_hop_penalty`: the TQ left after one hop penalty, integer arithmetic. */
export const applyHopPenalty = (tq: number, hopPenalty: number): number => {
  assertTq("tq", tq);
  assertTq("hopPenalty", hopPenalty);
  return Math.floor((tq * (TQ_MAX - hopPenalty)) / TQ_MAX);
};

export interface ReceivedOgm {
  /** TQ in the OGM as the neighbour sent it. */
  readonly ogmTq: number;
  /** The receiver's local TQ towards the neighbour (`tq_own`). */
  readonly tqOwn: number;
  /** `tq_asym_penalty`; default 255 (symmetric link, full receive window). */
  readonly tqAsymPenalty?: number;
  /** hop_penalty of the hard interface the OGM came in on; default 0. */
  readonly interfaceHopPenalty?: number;
  /** The OGM is considered for re-sending on the same WiFi interface it came in on; default false. */
  readonly sameWifiInterface?: boolean;
  /** The receiver's mesh-wide hop_penalty, used for the WiFi same-interface penalty; default 30. */
  readonly hopPenalty?: number;
}

/** The TQ a node records for an OGM it received, as `batadv_iv_ogm_calc_tq` combines it. */
export const receivedTq = (ogm: ReceivedOgm): number => {
  const asym = ogm.tqAsymPenalty ?? TQ_MAX;
  const ifPenalty = ogm.interfaceHopPenalty ?? 0;
  assertTq("ogmTq", ogm.ogmTq);
  assertTq("tqOwn", ogm.tqOwn);
  assertTq("tqAsymPenalty", asym);
  assertTq("interfaceHopPenalty", ifPenalty);
  let iface = TQ_MAX - ifPenalty;
  if (ogm.sameWifiInterface) iface = applyHopPenalty(iface, ogm.hopPenalty ?? DEFAULT_HOP_PENALTY);
  // 255^4 < 2^32: the kernel's unsigned int and a JS double both hold the product exactly.
  return Math.floor((ogm.ogmTq * ogm.tqOwn * asym * iface) / (TQ_MAX * TQ_MAX * TQ_MAX));
};

/** One direction of a link: `source` reaches neighbour `target` and measures `tq` towards it. */
export interface RouteLink {
  readonly source: string;
  readonly target: string;
  /** batman-adv local TQ of `target` as `source` measures it, 0-255. */
  readonly tq: number;
  /** `source`'s hard interface towards `target` (`hard_ifname`); links without one share an unnamed interface. */
  readonly hardIf?: string;
  /** Share of frames this direction loses before retries (the agent's probes), 0-1; unknown: none. */
  readonly loss?: number;
}

/**
 * Transmissions of one unicast data frame before the sender gives up: mac80211's default
 * short retry limit (`iw phy`: "Retry short limit: 7", dot11ShortRetryLimit), which data
 * frames below the RTS threshold (RTS is off by default) follow. OGMs are broadcast and never
 * retried, which is why TQ, measured on them, looks far worse than what unicast delivers.
 */
export const UNICAST_ATTEMPTS = 7;

/**
 * A route works when at least this share of unicast frames arrives end to end after the
 * link layer's retries. Above ~10 % residual loss TCP stalls (its throughput falls with
 * 1/√loss) and voice breaks up; below it a user still calls the route working.
 */
export const DELIVERY_THRESHOLD = 0.9;

/** Share of unicast frames one hop delivers after retries: a frame is lost only when every attempt is. */
export const hopDelivery = (loss: number, attempts: number = UNICAST_ATTEMPTS): number => 1 - Math.pow(Math.min(1, Math.max(0, loss)), attempts);

/** Share of unicast frames a route delivers over the losses its links carry, after retries. */
export const routeDelivery = (route: { readonly links: readonly RouteLink[] }, attempts: number = UNICAST_ATTEMPTS): number =>
  route.links.reduce((kept, l) => kept * hopDelivery(l.loss ?? 0, attempts), 1);

/** Per-node batman-adv settings; every field optional. */
export interface NodeRouting {
  /** Mesh-wide hop_penalty (`batctl meshif bat0 hop_penalty`); default: options.hopPenalty. */
  readonly hopPenalty?: number;
  /** hop_penalty per hard interface (`batctl hardif <if> hop_penalty`); default 0. */
  readonly interfaceHopPenalty?: Readonly<Record<string, number>>;
  /** Hard interfaces that are WiFi (half duplex); default none. */
  readonly wifiInterfaces?: readonly string[];
}

export interface RouteTopology {
  readonly links: readonly RouteLink[];
  readonly nodes?: Readonly<Record<string, NodeRouting>>;
}

export interface RouteCostOptions {
  /** Mesh-wide hop_penalty for nodes that do not set their own; default 30 (batman-adv's default). */
  readonly hopPenalty?: number;
}

/** A node's best route to a destination, as its default originator table holds it. */
export interface Route {
  readonly source: string;
  readonly destination: string;
  /** End-to-end TQ: what `batctl originators` shows at `source` for `destination`. */
  readonly tq: number;
  /** Nodes from source to destination, both included. */
  readonly path: readonly string[];
  /** The links data takes, in order. */
  readonly links: readonly RouteLink[];
}

const own = <T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

/** The topology indexed for the arithmetic; built once per computation. */
class Mesh {
  readonly out = new Map<string, RouteLink[]>();
  readonly into = new Map<string, RouteLink[]>();
  readonly nodes: string[];

  constructor(
    private readonly topology: RouteTopology,
    private readonly defaultHopPenalty: number,
  ) {
    assertTq("hopPenalty", defaultHopPenalty);
    const ids = new Set<string>();
    for (const link of topology.links) {
      assertTq(`tq of ${link.source}->${link.target}`, link.tq);
      if (link.source === link.target) continue;
      push(this.out, link.source, link);
      push(this.into, link.target, link);
      ids.add(link.source).add(link.target);
    }
    const byName = (a: RouteLink, b: RouteLink) => compare(a.target, b.target) || compare(iface(a), iface(b));
    for (const list of this.out.values()) list.sort(byName);
    for (const list of this.into.values()) list.sort((a, b) => compare(a.source, b.source) || compare(iface(a), iface(b)));
    this.nodes = [...ids].sort(compare);
  }

  hopPenalty(node: string): number {
    return own(this.topology.nodes, node)?.hopPenalty ?? this.defaultHopPenalty;
  }

  interfaceHopPenalty(node: string, hardIf: string): number {
    return own(own(this.topology.nodes, node)?.interfaceHopPenalty, hardIf) ?? 0;
  }

  isWifi(node: string, hardIf: string): boolean {
    return own(this.topology.nodes, node)?.wifiInterfaces?.includes(hardIf) ?? false;
  }

  private readonly interfaceCache = new Map<string, string[]>();
  private readonly linkCache = new Map<string, RouteLink | undefined>();

  /** Interfaces a node sends OGMs on: those its links name, or the unnamed one. */
  interfaces(node: string): string[] {
    let list = this.interfaceCache.get(node);
    if (!list) this.interfaceCache.set(node, (list = [...new Set((this.out.get(node) ?? []).map(iface))]));
    return list;
  }

  /** The best link `from → to` (highest TQ, then interface name). */
  link(from: string, to: string): RouteLink | undefined {
    const key = `${from}\u0000${to}`;
    if (this.linkCache.has(key)) return this.linkCache.get(key);
    let best: RouteLink | undefined;
    for (const l of this.out.get(from) ?? []) if (l.target === to && (best === undefined || l.tq > best.tq)) best = l;
    this.linkCache.set(key, best);
    return best;
  }

  /** TQ `receiver` records for an OGM `ogmTq` that came over its link `via`, re-sent on `outIf` (undefined: default table). */
  receive(ogmTq: number, via: RouteLink, outIf: string | undefined): number {
    const h = iface(via);
    return receivedTq({
      ogmTq,
      tqOwn: via.tq,
      interfaceHopPenalty: this.interfaceHopPenalty(via.source, h),
      sameWifiInterface: outIf === h && this.isWifi(via.source, h),
      hopPenalty: this.hopPenalty(via.source),
    });
  }
}

const iface = (l: RouteLink): string => l.hardIf ?? "";
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const push = <K, V>(map: Map<K, V[]>, key: K, value: V): void => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

/**
 * End-to-end TQ of an explicit path (data direction, source first) as batman-adv computes
 * it at the source: the destination's OGM, combined hop by hop on the way back. 0 when a
 * hop has no link. Where two nodes share several links, the one with the highest TQ is used.
 */
export const pathTq = (topology: RouteTopology, path: readonly string[], options: RouteCostOptions = {}): number => {
  const mesh = new Mesh(topology, options.hopPenalty ?? DEFAULT_HOP_PENALTY);
  if (path.length < 2) return path.length === 1 ? TQ_MAX : 0;
  let tq = TQ_MAX;
  for (let j = path.length - 2; j >= 0; j--) {
    const node = path[j]!;
    const via = mesh.link(node, path[j + 1]!);
    if (!via) return 0;
    if (j === 0) return mesh.receive(tq, via, undefined);
    // An intermediate node re-sends on its interface towards the previous hop.
    const back = mesh.link(node, path[j - 1]!);
    tq = applyHopPenalty(mesh.receive(tq, via, back ? iface(back) : undefined), mesh.hopPenalty(node));
  }
  return tq;
};

interface Offer {
  /** TQ the node sends on this interface for the destination (after its hop penalty). */
  readonly tq: number;
  readonly hops: number;
  /** The node's link towards the next hop; undefined at the destination itself. */
  readonly via: RouteLink | undefined;
}

const better = (a: { tq: number; hops: number; id: string }, b: { tq: number; hops: number; id: string }): boolean =>
  a.tq !== b.tq ? a.tq > b.tq : a.hops !== b.hops ? a.hops < b.hops : a.id < b.id;

/** A binary max-heap ordered by `better`. */
class Heap<T extends { tq: number; hops: number; id: string }> {
  private readonly items: T[] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!better(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && better(a[l]!, a[m]!)) m = l;
        if (r < a.length && better(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Every node's best route to `destination`. Widest path on the batman-adv IV arithmetic,
 * over states (node, interface it re-sends on), because the WiFi same-interface penalty
 * makes a node's offer depend on the interface; see the module comment for why this is
 * the choice batman-adv converges to. Nodes without a route (TQ < 1) are absent.
 */
export const bestRoutesTo = (topology: RouteTopology, destination: string, options: RouteCostOptions = {}): ReadonlyMap<string, Route> =>
  routesTo(new Mesh(topology, options.hopPenalty ?? DEFAULT_HOP_PENALTY), destination);

/** The best route from `source` to `destination`, or undefined when batman-adv would have none. */
/**
 * Best routes to many destinations over one topology: the topology is indexed once and each
 * destination computed on first use (what `bestRoutesTo` does per call).
 */
export const routeTable = (topology: RouteTopology, options: RouteCostOptions = {}): ((destination: string) => ReadonlyMap<string, Route>) => {
  const mesh = new Mesh(topology, options.hopPenalty ?? DEFAULT_HOP_PENALTY);
  const done = new Map<string, ReadonlyMap<string, Route>>();
  return (destination) => {
    let routes = done.get(destination);
    if (!routes) done.set(destination, (routes = routesTo(mesh, destination)));
    return routes;
  };
};

export const bestRoute = (topology: RouteTopology, source: string, destination: string, options: RouteCostOptions = {}): Route | undefined =>
  bestRoutesTo(topology, destination, options).get(source);

const routesTo = (mesh: Mesh, destination: string): Map<string, Route> => {
  // offers.get(node).get(iface): what the node sends on that interface; the destination sends 255 everywhere.
  const offers = new Map<string, Map<string, Offer>>();
  const origin: Offer = { tq: TQ_MAX, hops: 0, via: undefined };
  const offerToward = (sender: string, receiver: string): Offer | undefined => {
    if (sender === destination) return origin;
    const sent = offers.get(sender);
    if (!sent) return undefined;
    const back = mesh.link(sender, receiver);
    if (back) return sent.get(iface(back));
    // The sender does not report the receiver: take its best offer on any interface.
    let best: Offer | undefined;
    for (const o of sent.values()) if (!best || o.tq > best.tq) best = o;
    return best;
  };

  const heap = new Heap<Offer & { id: string; node: string; iface: string }>();
  heap.push({ ...origin, id: destination, node: destination, iface: "" });
  const done = new Set<string>();
  while (heap.size > 0) {
    const s = heap.pop()!;
    const key = `${s.node}\u0000${s.iface}`;
    if (done.has(key)) continue;
    done.add(key);
    if (s.node !== destination) {
      const sent = offers.get(s.node) ?? new Map<string, Offer>();
      sent.set(s.iface, { tq: s.tq, hops: s.hops, via: s.via });
      offers.set(s.node, sent);
    }
    if (s.hops + 1 >= OGM_TTL) continue;
    for (const via of mesh.into.get(s.node) ?? []) {
      const receiver = via.source;
      if (receiver === destination) continue;
      // Only the offer on the sender's interface towards the receiver reaches it.
      if (s.node !== destination) {
        const back = mesh.link(s.node, receiver);
        if (back && iface(back) !== s.iface) continue;
      }
      for (const outIf of mesh.interfaces(receiver)) {
        if (done.has(`${receiver}\u0000${outIf}`)) continue;
        const tq = applyHopPenalty(mesh.receive(s.tq, via, outIf), mesh.hopPenalty(receiver));
        if (tq >= MIN_ROUTE_TQ) heap.push({ tq, hops: s.hops + 1, via, id: `${receiver}\u0000${outIf}`, node: receiver, iface: outIf });
      }
    }
  }

  const routes = new Map<string, Route>();
  for (const source of mesh.nodes) {
    if (source === destination) continue;
    let best: { tq: number; hops: number; id: string; via: RouteLink } | undefined;
    for (const via of mesh.out.get(source) ?? []) {
      const offer = offerToward(via.target, source);
      if (!offer) continue;
      const candidate = { tq: mesh.receive(offer.tq, via, undefined), hops: offer.hops + 1, id: `${via.target}\u0000${iface(via)}`, via };
      if (candidate.tq >= MIN_ROUTE_TQ && (!best || better(candidate, best))) best = candidate;
    }
    if (!best) continue;
    const links = [best.via];
    // Follow the per-interface tables: a packet that arrived on interface g is routed by the table for g.
    for (let prev = source, at = best.via.target; at !== destination && links.length <= mesh.nodes.length; ) {
      const next = offerToward(at, prev)?.via;
      if (!next) break;
      links.push(next);
      prev = at;
      at = next.target;
    }
    routes.set(source, { source, destination, tq: best.tq, path: [source, ...links.map((l) => l.target)], links });
  }
  return routes;
};

export interface LinkAvoidanceOptions extends RouteCostOptions {
  /** Destinations whose routes must avoid the link; default every node in the topology. */
  readonly destinations?: readonly string[];
}

/** The per-interface hop_penalty that moves routes off the link `node → neighbour`. */
export interface LinkAvoidance {
  readonly node: string;
  readonly neighbour: string;
  /** `node`'s hard interfaces towards `neighbour` whose hop_penalty is raised ("" = unnamed). */
  readonly hardIfs: readonly string[];
  /** Current hop_penalty of those interfaces (the highest of them). */
  readonly currentHopPenalty: number;
  /** Smallest hop_penalty found that keeps every route off the link; equals the current one when none uses it. */
  readonly hopPenalty: number;
  /** Other neighbours on the same interfaces: the raise penalises OGMs from them too. */
  readonly alsoPenalised: readonly string[];
  /** Source/destination pairs that would have no route at all at that penalty; non-empty means the raise cuts the mesh. */
  readonly lostRoutes: readonly { readonly source: string; readonly destination: string }[];
}

const usesLink = (routes: ReadonlyMap<string, Route>, node: string, neighbour: string): boolean => {
  for (const r of routes.values()) for (const l of r.links) if (l.source === node && l.target === neighbour) return true;
  return false;
};

const withInterfacePenalty = (topology: RouteTopology, node: string, hardIfs: readonly string[], penalty: number): RouteTopology => {
  const current = own(topology.nodes, node);
  const interfaceHopPenalty: Record<string, number> = { ...current?.interfaceHopPenalty };
  for (const h of hardIfs) interfaceHopPenalty[h] = penalty;
  return { links: topology.links, nodes: { ...topology.nodes, [node]: { ...current, interfaceHopPenalty } } };
};

/**
 * Which per-interface hop_penalty on `node`, on its interface(s) towards `neighbour`, makes
 * every best route stop using the link `node → neighbour` ("re-route around a bad link").
 * The per-hard-interface penalty is the only batman-adv knob aimed at one direction of one
 * link: it lowers every OGM `node` receives on that interface, so `node` and everything it
 * forwards for pick another next hop. At 255 nothing is received there, so an answer always
 * exists; `lostRoutes` says whether it disconnects anyone. Found by bisection over 0-255,
 * then verified; cost is about 8 route computations per destination that used the link.
 * Returns undefined when the link does not exist. Only the `node → neighbour` direction moves;
 * the reverse needs the same on `neighbour`.
 */
export const hopPenaltyToAvoid = (
  topology: RouteTopology,
  node: string,
  neighbour: string,
  options: LinkAvoidanceOptions = {},
): LinkAvoidance | undefined => {
  const hopPenalty = options.hopPenalty ?? DEFAULT_HOP_PENALTY;
  const mesh = new Mesh(topology, hopPenalty);
  const towards = (mesh.out.get(node) ?? []).filter((l) => l.target === neighbour);
  if (towards.length === 0) return undefined;
  const hardIfs = [...new Set(towards.map(iface))].sort(compare);
  const currentHopPenalty = Math.max(...hardIfs.map((h) => mesh.interfaceHopPenalty(node, h)));
  const alsoPenalised = [
    ...new Set((mesh.out.get(node) ?? []).filter((l) => l.target !== neighbour && hardIfs.includes(iface(l))).map((l) => l.target)),
  ].sort(compare);
  const destinations = [...(options.destinations ?? mesh.nodes)].sort(compare);
  const meshes = new Map<number, Mesh>();
  const routesAt = (penalty: number, d: string) => {
    let m = meshes.get(penalty);
    if (!m) meshes.set(penalty, (m = new Mesh(withInterfacePenalty(topology, node, hardIfs, penalty), hopPenalty)));
    return routesTo(m, d);
  };

  const before = new Map(destinations.map((d) => [d, routesTo(mesh, d)] as const));
  const affected = destinations.filter((d) => usesLink(before.get(d)!, node, neighbour));
  const result = (penalty: number, after: ReadonlyMap<string, ReadonlyMap<string, Route>>): LinkAvoidance => {
    const lostRoutes: { source: string; destination: string }[] = [];
    for (const d of destinations)
      for (const source of before.get(d)!.keys()) if (!after.get(d)?.has(source)) lostRoutes.push({ source, destination: d });
    return { node, neighbour, hardIfs, currentHopPenalty, hopPenalty: penalty, alsoPenalised, lostRoutes };
  };
  if (affected.length === 0) return result(currentHopPenalty, before);

  const avoids = (penalty: number) => affected.every((d) => !usesLink(routesAt(penalty, d), node, neighbour));
  let lo = currentHopPenalty; // uses the link
  let hi = TQ_MAX; // nothing is received on the interface at 255
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (avoids(mid)) hi = mid;
    else lo = mid;
  }
  // Bisection assumes the effect is monotone; verify on every destination and step up if rounding disagrees.
  for (;;) {
    const after = new Map(destinations.map((d) => [d, routesAt(hi, d)] as const));
    if (hi === TQ_MAX || destinations.every((d) => !usesLink(after.get(d)!, node, neighbour))) return result(hi, after);
    hi++;
  }
};

/** The mesh-wide hop_penalty on `via` that takes `via` out of `from`'s transit routes. */
export interface TransitSteering {
  readonly from: string;
  readonly via: string;
  readonly currentHopPenalty: number;
  /** Smallest mesh-wide hop_penalty on `via` found that keeps `from`'s routes (other than to `via` itself) off `from → via`. */
  readonly hopPenalty: number;
  readonly lostRoutes: readonly { readonly source: string; readonly destination: string }[];
}

const withMeshPenalty = (topology: RouteTopology, node: string, penalty: number): RouteTopology => ({
  links: topology.links,
  nodes: { ...topology.nodes, [node]: { ...own(topology.nodes, node), hopPenalty: penalty } },
});

const transitVia = (routes: ReadonlyMap<string, Route>, from: string, via: string): boolean => routes.get(from)?.links[0]?.target === via;

/**
 * Which mesh-wide hop_penalty on `via` makes `from` stop sending transit traffic over the link
 * `from → via`. hop_penalty is applied by the node that forwards an OGM, so raising it on
 * `via` lowers every route through `via` as everyone sees it, while `from`'s route to `via`
 * itself is untouched (direct traffic between the two ends must use their link). The knob for
 * single-radio nodes, whose links all share one interface so that a per-interface penalty
 * cannot single out one neighbour. Bisection over 0-255, like `hopPenaltyToAvoid`. Undefined
 * when `from` has no link to `via`.
 */
export const hopPenaltyToSteer = (topology: RouteTopology, from: string, via: string, options: LinkAvoidanceOptions = {}): TransitSteering | undefined => {
  const hopPenalty = options.hopPenalty ?? DEFAULT_HOP_PENALTY;
  const mesh = new Mesh(topology, hopPenalty);
  if (!(mesh.out.get(from) ?? []).some((l) => l.target === via)) return undefined;
  const currentHopPenalty = mesh.hopPenalty(via);
  const destinations = [...(options.destinations ?? mesh.nodes)].filter((d) => d !== via && d !== from).sort(compare);
  const meshes = new Map<number, Mesh>();
  const routesAt = (penalty: number, d: string) => {
    let m = meshes.get(penalty);
    if (!m) meshes.set(penalty, (m = new Mesh(withMeshPenalty(topology, via, penalty), hopPenalty)));
    return routesTo(m, d);
  };
  const before = new Map(destinations.map((d) => [d, routesTo(mesh, d)] as const));
  const affected = destinations.filter((d) => transitVia(before.get(d)!, from, via));
  const result = (penalty: number, after: ReadonlyMap<string, ReadonlyMap<string, Route>>): TransitSteering => {
    const lostRoutes: { source: string; destination: string }[] = [];
    for (const d of destinations) for (const source of before.get(d)!.keys()) if (!after.get(d)?.has(source)) lostRoutes.push({ source, destination: d });
    return { from, via, currentHopPenalty, hopPenalty: penalty, lostRoutes };
  };
  if (affected.length === 0) return result(currentHopPenalty, before);
  // At 255 nothing is forwarded through `via` any more, so an answer always exists; `lostRoutes` says what it costs.
  const steers = (penalty: number) => affected.every((d) => !transitVia(routesAt(penalty, d), from, via));
  let lo = currentHopPenalty;
  let hi = TQ_MAX;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (steers(mid)) hi = mid;
    else lo = mid;
  }
  return result(hi, new Map(destinations.map((d) => [d, routesAt(hi, d)] as const)));
};

/**
 * The destinations route checks look at around `around` (a finding's nodes): every node on a
 * mesh of at most `count` nodes; on a larger one, half nearest `around` in hops and half spread
 * over the farthest quarter of the mesh from it (a full check costs one route computation per
 * node, too slow for a loop on 1,000 nodes). A raise near the finding lowers every route through
 * it, and the routes it can cut are the long ones, at the edge of batman-adv's reach: those
 * between the far side of the mesh and the nodes behind the finding, which an even spread mostly
 * misses. The order of `around` does not matter, so a link's two directions and the plan that
 * raised a penalty for it all look at the same destinations.
 */
export const routeCheckDestinations = (topology: RouteTopology, around: readonly string[], count: number): string[] => {
  const all = [...new Set(topology.links.flatMap((l) => [l.source, l.target]))].sort(compare);
  if (all.length <= count) return all;
  const adjacency = new Map<string, string[]>();
  for (const l of topology.links) {
    const list = adjacency.get(l.source);
    if (list) list.push(l.target);
    else adjacency.set(l.source, [l.target]);
  }
  // Breadth first from the sorted seeds: the queue's order is nearest first.
  const known = new Set(all);
  const queue = [...new Set(around)].sort(compare).filter((n) => known.has(n));
  const hops = new Map<string, number>(queue.map((n) => [n, 0]));
  for (let head = 0; head < queue.length; head++) {
    const n = queue[head]!;
    for (const m of adjacency.get(n) ?? []) {
      if (hops.has(m)) continue;
      hops.set(m, hops.get(n)! + 1);
      queue.push(m);
    }
  }
  const chosen = new Set(queue.slice(0, Math.ceil(count / 2)));
  // Farthest first (nodes not reached count as farthest), spread evenly over the farthest quarter.
  const far = [...all].sort((a, b) => (hops.get(b) ?? Infinity) - (hops.get(a) ?? Infinity) || compare(a, b)).slice(0, Math.max(1, Math.floor(all.length / 4)));
  const step = far.length / Math.max(1, count - chosen.size);
  for (let i = 0; chosen.size < count && i < far.length; i += step) chosen.add(far[Math.floor(i)]!);
  for (let i = 0; chosen.size < count && i < all.length; i++) chosen.add(all[i]!);
  return [...chosen].sort(compare);
};
