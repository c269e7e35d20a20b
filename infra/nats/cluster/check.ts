// Checks that the local cluster from start.sh has formed and replicates: routes and the
// JetStream meta leader from each node's monitoring port, then an R3 stream and an R3 KV
// bucket (both named x0-cluster-check, deleted at the end). With --failover it also stops
// the stream leader's process, publishes again, and restarts the node with start.sh.
//   infra/nats/cluster/start.sh && node adapters/cli/run-ts.js infra/nats/cluster/check.ts [--failover]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const servers = (process.env.NATS_URL ?? "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224").split(",");
const monitor = [8222, 8223, 8224];
const fail = (message: string): never => {
  console.error(`cluster check failed: ${message}`);
  process.exit(1);
};

for (const port of monitor) {
  const routez = (await (await fetch(`http://127.0.0.1:${port}/routez`)).json()) as { num_routes: number };
  const jsz = (await (await fetch(`http://127.0.0.1:${port}/jsz`)).json()) as { meta_cluster?: { name: string; leader: string; cluster_size: number } };
  const varz = (await (await fetch(`http://127.0.0.1:${port}/varz`)).json()) as { server_name: string; version: string };
  console.log(`${varz.server_name} (nats-server ${varz.version}): ${routez.num_routes} routes, cluster ${jsz.meta_cluster?.name} of ${jsz.meta_cluster?.cluster_size}, meta leader ${jsz.meta_cluster?.leader}`);
  if (routez.num_routes < 2) fail(`${varz.server_name} has ${routez.num_routes} routes, expected 2`);
  if (!jsz.meta_cluster?.leader) fail(`${varz.server_name} has no JetStream meta leader`);
}

const nc = await connect({ servers, maxReconnectAttempts: -1 });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const name = "x0-cluster-check";
const data = new Uint8Array(300);

const describe = async () => {
  const info = await jsm.streams.info(name);
  const replicas = info.cluster?.replicas?.map((r) => `${r.name}${r.current ? "" : " (behind)"}${r.offline ? " (offline)" : ""}`).join(", ");
  return { leader: info.cluster?.leader ?? "?", text: `leader ${info.cluster?.leader}, followers ${replicas}, ${info.state.messages} messages` };
};

await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 3 });
for (let i = 0; i < 100; i++) await js.publish(`${name}.m`, data);
const before = await describe();
console.log(`R3 stream: ${before.text}`);

const kv = await new Kvm(nc).create(name, { history: 1, replicas: 3 });
await kv.put("k", "v");
console.log(`R3 KV bucket: replicas ${(await kv.status()).replicas}, get k = ${(await kv.get("k"))?.string()}`);

if (process.argv.includes("--failover")) {
  const pid = Number(readFileSync(join(root, ".x0/cluster", `${before.leader}.pid`), "utf8"));
  process.kill(pid, "SIGTERM");
  while (true) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      break;
    }
  }
  const started = performance.now();
  const ack = await js.publish(`${name}.m`, data, { timeout: 15_000 });
  const ms = performance.now() - started;
  console.log(`stopped leader ${before.leader}; next publish stored at seq ${ack.seq} after ${ms.toFixed(0)} ms; ${(await describe()).text}`);
  execFileSync(join(root, "infra/nats/cluster/start.sh"), { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const now = await describe();
    if (!now.text.includes("(")) {
      console.log(`restarted ${before.leader}: ${now.text}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

await jsm.streams.delete(name);
await jsm.streams.delete(`KV_${name}`);
await nc.close();
console.log("cluster ok");
