import type { HeartbeatSent, LinkMetricsReported, LinkSample, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";

/** What the control plane knows about one node. Rebuilt from MESH events alone. */
export interface NodeState {
  readonly nodeId: string;
  /** Stream sequence of the last event applied to this node (replays at or below it are no-ops). */
  readonly seq: number;
  /** occurredAt of the newest event from this node, ms since epoch. */
  readonly lastSeen: number;
  readonly announced?: Omit<NodeAnnounced, "publicKey" | "nodeId"> & { readonly keyId: string; readonly at: number };
  readonly heartbeat?: { readonly uptime: number; readonly at: number };
  readonly metrics?: Omit<NodeMetricsReported, "nodeId"> & { readonly at: number };
  readonly links?: { readonly samples: readonly LinkSample[]; readonly at: number };
}

export type MeshEvent =
  | { readonly type: "mesh.NodeAnnounced"; readonly payload: NodeAnnounced }
  | { readonly type: "mesh.HeartbeatSent"; readonly payload: HeartbeatSent }
  | { readonly type: "mesh.LinkMetricsReported"; readonly payload: LinkMetricsReported }
  | { readonly type: "mesh.NodeMetricsReported"; readonly payload: NodeMetricsReported };

export interface MeshEventContext {
  readonly seq: number;
  readonly occurredAt: number;
  readonly keyId: string;
}

const shared = new Map<string, string>();
/**
 * A flat copy of a string, one per distinct value (MACs, interface names, key ids: bounded by
 * the mesh). Strings decoded from CBOR are slices of the text of the whole payload (cbor-x
 * extracts all strings of a message at once), so a kept MAC would keep ~1 KB of payload alive.
 */
const intern = (s: string): string => {
  let c = shared.get(s);
  if (c === undefined) {
    c = Buffer.from(s, "utf8").toString("utf8");
    shared.set(c, c);
  }
  return c;
};
/** A flat copy of a free-form string (hostname, model): not kept in the intern table. */
const flat = (s: string): string => Buffer.from(s, "utf8").toString("utf8");

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Announced = NonNullable<NodeState["announced"]>;
type Metrics = NonNullable<NodeState["metrics"]>;

// Objects are built as literals with a fixed key order, never by spreading another object:
// V8 gives an object spread ({ ...x, k }) of objects whose numbers mix small integers and
// doubles a hidden class of its own (~130 B plus a property array each, three per node).
// Optional keys get one literal per combination that occurs: a key added to an object after
// its literal lives in a separate property array (40 B more per object, 80 000 link samples).
const linkSample = (l: LinkSample): LinkSample => {
  const neigh_address = intern(l.neigh_address);
  const { tq, last_seen_msecs, loss, latency_ms, throughput } = l;
  if (l.hard_ifname !== undefined) {
    const hard_ifname = intern(l.hard_ifname);
    return throughput !== undefined
      ? { neigh_address, tq, last_seen_msecs, loss, latency_ms, hard_ifname, throughput }
      : { neigh_address, tq, last_seen_msecs, loss, latency_ms, hard_ifname };
  }
  return throughput !== undefined ? { neigh_address, tq, last_seen_msecs, loss, latency_ms, throughput } : { neigh_address, tq, last_seen_msecs, loss, latency_ms };
};

const announcement = (p: NodeAnnounced, keyId: string, at: number): Announced => {
  const hardware: Mutable<Announced["hardware"]> = {};
  if (p.hardware.model !== undefined) hardware.model = intern(p.hardware.model);
  if (p.hardware.nproc !== undefined) hardware.nproc = p.hardware.nproc;
  const software: Mutable<Announced["software"]> = {};
  if (p.software.firmware !== undefined) software.firmware = intern(p.software.firmware);
  if (p.software.batmanAdv !== undefined) software.batmanAdv = intern(p.software.batmanAdv);
  if (p.software.x0 !== undefined) software.x0 = intern(p.software.x0);
  const primaryMac = intern(p.primaryMac);
  const macs = p.macs.map((m) => intern(m));
  if (p.hostname !== undefined && p.location !== undefined) {
    return { primaryMac, macs, hardware, software, keyId: intern(keyId), at, hostname: flat(p.hostname), location: { latitude: p.location.latitude, longitude: p.location.longitude } };
  }
  const a: Mutable<Announced> = { primaryMac, macs, hardware, software, keyId: intern(keyId), at };
  if (p.hostname !== undefined) a.hostname = flat(p.hostname);
  if (p.location !== undefined) a.location = { latitude: p.location.latitude, longitude: p.location.longitude };
  return a;
};

const nodeMetrics = (p: NodeMetricsReported, at: number): Metrics => {
  const t = p.traffic;
  const memory = { total: p.memory.total, available: p.memory.available };
  const traffic = { rx_bytes: t.rx_bytes, tx_bytes: t.tx_bytes, forward_bytes: t.forward_bytes, mgmt_rx_bytes: t.mgmt_rx_bytes, mgmt_tx_bytes: t.mgmt_tx_bytes };
  return p.clients !== undefined ? { cpu: p.cpu, loadavg: p.loadavg, memory, traffic, at, clients: p.clients } : { cpu: p.cpu, loadavg: p.loadavg, memory, traffic, at };
};

/** evolve for one node: pure, idempotent by sequence. */
export const evolveNode = (node: NodeState | undefined, event: MeshEvent, ctx: MeshEventContext): NodeState => {
  if (node && ctx.seq <= node.seq) return node;
  const at = ctx.occurredAt;
  const next: Mutable<NodeState> = { nodeId: node?.nodeId ?? intern(event.payload.nodeId), seq: ctx.seq, lastSeen: Math.max(node?.lastSeen ?? 0, at) };
  let announced = node?.announced;
  let heartbeat = node?.heartbeat;
  let metrics = node?.metrics;
  let links = node?.links;
  switch (event.type) {
    case "mesh.NodeAnnounced":
      announced = announcement(event.payload, ctx.keyId, at);
      break;
    case "mesh.HeartbeatSent":
      heartbeat = { uptime: event.payload.uptime, at };
      break;
    case "mesh.NodeMetricsReported":
      metrics = nodeMetrics(event.payload, at);
      break;
    case "mesh.LinkMetricsReported":
      links = { samples: event.payload.links.map(linkSample), at };
      break;
  }
  // A node that reports everything (the steady state): one literal, see above.
  if (announced && heartbeat && metrics && links) return { nodeId: next.nodeId, seq: next.seq, lastSeen: next.lastSeen, announced, heartbeat, metrics, links };
  if (announced) next.announced = announced;
  if (heartbeat) next.heartbeat = heartbeat;
  if (metrics) next.metrics = metrics;
  if (links) next.links = links;
  return next;
};

/** One direction of a link as its source node reports it. */
export interface TopologyLink extends LinkSample {
  readonly source: string;
  /** Node id when the neighbour's MAC is known from an announcement, otherwise undefined. */
  readonly target: string | undefined;
  readonly at: number;
}

/**
 * The knowledge base: every node's state plus a MAC → node index, so batman-adv neighbour
 * addresses resolve to node ids. Mutable container, pure per-node evolution.
 */
export class KnowledgeBase {
  private readonly byId = new Map<string, NodeState>();
  private readonly byMac = new Map<string, string>();

  apply(event: MeshEvent, ctx: MeshEventContext): NodeState {
    const next = evolveNode(this.byId.get(event.payload.nodeId), event, ctx);
    this.byId.set(next.nodeId, next);
    if (event.type === "mesh.NodeAnnounced") {
      // Interned keys: the decoded MACs are slices of the whole announcement's text.
      this.byMac.set(intern(event.payload.primaryMac), next.nodeId);
      for (const mac of event.payload.macs) this.byMac.set(intern(mac), next.nodeId);
    }
    return next;
  }

  /** Restores a persisted node (from KV) without replaying its events. */
  load(node: NodeState): void {
    this.byId.set(node.nodeId, node);
    if (node.announced) {
      this.byMac.set(intern(node.announced.primaryMac), node.nodeId);
      for (const mac of node.announced.macs) this.byMac.set(intern(mac), node.nodeId);
    }
  }

  get size(): number {
    return this.byId.size;
  }

  node(nodeId: string): NodeState | undefined {
    return this.byId.get(nodeId);
  }

  nodes(): IterableIterator<NodeState> {
    return this.byId.values();
  }

  nodeForMac(mac: string): string | undefined {
    return this.byMac.get(mac);
  }

  /** Neighbours of a node with their ids resolved. */
  neighbours(nodeId: string): TopologyLink[] {
    const node = this.byId.get(nodeId);
    if (!node?.links) return [];
    const { samples, at } = node.links;
    return samples.map((s) => ({ ...s, source: nodeId, target: this.byMac.get(s.neigh_address), at }));
  }

  /** The link graph: every directed link as its source last reported it. */
  topology(): { nodes: string[]; links: TopologyLink[] } {
    const links: TopologyLink[] = [];
    for (const id of this.byId.keys()) links.push(...this.neighbours(id));
    return { nodes: [...this.byId.keys()], links };
  }
}
