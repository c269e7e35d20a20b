import { Objm } from "@nats-io/obj";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentId, modelBytes } from "../domains/fl/content-id.ts";
import { startTestNats, type TestNats } from "../test/support/nats.ts";
import { ContentMismatchError, ModelNotFoundError, ModelStore } from "./model-store.ts";

describe("ModelStore: model bytes by content id in the JetStream object store (real nats-server)", () => {
  let nats: TestNats;
  let store: ModelStore;

  beforeAll(async () => {
    nats = await startTestNats({ streams: false });
    store = await ModelStore.open(nats.nc, { bucket: "fl-models-test" });
  });
  afterAll(async () => nats?.close());

  it("stores bytes under their content id and gives them back, across chunks", async () => {
    // 300 000 float32 values: 1.2 MB, several 128 KiB chunks.
    const weights = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
    const bytes = modelBytes(weights);
    const cid = await store.put(bytes);
    expect(cid).toBe(contentId(bytes));
    const other = await ModelStore.open(await nats.connect("reader"), { bucket: "fl-models-test" });
    expect(Buffer.from(await other.get(cid)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("writes the same bytes once", async () => {
    const bytes = new TextEncoder().encode("the same model twice");
    const cid = await store.put(bytes);
    const objects = await new Objm(nats.nc).open("fl-models-test");
    const before = (await objects.info(cid))!.revision;
    await store.put(bytes);
    expect((await objects.info(cid))!.revision).toBe(before);
  });

  it("refuses bytes replaced under a content id, and heals when the right bytes are put again", async () => {
    const honest = new TextEncoder().encode("honest update");
    const cid = await store.put(honest);
    const objects = await new Objm(nats.nc).open("fl-models-test");
    await objects.putBlob({ name: cid }, new TextEncoder().encode("tampered update"));

    const refused = store.get(cid);
    await expect(refused).rejects.toBeInstanceOf(ContentMismatchError);
    await expect(refused).rejects.toMatchObject({ cid, actual: contentId(new TextEncoder().encode("tampered update")) });

    await store.put(honest);
    expect(new TextDecoder().decode(await store.get(cid))).toBe("honest update");
  });

  it("says when nothing is stored under an id, or the id is not a content id", async () => {
    await expect(store.get(contentId(new TextEncoder().encode("never stored")))).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(store.get("not-a-cid")).rejects.toBeInstanceOf(ModelNotFoundError);
  });
});
