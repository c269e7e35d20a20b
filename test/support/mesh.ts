import { HeartbeatSent, LinkMetricsReported, meshSubject, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { Producer, generateSigningKey, type SealedEvent } from "../../streams/index.ts";

/** A mesh node for tests: its own key, signing its own events. */
export const testNode = (nodeId: string, index = 1) => {
  const producer = new Producer(nodeId, generateSigningKey());
  const mac = `02:00:00:00:${Math.floor(index / 256).toString(16).padStart(2, "0")}:${(index % 256).toString(16).padStart(2, "0")}`;
  return {
    nodeId,
    mac,
    producer,
    announce: (): SealedEvent =>
      producer.seal(
        NodeAnnounced,
        { nodeId, publicKey: producer.key.publicKey, primaryMac: mac, macs: [mac], hardware: { model: "test" }, software: { x0: "test" } },
        meshSubject(nodeId, NodeAnnounced.type),
      ),
    heartbeat: (uptime = 1): SealedEvent => producer.seal(HeartbeatSent, { nodeId, uptime }, meshSubject(nodeId, HeartbeatSent.type)),
    links: (neighbours: readonly { mac: string; tq: number }[]): SealedEvent =>
      producer.seal(
        LinkMetricsReported,
        {
          nodeId,
          links: neighbours.map((n) => ({ neigh_address: n.mac, tq: n.tq, last_seen_msecs: 100, loss: 0, latency_ms: 2 })),
        },
        meshSubject(nodeId, LinkMetricsReported.type),
      ),
    metrics: (cpu = 0.1): SealedEvent =>
      producer.seal(
        NodeMetricsReported,
        {
          nodeId,
          cpu,
          loadavg: 0.2,
          memory: { total: 65536, available: 32768 },
          traffic: { rx_bytes: 1, tx_bytes: 2, forward_bytes: 3, mgmt_rx_bytes: 4, mgmt_tx_bytes: 5 },
        },
        meshSubject(nodeId, NodeMetricsReported.type),
      ),
  };
};
