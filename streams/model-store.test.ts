import { Objm } from "@nats-io/obj";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentId, modelBytes } from "../domains/fl/content-id.ts";
import { startTestNats, type TestNats } from "../test/support/nats.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer } from "../adapters/nats-server/index.ts";
import { connectNats } from "./connection.ts";
import { ContentMismatchError, ModelNotFoundError, ModelStore, ModelStoreTimeoutError } from "./model-store.ts";

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

  // A server of its own that the test can freeze (SIGSTOP): not possible with NATS_URL.
  it.skipIf(process.env.NATS_URL !== undefined)("fails a read the server never answers with a timeout error, instead of waiting for ever", async () => {
    const dir = await mkdtemp(join(tmpdir(), "x0-model-store-"));
    const server = await startNatsServer({ dataDir: dir });
    const nc = await connectNats({ servers: server.url, name: "frozen-reader" });
    try {
      const frozen = await ModelStore.open(nc, { bucket: "fl-models-frozen", timeoutMs: 500 });
      const cid = await frozen.put(new TextEncoder().encode("a model the server will sit on"));
      process.kill(server.pid, "SIGSTOP");
      try {
        const read = frozen.get(cid);
        await expect(read).rejects.toBeInstanceOf(ModelStoreTimeoutError);
        await expect(read).rejects.toMatchObject({ cid, operation: "get", timeoutMs: 500 });
      } finally {
        process.kill(server.pid, "SIGCONT");
      }
      const thawed = await ModelStore.open(nc, { bucket: "fl-models-frozen" });
      expect(new TextDecoder().decode(await thawed.get(cid))).toBe("a model the server will sit on");
    } finally {
      await nc.close().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
