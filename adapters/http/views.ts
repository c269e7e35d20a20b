import { nodeHealth, trafficDemandKbps, type TrafficCounters } from "../../domains/healing/index.ts";
import {
  faultView,
  incidentDetail,
  incidentSummary,
  operatorCommandView,
  type FaultRecord as FaultRecordOf,
  type IncidentRecord,
  type OperatorCommandRecord,
} from "../../projections/incidents/index.ts";
import type { KnowledgeBase, NodeState, TopologyLink } from "../../projections/knowledge-base/index.ts";
import type { LivenessSource } from "./context.ts";
import type { FaultRecord, IncidentDetail, IncidentSummary, Link, NodeDetail, NodeHealth, NodeSummary, OperatorCommand, Topology } from "./schemas.ts";

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

// ---------------------------------------------------------------------------------------------
// Healing. The incident log renders itself (projections/incidents/views.ts, shared with the
// CLI); these wrappers pin its shapes to the API's Schemas at compile time.
// ---------------------------------------------------------------------------------------------

export const incidentSummaryView = (record: IncidentRecord): IncidentSummary => incidentSummary(record);
export const incidentDetailView = (record: IncidentRecord): IncidentDetail => incidentDetail(record);
export const operatorCommandJson = (record: OperatorCommandRecord): OperatorCommand => operatorCommandView(record);
export const faultJson = (record: FaultRecordOf): FaultRecord => faultView(record);

const zeroTraffic: TrafficCounters = { rx_bytes: 0, tx_bytes: 0, forward_bytes: 0, mgmt_rx_bytes: 0, mgmt_tx_bytes: 0 };

/**
 * Demand from the one traffic reading the knowledge base keeps: its counters (since boot) over
 * the node's uptime when they were read. An average since boot, said so in `demandBasis`.
 */
const demandOf = (node: NodeState): number | undefined => {
  const { metrics, heartbeat } = node;
  if (!metrics || !heartbeat) return undefined;
  const uptimeMs = heartbeat.uptime * 1000 + (metrics.at - heartbeat.at);
  return trafficDemandKbps(zeroTraffic, metrics.traffic, uptimeMs);
};

/** JSON has no Infinity: a detector's unbounded suspicion is reported as the largest number. */
const finite = (n: number): number => (Number.isFinite(n) ? Math.max(0, n) : Number.MAX_VALUE);

export const nodeHealthView = (node: NodeState, liveness: LivenessSource | undefined): NodeHealth => {
  const links = node.links?.samples ?? [];
  const demandKbps = demandOf(node);
  const health = nodeHealth({ nodeId: node.nodeId, links, demandKbps });
  const live = liveness?.nodeLiveness(node.nodeId);
  return {
    nodeId: node.nodeId,
    ratio: health.ratio,
    state: health.state,
    directive: health.directive,
    deliveredKbps: health.deliveredKbps,
    requiredKbps: health.requiredKbps,
    demandKbps: demandKbps ?? null,
    demandBasis: demandKbps === undefined ? "unknown" : "since-boot-average",
    links: links.length,
    ...(node.links ? { linksReportedAt: iso(node.links.at) } : {}),
    ...(live
      ? {
          liveness: {
            phi: finite(live.phi),
            suspected: live.suspected,
            ...(live.lastHeartbeatAt !== undefined ? { lastHeartbeatAt: iso(live.lastHeartbeatAt) } : {}),
          },
        }
      : {}),
  };
};
