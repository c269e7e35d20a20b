import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NatsServerError } from "../../streams/errors.ts";
import { natsServerVersion, startNatsServer, type RunningNatsServer } from "./launcher.ts";

describe("embedded nats-server launcher", () => {
  const started: RunningNatsServer[] = [];
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "x0-launcher-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("starts on a free loopback port, writes its URL, and removes it on stop", async () => {
    const dir = await tempDir();
    const server = await startNatsServer({ dataDir: dir });
    started.push(server);
    expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect((await readFile(join(dir, "nats.url"), "utf8")).trim()).toBe(server.url);
    await server.stop();
    await expect(readFile(join(dir, "nats.url"), "utf8")).rejects.toThrow();
  });

  it("refuses a store that another live nats-server still uses", async () => {
    const dir = await tempDir();
    started.push(await startNatsServer({ dataDir: dir }));
    await expect(startNatsServer({ dataDir: dir })).rejects.toThrow(/still running on/);
  });

  it("says how to install nats-server when the binary is missing", async () => {
    const dir = await tempDir();
    const attempt = startNatsServer({ dataDir: dir, binary: "/nonexistent/nats-server" });
    await expect(attempt).rejects.toBeInstanceOf(NatsServerError);
    await expect(attempt).rejects.toThrow(/npm run setup/);
  });

  it("reads the server's version", async () => {
    expect(await natsServerVersion()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
