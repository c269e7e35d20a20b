/**
 * The producer side of `npm run bench:ingest`: simulated mesh nodes, in a child process of the
 * bench (never in the control plane's process). Two jobs, chosen by the first IPC message:
 *
 * - `sign`: generate the key of each producer in a range and seal its whole event sequence
 *   (announce first, then alternating link and node metrics) with the real envelope code,
 *   exactly as a node does before it publishes. The sealed events go to a file. The bench runs
 *   one signer per core before any timer starts: signing is the nodes' work, on the nodes' CPUs.
 * - `publish`: load every signed file once (building the NATS headers then), then for each
 *   phase open the connections, wait for "go", and publish every event as `EventStore.append`
 *   does (js.publish awaiting the PubAck), keeping a bounded window of unacknowledged publishes
 *   per producer. The raw baseline and the platform phase use this same publisher and the same bytes.
 */
import { readFile, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { LinkMetricsReported, meshSubject, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { decodeCbor, encodeCbor, toHeaders, type EnvelopeMeta, type SealedEvent } from "../../streams/envelope.ts";
import { Producer } from "../../streams/event-store.ts";
import { generateSigningKey } from "../../streams/keys.ts";

/** Messages between the bench (parent) and this process. */
export type ProducerCommand =
  | {
      readonly op: "sign";
      readonly file: string;
      /** Index of the first producer this signer owns, and how many events each of its producers sends. */
      readonly first: number;
      readonly eventsEach: readonly number[];
      /** All producers in the mesh (neighbour MACs point at other producers). */
      readonly producers: number;
      readonly linksPerNode: number;
    }
  | { readonly op: "load"; readonly files: readonly string[] }
  | {
      readonly op: "connect";
      readonly url: string;
      /** Unacknowledged publishes per producer. */
      readonly window: number;
      /** NATS connections; producers are spread over them round-robin (M = one per node). */
      readonly connections: number;
    }
  | { readonly op: "go" }
  | { readonly op: "disconnect" }
  | { readonly op: "exit" };

export type ProducerReply =
  | { readonly op: "signed"; readonly events: number; readonly bytes: number; readonly ms: number }
  | { readonly op: "loaded"; readonly events: number; readonly producers: number; readonly payloadBytes: number; readonly headerBytes: number }
  | { readonly op: "connected" }
  | { readonly op: "published"; readonly events: number; readonly ms: number }
  | { readonly op: "disconnected" }
  | { readonly op: "error"; readonly message: string };

/** A sealed event as stored between signing and publishing: what goes on the wire. */
interface StoredEvent {
  readonly meta: EnvelopeMeta;
  readonly payload: Uint8Array;
}

/** Ready to publish: NATS headers built once at load, like the payload and signature. */
interface WireEvent {
  readonly subject: string;
  readonly headers: MsgHdrs;
  readonly payload: Uint8Array;
}

export const nodeIdOf = (index: number) => `node-${String(index).padStart(5, "0")}`;
export const macOf = (index: number) =>
  `02:00:${[(index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff, 0].map((b) => b.toString(16).padStart(2, "0")).join(":")}`;

/** Small deterministic PRNG so every run of the bench signs the same shapes of payloads. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** One node's event sequence: NodeAnnounced, then link and node metrics taking turns, as a node agent reports. */
const sealNode = (index: number, count: number, producers: number, linksPerNode: number): StoredEvent[] => {
  const nodeId = nodeIdOf(index);
  const mac = macOf(index);
  const producer = new Producer(nodeId, generateSigningKey());
  const random = prng(index + 1);
  const neighbours = Array.from({ length: Math.min(linksPerNode, producers - 1) }, (_, k) => macOf((index + 1 + k) % producers));
  const out: StoredEvent[] = [
    producer.seal(
      NodeAnnounced,
      {
        nodeId,
        publicKey: producer.key.publicKey,
        hostname: nodeId,
        primaryMac: mac,
        macs: [mac],
        hardware: { model: "TP-Link TL-WR841N/ND v9", nproc: 1 },
        software: { firmware: "gluon-v2023.2.3", batmanAdv: "2023.1", x0: "0.1.0" },
        location: { latitude: 53.07 + random() / 10, longitude: 8.8 + random() / 10 },
      },
      meshSubject(nodeId, NodeAnnounced.type),
    ),
  ];
  let rx = 0;
  let tx = 0;
  for (let i = 1; i < count; i++) {
    let sealed: SealedEvent;
    if (i % 2 === 1) {
      sealed = producer.seal(
        LinkMetricsReported,
        {
          nodeId,
          links: neighbours.map((neigh) => ({
            neigh_address: neigh,
            hard_ifname: "mesh0",
            tq: 100 + Math.floor(random() * 156),
            last_seen_msecs: Math.floor(random() * 2000),
            throughput: Math.round(random() * 54_000),
            loss: Math.round(random() * 100) / 1000,
            latency_ms: Math.round(random() * 5000) / 100,
          })),
        },
        meshSubject(nodeId, LinkMetricsReported.type),
      );
    } else {
      rx += Math.floor(random() * 1e6);
      tx += Math.floor(random() * 1e6);
      sealed = producer.seal(
        NodeMetricsReported,
        {
          nodeId,
          cpu: Math.round(random() * 1000) / 1000,
          loadavg: Math.round(random() * 200) / 100,
          memory: { total: 60_000, available: 20_000 + Math.floor(random() * 20_000) },
          traffic: { rx_bytes: rx, tx_bytes: tx, forward_bytes: Math.floor(rx / 2), mgmt_rx_bytes: Math.floor(rx / 50), mgmt_tx_bytes: Math.floor(tx / 50) },
          clients: Math.floor(random() * 30),
        },
        meshSubject(nodeId, NodeMetricsReported.type),
      );
    }
    out.push({ meta: sealed.meta, payload: sealed.payload });
  }
  return out;
};

const send = (reply: ProducerReply): void => {
  process.send?.(reply);
};

let nodes: WireEvent[][] = [];
let connections: NatsConnection[] = [];
let window = 32;

/** Header bytes as NATS puts them on the wire. */
const headerBytes = (h: MsgHdrs) => h.toString().length;

/**
 * One node publishing its events in order, `window` PubAcks outstanding at most: what
 * `EventStore.append` does (js.publish with the envelope headers, awaiting the PubAck), with the
 * headers built before the timer like the signature. A failed publish fails the phase.
 */
const publishNode = async (js: JetStreamClient, events: readonly WireEvent[]): Promise<void> => {
  let next = 0;
  let failure: Error | undefined;
  const publish = (e: WireEvent) => js.publish(e.subject, e.payload, { headers: e.headers, timeout: 60_000 });
  const lane = async () => {
    while (next < events.length && !failure) {
      try {
        await publish(events[next++]!);
      } catch (error) {
        failure = error as Error;
      }
    }
  };
  // The announcement goes alone first, so no metric can overtake the key it needs. After that,
  // one connection keeps the order of publishes on the wire, and so in the stream.
  if (events.length > 0) await publish(events[next++]!);
  await Promise.all(Array.from({ length: window }, lane));
  if (failure) throw failure;
};

const handle = async (cmd: ProducerCommand): Promise<void> => {
  switch (cmd.op) {
    case "sign": {
      const start = performance.now();
      const signed = cmd.eventsEach.map((count, k) => sealNode(cmd.first + k, count, cmd.producers, cmd.linksPerNode));
      const bytes = encodeCbor(signed);
      await writeFile(cmd.file, bytes);
      send({ op: "signed", events: signed.reduce((n, s) => n + s.length, 0), bytes: bytes.length, ms: performance.now() - start });
      return;
    }
    case "load": {
      nodes = [];
      for (const file of cmd.files) {
        for (const list of decodeCbor(await readFile(file)) as StoredEvent[][]) {
          nodes.push(list.map((e) => ({ subject: e.meta.subject, headers: toHeaders(e.meta), payload: e.payload })));
        }
      }
      let events = 0;
      let payloadBytes = 0;
      let headers = 0;
      for (const list of nodes) {
        for (const e of list) {
          events++;
          payloadBytes += e.payload.length;
          headers += headerBytes(e.headers);
        }
      }
      send({ op: "loaded", events, producers: nodes.length, payloadBytes, headerBytes: headers });
      return;
    }
    case "connect": {
      window = cmd.window;
      const count = Math.max(1, Math.min(cmd.connections, nodes.length));
      // noAsyncTraces: without it nats.js builds two Error objects (stack traces) per request,
      // a third of this process's CPU, which on a real mesh each node spends on its own CPU but
      // here comes out of the two cores the control plane and the raw baseline share.
      connections = await Promise.all(
        Array.from({ length: count }, (_, i) => connect({ servers: cmd.url, name: `bench-node-${i}`, noAsyncTraces: true })),
      );
      send({ op: "connected" });
      return;
    }
    case "go": {
      const start = performance.now();
      const clients = connections.map((nc) => jetstream(nc));
      await Promise.all(nodes.map((list, i) => publishNode(clients[i % clients.length]!, list)));
      send({ op: "published", events: nodes.reduce((n, l) => n + l.length, 0), ms: performance.now() - start });
      return;
    }
    case "disconnect": {
      await Promise.all(connections.map((nc) => nc.close()));
      connections = [];
      send({ op: "disconnected" });
      return;
    }
    case "exit":
      process.exit(0);
  }
};

// Commands run one at a time, in order.
let queue: Promise<void> = Promise.resolve();
process.on("message", (cmd: ProducerCommand) => {
  queue = queue.then(() => handle(cmd)).catch((error: Error) => send({ op: "error", message: error.stack ?? error.message }));
});
process.on("disconnect", () => process.exit(0));
