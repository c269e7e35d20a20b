import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { metricsRegistry, ProducerRegistry, ProjectionRunner } from "../../streams/index.ts";
import { startTestNats, type TestNats } from "../../test/support/nats.ts";
import { runSim, type RunningSim } from "./index.ts";

const until = async (condition: () => boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("twin against a real nats-server, read back by the knowledge base", () => {
  let nats: TestNats;
  let sim: RunningSim | undefined;
  let runner: ProjectionRunner | undefined;

  beforeAll(async () => {
    nats = await startTestNats();
  });
  afterAll(async () => {
    await sim?.stop();
    await runner?.stop();
    await nats?.close();
  });

  it("puts every node and every link of a 10-node mesh into the knowledge base, nothing quarantined", async () => {
    const lines: string[] = [];
    sim = await runSim({ servers: nats.url, nodes: 10, intervalMs: 200, seed: 7, progressEveryMs: 200, log: (l) => lines.push(l) });
    const twin = sim.twin;
    const projection = new KnowledgeBaseProjection(nats.nc);
    runner = new ProjectionRunner(nats.nc, projection, await ProducerRegistry.open(nats.nc), { checkpointIntervalMs: 100 });
    await runner.start();

    const expected = new Map(twin.nodes.map((n) => [n.id, [...n.neighbours].sort()]));
    const resolvedNeighbours = (id: string) =>
      projection.kb
        .neighbours(id)
        .map((l) => l.target)
        .sort();
    await until(
      () =>
        projection.kb.size === 10 &&
        [...expected].every(([id, neighbours]) => JSON.stringify(resolvedNeighbours(id)) === JSON.stringify(neighbours)),
      "all 10 nodes and their resolved links are in the knowledge base",
    );
    await until(() => twin.stats.publishedByType["mesh.LinkMetricsReported"]! >= 20, "two rounds per node");
    await sim.stop();

    for (const node of twin.nodes) {
      const state = projection.kb.node(node.id)!;
      expect(state.announced?.keyId).toBe(node.keyId);
      expect(state.announced?.primaryMac).toBe(node.primaryMac);
      expect(state.heartbeat?.uptime).toBeGreaterThan(0);
      expect(state.metrics?.memory.total).toBeGreaterThan(0);
      for (const link of projection.kb.neighbours(node.id)) expect(link.tq).toBeGreaterThanOrEqual(0);
    }
    // Every directed link of the generated mesh is reported by its source (2 × undirected links).
    expect(projection.kb.topology().links).toHaveLength(2 * twin.topology!.links.length);

    // Everything the twin published was applied; nothing went to QUARANTINE.
    const jsm = await jetstreamManager(nats.nc);
    const mesh = await jsm.streams.info("MESH");
    expect(mesh.state.messages).toBe(twin.stats.published);
    await runner.waitFor(mesh.state.last_seq, { durable: true });
    expect((await jsm.streams.info("QUARANTINE")).state.messages).toBe(0);
    const quarantined = await metricsRegistry.getSingleMetric("x0_events_quarantined_total")!.get();
    expect(quarantined.values.reduce((sum, v) => sum + v.value, 0)).toBe(0);
    expect(twin.stats.errors).toBe(0);
    expect(lines[0]).toMatch(/^twin: 10 nodes \(10 online\)/);
    expect(lines.some((l) => /events published/.test(l))).toBe(true);
  });
});
