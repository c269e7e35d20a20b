import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type RunningNatsServer } from "../../adapters/nats-server/index.ts";
import { connectNats, serversFromEnv } from "../../streams/connection.ts";
import { ensureStreams, streams } from "../../streams/topology.ts";

export interface TestNats {
  readonly url: string;
  readonly nc: NatsConnection;
  /** Opens one more connection to the same server (a second process, a plain client). */
  connect(name?: string): Promise<NatsConnection>;
  /** Stops the embedded server and restarts it on the same store (not possible with NATS_URL). */
  restart?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real nats-server for one test file: an embedded one on a random loopback port with a temp
 * store, or the server at NATS_URL. With NATS_URL, x0's streams and buckets on that server are
 * deleted first, so point it at a scratch server and run test files one at a time.
 */
export const startTestNats = async (options: { streams?: boolean } = {}): Promise<TestNats> => {
  const external = serversFromEnv();
  let server: RunningNatsServer | undefined;
  let dir: string | undefined;
  if (!external) {
    dir = await mkdtemp(join(tmpdir(), "x0-test-"));
    server = await startNatsServer({ dataDir: dir });
  }
  const url = external?.join(",") ?? server!.url;
  const connections: NatsConnection[] = [];
  const connect = async (name = "x0-test") => {
    const nc = await connectNats({ servers: url, name });
    connections.push(nc);
    return nc;
  };
  const nc = await connect();
  if (external) await wipe(nc);
  if (options.streams !== false) await ensureStreams(await jetstreamManager(nc), { storageBytes: 1024 ** 3 });
  const handle: TestNats = {
    url,
    nc,
    connect,
    async close() {
      await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
  if (server && dir) {
    const dataDir = dir;
    (handle as { restart?: () => Promise<void> }).restart = async () => {
      const port = server!.port;
      await server!.stop();
      server = await startNatsServer({ dataDir, port });
    };
  }
  return handle;
};

const wipe = async (nc: NatsConnection) => {
  const jsm = await jetstreamManager(nc);
  const names = new Set<string>(streams.map((s) => s.name));
  for await (const info of jsm.streams.list()) {
    if (names.has(info.config.name) || info.config.name.startsWith("KV_")) await jsm.streams.delete(info.config.name);
  }
};
