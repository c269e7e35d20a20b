import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { EventStore, ProducerRegistry, ProjectionRunner, type VerifiedEvent } from "../../streams/index.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/** A knowledge-base projection that records which stream sequences it applied. */
const recordingProjection = (nc: NatsConnection, name = "knowledge-base", bucket = "kb") => {
  const projection = new KnowledgeBaseProjection(nc, { name, bucket });
  const applied: number[] = [];
  const apply = projection.apply.bind(projection);
  projection.apply = (event: VerifiedEvent) => {
    applied.push(event.seq);
    apply(event);
  };
  return { projection, applied };
};

const kbState = (p: KnowledgeBaseProjection) =>
  [...p.kb.nodes()].sort((a, b) => a.nodeId.localeCompare(b.nodeId)).map((n) => JSON.stringify(n));

describe("projection checkpoints: restart resumes with no loss and no double effect", () => {
  let nats: TestNats;
  let store: EventStore;
  const a = testNode("node-a", 1);
  const b = testNode("node-b", 2);

  beforeEach(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
  });
  afterEach(async () => nats?.close());

  const publish = async (count: number, start: number) => {
    let last = 0;
    for (let i = 0; i < count; i++) {
      last = (await store.append(i % 2 ? a.heartbeat(start + i) : b.links([{ mac: a.mac, tq: (start + i) % 256 }]))).seq;
    }
    return last;
  };

  it("a clean stop and start applies only the events after the checkpoint", async () => {
    await store.append(a.announce());
    await store.append(b.announce());
    const first = await publish(20, 0);
    const one = recordingProjection(nats.nc);
    const runner1 = new ProjectionRunner(nats.nc, one.projection, await ProducerRegistry.open(nats.nc));
    await runner1.start();
    await runner1.waitFor(first);
    await runner1.stop();
    expect(runner1.durableSequence).toBe(first);

    const last = await publish(10, 100);
    const two = recordingProjection(nats.nc);
    const runner2 = new ProjectionRunner(nats.nc, two.projection, await ProducerRegistry.open(nats.nc));
    await runner2.start();
    await runner2.waitFor(last, { durable: true });
    await runner2.stop();

    expect(two.applied).toEqual(Array.from({ length: 10 }, (_, i) => first + 1 + i));
    // The restored-and-continued state equals a full replay from the first event.
    const replay = recordingProjection(nats.nc, "kb-replay", "kb-replay");
    const runner3 = new ProjectionRunner(nats.nc, replay.projection, ProducerRegistry.inMemory());
    await runner3.start();
    await runner3.waitFor(last);
    await runner3.stop();
    expect(kbState(two.projection)).toEqual(kbState(replay.projection));
    expect(two.projection.kb.node("node-a")?.heartbeat?.uptime).toBe(109);
  });

  it("a crash before the checkpoint re-applies the unpersisted events at once, exactly once more", async () => {
    await store.append(a.announce());
    await store.append(b.announce());
    const checkpointed = await publish(10, 0);
    const crashed = await nats.connect("crashing-control-plane");
    const one = recordingProjection(crashed);
    const runner1 = new ProjectionRunner(crashed, one.projection, await ProducerRegistry.open(crashed), {
      checkpointIntervalMs: 60_000,
      checkpointEvery: 12,
    });
    await runner1.start();
    await runner1.waitFor(checkpointed, { durable: true });
    const last = await publish(5, 50);
    await runner1.waitFor(last);
    const durableAtCrash = runner1.durableSequence;
    expect(durableAtCrash).toBeLessThan(last);
    await crashed.close(); // no stop(), no final checkpoint: the process died

    const two = recordingProjection(nats.nc);
    const runner2 = new ProjectionRunner(nats.nc, two.projection, await ProducerRegistry.open(nats.nc));
    await runner2.start();
    // Well under the consumer's 60 s ack wait: the consumer was recreated at the checkpoint.
    await runner2.waitFor(last, { durable: true, timeoutMs: 15_000 });
    await runner2.stop();
    const expected = [];
    for (let s = durableAtCrash + 1; s <= last; s++) expected.push(s);
    expect(two.applied).toEqual(expected);
    expect(two.projection.kb.node("node-a")?.heartbeat?.uptime).toBe(53);
  });

  it("keeps consuming across a nats-server restart", async () => {
    await store.append(a.announce());
    const { projection } = recordingProjection(nats.nc);
    const runner = new ProjectionRunner(nats.nc, projection, await ProducerRegistry.open(nats.nc), { checkpointIntervalMs: 100 });
    await runner.start();
    const before = (await store.append(a.heartbeat(1))).seq;
    await runner.waitFor(before, { durable: true });
    await nats.restart!();
    let after = 0;
    for (let attempt = 0; attempt < 50 && after === 0; attempt++) {
      after = await store.append(a.heartbeat(2)).then((r) => r.seq, () => 0);
      if (after === 0) await new Promise((r) => setTimeout(r, 200));
    }
    await runner.waitFor(after, { durable: true, timeoutMs: 25_000 });
    expect(projection.kb.node("node-a")?.heartbeat?.uptime).toBe(2);
    await runner.stop();
  });
});
