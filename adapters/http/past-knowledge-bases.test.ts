import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import type { AsOfOptions, KnowledgeBaseAsOf } from "../../projections/audit/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { ReplayedKnowledgeBases } from "./past-knowledge-bases.ts";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const past = (minutes: number) => new Date(NOW - minutes * 60_000);

/** Replays the test finishes by hand, to see which run, when, and whether they were stopped. */
const heldReplays = () => {
  const started: { asOf: Date; options: AsOfOptions; finish: () => void }[] = [];
  const replay = (_nc: NatsConnection, asOf: Date, options: AsOfOptions) =>
    new Promise<KnowledgeBaseAsOf>((resolve, reject) => {
      options.signal?.addEventListener("abort", () => reject(options.signal!.reason as Error), { once: true });
      const kb = new KnowledgeBaseProjection(undefined, { name: "test" }).kb;
      started.push({ asOf, options, finish: () => resolve({ kb, asOf, events: 0, applied: 0, throughSeq: 0, firstSeq: 1 }) });
    });
  return { started, replay };
};

const settle = () => new Promise((r) => setImmediate(r));
const nc = {} as NatsConnection;
const keep = () => new AbortController().signal;

describe("GET /nodes?asOf= rebuilds", () => {
  it("given two requests for the same time, when the replay finishes, then both get its one result", async () => {
    const { started, replay } = heldReplays();
    const rebuilds = new ReplayedKnowledgeBases(nc, { replay, now: () => NOW });
    const a = rebuilds.get(past(5), keep());
    const b = rebuilds.get(past(5), keep());
    await settle();
    expect(started).toHaveLength(1);
    started[0]!.finish();
    expect(await a).toBe(await b);
  });

  it("given requests for two times, then the second replay starts only once the first is done", async () => {
    const { started, replay } = heldReplays();
    const rebuilds = new ReplayedKnowledgeBases(nc, { replay, now: () => NOW });
    const a = rebuilds.get(past(5), keep());
    const b = rebuilds.get(past(9), keep());
    await settle();
    expect(started.map((s) => s.asOf)).toEqual([past(5)]);
    started[0]!.finish();
    await a;
    await settle();
    expect(started.map((s) => s.asOf)).toEqual([past(5), past(9)]);
    started[1]!.finish();
    expect((await b).asOf).toEqual(past(9));
  });

  it("given the only request goes away, then its replay is stopped and a later request replays afresh", async () => {
    const { started, replay } = heldReplays();
    const rebuilds = new ReplayedKnowledgeBases(nc, { replay, now: () => NOW });
    const gone = new AbortController();
    const abandoned = rebuilds.get(past(5), gone.signal);
    const stays = rebuilds.get(past(5), keep());
    await settle();
    gone.abort();
    // Another request still waits: the replay goes on.
    expect(started[0]!.options.signal!.aborted).toBe(false);
    started[0]!.finish();
    await Promise.all([abandoned, stays]);

    const alone = new AbortController();
    const lone = rebuilds.get(past(7), alone.signal);
    await settle();
    alone.abort();
    await expect(lone).rejects.toThrow(/no request waits/u);
    expect(started[1]!.options.signal!.aborted).toBe(true);
    const again = rebuilds.get(past(7), keep());
    await settle();
    expect(started).toHaveLength(3);
    started[2]!.finish();
    expect((await again).asOf).toEqual(past(7));
  });

  it("keeps the results of past times, the last `entries` used, and never those of a time not yet past", async () => {
    const { started, replay } = heldReplays();
    const rebuilds = new ReplayedKnowledgeBases(nc, { replay, now: () => NOW, entries: 2 });
    const ask = async (asOf: Date) => {
      const result = rebuilds.get(asOf, keep());
      await settle();
      started.at(-1)!.finish();
      return result;
    };
    await ask(past(1));
    await ask(past(2));
    await rebuilds.get(past(1), keep()); // kept: no replay; now the most recently used
    expect(started).toHaveLength(2);
    await ask(past(3)); // drops past(2), the least recently used
    await rebuilds.get(past(1), keep());
    expect(started).toHaveLength(3);
    await ask(past(2));
    expect(started).toHaveLength(4);
    await ask(new Date(NOW));
    await ask(new Date(NOW));
    expect(started).toHaveLength(6);
  });
});
