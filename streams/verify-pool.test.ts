import { afterAll, describe, expect, it } from "vitest";
import { generateSigningKey, signBytes } from "./keys.ts";
import { VerifyPool } from "./verify-pool.ts";

describe.each(["libsodium", "node"] as const)("VerifyPool (%s backend)", (backend) => {
  const pool = new VerifyPool({ workers: 2, backend });
  afterAll(() => pool.close());

  it("runs the backend it was asked for", async () => {
    await pool.verify([]);
    const k = generateSigningKey();
    const message = new Uint8Array([1]);
    expect(await pool.verify([{ keyIndex: pool.registerKey(k.publicKey), head: message, payload: new Uint8Array(0), signature: signBytes(k, message) }])).toEqual([true]);
    expect(pool.backend).toBe(backend === "node" ? "node:crypto" : "libsodium");
  });

  it("verifies across workers and keeps the order of results", async () => {
    const keys = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
    const indexes = keys.map((k) => pool.registerKey(k.publicKey));
    const requests = Array.from({ length: 301 }, (_, i) => {
      const k = i % 3;
      const message = new TextEncoder().encode(`event ${i}`);
      const signature = signBytes(keys[k]!, message);
      // Every 7th request is signed by the wrong key; every 11th has a flipped payload byte.
      const keyIndex = i % 7 === 0 ? indexes[(k + 1) % 3]! : indexes[k]!;
      if (i % 11 === 0) message[0] = message[0]! ^ 1;
      return { keyIndex, head: message.subarray(0, 3), payload: message.subarray(3), signature };
    });
    const results = await pool.verify(requests);
    expect(results).toEqual(requests.map((_, i) => !(i % 7 === 0 || i % 11 === 0)));
  });

  it("registers a key once", () => {
    const k = generateSigningKey();
    expect(pool.registerKey(k.publicKey)).toBe(pool.registerKey(new Uint8Array(k.publicKey)));
  });

  it("treats an unregistered key index as not verified", async () => {
    const k = generateSigningKey();
    const message = new Uint8Array([1, 2, 3]);
    expect(await pool.verify([{ keyIndex: 9_999, head: message, payload: new Uint8Array(0), signature: signBytes(k, message) }])).toEqual([false]);
  });
});
