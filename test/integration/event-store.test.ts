import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStore, ExpectedVersionConflictError } from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

describe("EventStore against a real nats-server", () => {
  let nats: TestNats;
  let store: EventStore;
  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
  });
  afterAll(async () => nats?.close());

  it("appends a signed event and returns its stream sequence", async () => {
    const node = testNode("n-append");
    const first = await store.append(node.announce());
    const second = await store.append(node.heartbeat());
    expect(first.stream).toBe("MESH");
    expect(second.seq).toBe(first.seq + 1);
    expect(second.duplicate).toBe(false);
  });

  it("deduplicates a repeated event id (Nats-Msg-Id)", async () => {
    const node = testNode("n-dup");
    const event = node.heartbeat();
    const first = await store.append(event);
    const again = await store.append(event);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
  });

  it("appends when the expected last subject sequence matches", async () => {
    const node = testNode("n-occ-ok");
    const first = await store.append(node.heartbeat(1), { expectedLastSubjectSequence: 0 });
    const next = await store.append(node.heartbeat(2), { expectedLastSubjectSequence: first.seq });
    expect(next.seq).toBeGreaterThan(first.seq);
  });

  it("fails with a typed conflict when another writer got there first", async () => {
    const node = testNode("n-occ");
    const first = await store.append(node.heartbeat(1), { expectedLastSubjectSequence: 0 });
    await store.append(node.heartbeat(2), { expectedLastSubjectSequence: first.seq });
    const stale = store.append(node.heartbeat(3), { expectedLastSubjectSequence: first.seq });
    await expect(stale).rejects.toBeInstanceOf(ExpectedVersionConflictError);
    await expect(stale).rejects.toMatchObject({ _tag: "ExpectedVersionConflictError", expectedSequence: first.seq });
  });
});
