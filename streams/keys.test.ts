import { mkdtemp, rm, stat, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOrCreateSigningKey } from "./keys.ts";

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
