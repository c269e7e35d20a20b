import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatSent } from "../../domains/mesh/index.ts";
import { EventStore, generateSigningKey, ProducerRegistry, readEvents, sealBytes, toHeaders, type ReadEvent } from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

const collect = async (it: AsyncIterable<ReadEvent>) => {
  const out: ReadEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
};

describe("readEvents (replay and tail)", () => {
  let nats: TestNats;
  let seqs: number[];
  let forgedSeq: number;
  let middleTime: Date;
  const a = testNode("reader-a", 1);

  beforeAll(async () => {
    nats = await startTestNats();
    const store = new EventStore(nats.nc);
    seqs = [(await store.append(a.announce())).seq];
    for (let i = 1; i <= 4; i++) seqs.push((await store.append(a.heartbeat(i))).seq);
    await new Promise((r) => setTimeout(r, 20));
    middleTime = new Date();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 5; i <= 6; i++) seqs.push((await store.append(a.heartbeat(i))).seq);
    const honest = a.heartbeat(7);
    const forged = sealBytes(HeartbeatSent, honest.payload, { subject: honest.meta.subject, key: { ...generateSigningKey(), keyId: a.producer.key.keyId }, producerId: a.nodeId });
    forgedSeq = (await jetstream(nats.nc).publish(forged.meta.subject, forged.payload, { headers: toHeaders(forged.meta) })).seq;
  });
  afterAll(async () => nats?.close());

  it("replays a stream in order, verifying each signature with keys learnt from announcements", async () => {
    const events = await collect(readEvents(nats.nc, { subject: "mesh.>", registry: ProducerRegistry.inMemory() }));
    expect(events.map((e) => e.seq)).toEqual([...seqs, forgedSeq]);
    expect(events.slice(0, -1).every((e) => e.status === "verified")).toBe(true);
    expect(events.at(-1)).toMatchObject({ status: "bad-signature", seq: forgedSeq });
  });

  it("starts at a sequence and stops at an upper bound", async () => {
    const events = await collect(readEvents(nats.nc, { subject: "mesh.>", start: { seq: seqs[2]! }, until: { seq: seqs[4]! } }));
    expect(events.map((e) => e.seq)).toEqual(seqs.slice(2, 5));
    // No projection has bound reader-a's key yet and the read starts after its announcement.
    expect(events[0]!.status).toBe("unknown-producer");
  });

  it("starts at a time", async () => {
    const events = await collect(readEvents(nats.nc, { subject: "mesh.reader-a.heartbeat", start: { time: middleTime }, registry: ProducerRegistry.inMemory() }));
    expect(events.map((e) => (e.payload as { uptime: number }).uptime)).toEqual([5, 6, 7]);
  });

  it("follows new events when tailing, until aborted", async () => {
    const abort = new AbortController();
    const tail = readEvents(nats.nc, { subject: "mesh.reader-a.*", start: "new", follow: true, signal: abort.signal });
    const first = tail.next();
    // "new" means after the tail's consumer exists, which happens asynchronously: keep appending until one arrives.
    const store = new EventStore(nats.nc);
    const appended: number[] = [];
    let received: IteratorResult<ReadEvent> | undefined;
    void first.then((r) => (received = r));
    while (!received) {
      appended.push((await store.append(a.heartbeat(100 + appended.length))).seq);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(appended).toContain(received.value.seq);
    expect(received.value.seq).toBeGreaterThan(forgedSeq);
    abort.abort();
    await tail.return(undefined);
  });

  it("refuses a subject filter that is in no stream", async () => {
    await expect(() => readEvents(nats.nc, { subject: "nope.>" }).next()).rejects.toThrow(/in no stream/);
  });
});
