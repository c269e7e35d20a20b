// Projection checkpointing costs on the installed nats-server (own server, temp store):
//  1. consuming N stored 300-byte events with a durable pull consumer, acknowledging every
//     message (AckPolicy.Explicit) vs one ack per 10,000 (AckPolicy.All, as at a checkpoint);
//  2. one checkpoint of the knowledge base: K node states (~1 KB CBOR) put in KV 512 at a time,
//     then the checkpoint key, as projections/knowledge-base/projection.ts does.
//   node adapters/cli/run-ts.js ADR/measurements/checkpoint.ts [N=100000] [K=10000]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../../adapters/nats-server/index.ts";
import { encodeCbor } from "../../streams/envelope.ts";

const N = Number(process.argv[2] ?? 100_000);
const K = Number(process.argv[3] ?? 10_000);
const dir = await mkdtemp(join(tmpdir(), "x0-adr-"));
const server = await startNatsServer({ dataDir: dir });
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: "C", subjects: ["c.>"] });
const data = new Uint8Array(300);
for (let i = 0; i < N; i += 1000) {
  await Promise.all(Array.from({ length: Math.min(1000, N - i) }, (_, j) => js.publish(`c.n${(i + j) % 50}.links`, data)));
}

const consumeAll = async (name: string, policy: AckPolicy, ackEvery: number) => {
  await jsm.consumers.add("C", { durable_name: name, ack_policy: policy, max_ack_pending: 50_000 });
  const consumer = await js.consumers.get("C", name);
  const start = performance.now();
  let seen = 0;
  await new Promise<void>((resolve) => {
    void consumer.consume({
      max_messages: 1024,
      callback: (m: JsMsg) => {
        seen++;
        if (seen % ackEvery === 0 || seen === N) m.ack();
        if (seen === N) resolve();
      },
    });
  });
  const eps = N / ((performance.now() - start) / 1000);
  await new Promise((r) => setTimeout(r, 200));
  const info = await jsm.consumers.info("C", name);
  return `${Math.round(eps)} events/s (ack floor ${info.ack_floor.stream_seq}/${N})`;
};
console.log(`explicit ack per event: ${await consumeAll("explicit", AckPolicy.Explicit, 1)}`);
console.log(`ack-all every 10,000:   ${await consumeAll("all", AckPolicy.All, 10_000)}`);

const kv = await new Kvm(nc).create("kb", { history: 1 });
const state = encodeCbor({
  nodeId: "node-0042",
  lastSeq: 123456,
  lastSeenAt: Date.now(),
  links: Array.from({ length: 8 }, (_, i) => ({ neighbour: `node-${i}`, tq: 200, throughput: 54000, loss: 0.01, latency_ms: 3.1, last_seen_msecs: 400 })),
  metrics: { cpu: 0.2, loadavg: 0.4, memory: { total: 262144, available: 131072 } },
});
const start = performance.now();
for (let i = 0; i < K; i += 512) {
  await Promise.all(Array.from({ length: Math.min(512, K - i) }, (_, j) => kv.put(`node.n${i + j}`, state)));
}
await kv.put("checkpoint", String(N));
const ms = performance.now() - start;
console.log(`checkpoint of ${K} node states (${state.length} B each): ${ms.toFixed(0)} ms (${Math.round(K / (ms / 1000))} puts/s)`);

await nc.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
