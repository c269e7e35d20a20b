// What the duplicate window costs the server: RSS of a fresh nats-server after N 300-byte
// publishes carrying a UUIDv7 Nats-Msg-Id (all inside the 120 s window) vs N without one.
//   node adapters/cli/run-ts.js ADR/measurements/dedup-window.ts [N=200000]
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../../adapters/nats-server/index.ts";
import { uuidv7 } from "../../streams/clock.ts";

const N = Number(process.argv[2] ?? 200_000);
const rssMiB = (pid: number) => Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)]).toString().trim()) / 1024;

const run = async (withIds: boolean) => {
  const dir = await mkdtemp(join(tmpdir(), "x0-adr-"));
  const server = await startNatsServer({ dataDir: dir });
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  await (await jetstreamManager(nc)).streams.add({ name: "D", subjects: ["d.>"], duplicate_window: 120e9 });
  const before = rssMiB(server.pid);
  const data = new Uint8Array(300);
  const start = performance.now();
  for (let i = 0; i < N; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, N - i) }, () => js.publish("d.n1.links", data, withIds ? { msgID: uuidv7() } : {})));
  }
  const seconds = (performance.now() - start) / 1000;
  const after = rssMiB(server.pid);
  await nc.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
  return `${withIds ? "with Nats-Msg-Id" : "without id     "}: ${Math.round(N / seconds)} publishes/s, server RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`;
};
console.log(await run(false));
console.log(await run(true));
