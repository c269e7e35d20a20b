import type { KnowledgeBase, NodeState, TopologyLink } from "../../projections/knowledge-base/index.ts";
import type { Link, NodeDetail, NodeSummary, Topology } from "./schemas.ts";

/*
 * The knowledge base's read model rendered in the API's shapes (schemas.ts): times as RFC 3339,
 * unresolved neighbours as null, everything in a stable order so two reads of an unchanged mesh
 * are byte-identical.
 */

const iso = (ms: number): string => new Date(ms).toISOString();

const byNodeId = (a: NodeState, b: NodeState): number => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);

/** Every node, ordered by node id, so `limit`/`offset` pages do not overlap or skip. */
export const sortedNodes = (kb: KnowledgeBase): NodeState[] => [...kb.nodes()].sort(byNodeId);

const heartbeatView = (node: NodeState) => (node.heartbeat ? { heartbeat: { uptime: node.heartbeat.uptime, at: iso(node.heartbeat.at) } } : {});

const metricsView = (node: NodeState) => (node.metrics ? { metrics: { ...node.metrics, at: iso(node.metrics.at) } } : {});

export const linkView = (link: TopologyLink): Link => {
  const { source, target, at, ...sample } = link;
  return { source, target: target ?? null, ...sample, at: iso(at) };
};

export const nodeSummary = (node: NodeState): NodeSummary => ({
  nodeId: node.nodeId,
  seq: node.seq,
  lastSeen: iso(node.lastSeen),
  ...(node.announced?.hostname !== undefined ? { hostname: node.announced.hostname } : {}),
  ...(node.announced ? { primaryMac: node.announced.primaryMac } : {}),
  ...heartbeatView(node),
  ...metricsView(node),
  neighbourCount: node.links?.samples.length ?? 0,
});

export const nodeDetail = (kb: KnowledgeBase, node: NodeState): NodeDetail => ({
  nodeId: node.nodeId,
  seq: node.seq,
  lastSeen: iso(node.lastSeen),
  ...(node.announced ? { announced: { ...node.announced, at: iso(node.announced.at) } } : {}),
  ...heartbeatView(node),
  ...metricsView(node),
  ...(node.links ? { linksReportedAt: iso(node.links.at) } : {}),
  neighbours: kb.neighbours(node.nodeId).map(linkView),
});

const byLink = (a: Link, b: Link): number =>
  a.source < b.source ? -1 : a.source > b.source ? 1 : a.neigh_address < b.neigh_address ? -1 : a.neigh_address > b.neigh_address ? 1 : 0;

export const topologyView = (kb: KnowledgeBase): Topology => ({
  nodes: sortedNodes(kb).map((node) => ({
    nodeId: node.nodeId,
    lastSeen: iso(node.lastSeen),
    ...(node.announced?.hostname !== undefined ? { hostname: node.announced.hostname } : {}),
    ...(node.announced ? { primaryMac: node.announced.primaryMac } : {}),
    ...(node.announced?.location ? { location: node.announced.location } : {}),
  })),
  links: kb.topology().links.map(linkView).sort(byLink),
});
