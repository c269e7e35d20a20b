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

/** evolve for one node: pure, idempotent by sequence. */
export const evolveNode = (node: NodeState | undefined, event: MeshEvent, ctx: MeshEventContext): NodeState => {
  const nodeId = event.payload.nodeId;
  if (node && ctx.seq <= node.seq) return node;
  const base: NodeState = { ...(node ?? { nodeId }), seq: ctx.seq, lastSeen: Math.max(node?.lastSeen ?? 0, ctx.occurredAt) };
  switch (event.type) {
    case "mesh.NodeAnnounced": {
      const { publicKey: _key, nodeId: _id, ...info } = event.payload;
      return { ...base, announced: { ...info, keyId: ctx.keyId, at: ctx.occurredAt } };
    }
    case "mesh.HeartbeatSent":
      return { ...base, heartbeat: { uptime: event.payload.uptime, at: ctx.occurredAt } };
    case "mesh.NodeMetricsReported": {
      const { nodeId: _id, ...metrics } = event.payload;
      return { ...base, metrics: { ...metrics, at: ctx.occurredAt } };
    }
    case "mesh.LinkMetricsReported":
      return { ...base, links: { samples: event.payload.links, at: ctx.occurredAt } };
  }
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
      this.byMac.set(event.payload.primaryMac, next.nodeId);
      for (const mac of event.payload.macs) this.byMac.set(mac, next.nodeId);
    }
    return next;
  }

  /** Restores a persisted node (from KV) without replaying its events. */
  load(node: NodeState): void {
    this.byId.set(node.nodeId, node);
    if (node.announced) {
      this.byMac.set(node.announced.primaryMac, node.nodeId);
      for (const mac of node.announced.macs) this.byMac.set(mac, node.nodeId);
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
