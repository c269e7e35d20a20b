import { mkdtemp, rm, stat, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sign } from "node:crypto";
import { generateSigningKey, loadOrCreateSigningKey, publicKeyObject, signBackend, signBytes, signingKeyFromSeed, verifyBytes } from "./keys.ts";

describe("signing keys on disk", () => {
  it("creates a key with mode 0600 on first use and loads the same key afterwards", async () => {
    const dir = await mkdtemp(join(tmpdir(), "x0-keys-"));
    try {
      const path = join(dir, "keys", "node.key");
      const created = await loadOrCreateSigningKey(path);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const loaded = await loadOrCreateSigningKey(path);
      expect(loaded.keyId).toBe(created.keyId);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a key file that others can read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "x0-keys-"));
    try {
      const path = join(dir, "node.key");
      await loadOrCreateSigningKey(path);
      await chmod(path, 0o644);
      await expect(loadOrCreateSigningKey(path)).rejects.toThrow(/chmod 600/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("signBytes", () => {
  it("signs the same bytes node:crypto does, whichever library it uses", () => {
    const key = generateSigningKey();
    for (const size of [0, 1, 500, 70_000]) {
      const message = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      const signature = signBytes(key, message);
      expect(Buffer.from(signature).equals(sign(null, message, key.privateKey))).toBe(true);
      expect(verifyBytes(publicKeyObject(key.publicKey), message, signature)).toBe(true);
    }
    expect(["libsodium", "node:crypto"]).toContain(signBackend());
  });

  it("keeps each key's signatures apart", () => {
    const a = signingKeyFromSeed(new Uint8Array(32).fill(1));
    const b = signingKeyFromSeed(new Uint8Array(32).fill(2));
    const message = new TextEncoder().encode("heartbeat");
    expect(verifyBytes(publicKeyObject(b.publicKey), message, signBytes(a, message))).toBe(false);
    expect(verifyBytes(publicKeyObject(b.publicKey), message, signBytes(b, message))).toBe(true);
  });
});
