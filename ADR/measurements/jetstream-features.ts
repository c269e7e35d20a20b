// What the installed nats-server does with the JetStream features the ADRs rely on, and with
// the newer ones they must detect. Starts its own server (temp store), prints one line per check.
//   node adapters/cli/run-ts.js ADR/measurements/jetstream-features.ts
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, headers } from "@nats-io/transport-node";
import { startNatsServer } from "../../adapters/nats-server/index.ts";
import { DEFAULT_STORAGE_BYTES, streamConfig, streams } from "../../streams/topology.ts";

const dir = await mkdtemp(join(tmpdir(), "x0-adr-"));
const t0 = performance.now();
const server = await startNatsServer({ dataDir: dir });
const startMs = performance.now() - t0;
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const data = new Uint8Array(300);
const say = (k: string, v: unknown) => console.log(`${k}: ${v}`);
const code = (e: unknown) => (e instanceof JetStreamApiError ? `refused (${e.code}: ${e.message})` : `error (${(e as Error).message})`);

say("server", `nats-server ${nc.info?.version}, start to ready ${startMs.toFixed(0)} ms`);
await jsm.streams.add({ name: "T", subjects: ["t.>"], allow_direct: true, duplicate_window: 120e9 });

// Dedup by Nats-Msg-Id.
const a = await js.publish("t.a.x", data, { msgID: "e1" });
const b = await js.publish("t.a.x", data, { msgID: "e1" });
say("Nats-Msg-Id dedup", `first seq ${a.seq} duplicate=${a.duplicate}; second seq ${b.seq} duplicate=${b.duplicate}`);

// Per-subject optimistic concurrency.
const ok = await js.publish("t.a.x", data, { expect: { lastSubjectSequence: a.seq } });
let occ = "accepted";
try { await js.publish("t.a.x", data, { expect: { lastSubjectSequence: a.seq } }); } catch (e) { occ = code(e); }
say("Nats-Expected-Last-Subject-Sequence", `right seq accepted (seq ${ok.seq}); stale seq ${occ}`);

// Direct get (allow_direct) of the last message on a subject.
const last = await jsm.direct.getMessage("T", { last_by_subj: "t.a.x" });
say("direct get last_by_subj", `seq ${last?.seq}`);

// deny_purge / deny_delete: enforced by the server, and whether an update can lift them.
await jsm.streams.add({ name: "AUD", subjects: ["aud.>"], deny_delete: true, deny_purge: true });
const m = await js.publish("aud.x", data);
let purge = "purged";
try { await jsm.streams.purge("AUD"); } catch (e) { purge = code(e); }
let del = "deleted";
try { await jsm.streams.deleteMessage("AUD", m.seq); } catch (e) { del = code(e); }
let lift = "";
try {
  const u = await jsm.streams.update("AUD", { deny_delete: false, deny_purge: false });
  lift = `update accepted, now deny_delete=${u.config.deny_delete} deny_purge=${u.config.deny_purge}`;
} catch (e) { lift = code(e); }
await js.publish("aud.x", data);
await js.publish("aud.x", data);
let shrink = "";
try {
  await jsm.streams.update("AUD", { max_msgs: 1 });
  shrink = `lowering max_msgs to 1 accepted, messages left ${(await jsm.streams.info("AUD")).state.messages} of 3`;
} catch (e) { shrink = `lowering max_msgs ${code(e)}`; }
let drop = "";
try { drop = (await jsm.streams.delete("AUD")) ? "whole stream delete accepted" : "not deleted"; } catch (e) { drop = `stream delete ${code(e)}`; }
say("deny_purge/deny_delete", `purge ${purge}; delete message ${del}; lifting them: ${lift}; ${shrink}; ${drop}`);

// KV.
const kv = await new Kvm(nc).create("adr", { history: 1 });
await kv.put("checkpoint", "42");
say("KV put/get", (await kv.get("checkpoint"))?.string());

// 2.11: expectation against a wildcard subject. Stored anyway means the header was ignored.
await js.publish("t.a.y", data);
const h = headers();
h.set("Nats-Expected-Last-Subject-Sequence", String(ok.seq));
h.set("Nats-Expected-Last-Subject-Sequence-Subject", "t.a.*");
let wild = "";
try { wild = `stored at seq ${(await js.publish("t.a.x", data, { headers: h })).seq} (header ignored: no wildcard OCC)`; } catch (e) { wild = code(e); }
say("2.11 Nats-Expected-Last-Subject-Sequence-Subject t.a.* with a stale seq", wild);

// 2.12: atomic batch. A first, uncommitted batch message stored at once means no atomicity.
let batchCfg = "";
try {
  const info = await jsm.streams.add({ name: "B", subjects: ["b.>"], allow_atomic: true } as never);
  batchCfg = `stream created, allow_atomic in config: ${(info.config as { allow_atomic?: boolean }).allow_atomic ?? "absent"}`;
} catch (e) { batchCfg = code(e); }
const bh = headers();
bh.set("Nats-Batch-Id", "batch-1");
bh.set("Nats-Batch-Sequence", "1");
let batch = "";
try { batch = `uncommitted message stored at seq ${(await js.publish("b.x", data, { headers: bh })).seq}`; } catch (e) { batch = code(e); }
say("2.12 atomic batch", `${batchCfg}; ${batch}`);

// 2.10: several filter subjects on one consumer.
let multi = "";
try {
  const ci = await jsm.consumers.add("T", { durable_name: "multi", ack_policy: AckPolicy.Explicit, filter_subjects: ["t.a.x", "t.a.y"] });
  multi = `created, filter_subjects=${JSON.stringify(ci.config.filter_subjects)} filter_subject=${JSON.stringify(ci.config.filter_subject)}`;
} catch (e) { multi = code(e); }
say("2.10 filter_subjects", multi);

// The topology (streams/topology.ts, R1) against this server's store limit (75% of free disk
// by default): nats-server reserves each stream's max_bytes up front.
const topology = async (storageBytes: number) => {
  const results: string[] = [];
  for (const def of streams) {
    try { await jsm.streams.add(streamConfig(def, { storageBytes })); results.push(`${def.name} ok`); } catch (e) { results.push(`${def.name} ${code(e)}`); }
  }
  for (const def of streams) await jsm.streams.delete(def.name).catch(() => undefined);
  return results.join("; ");
};
const GiB = 1024 ** 3;
say(`topology, default budget ${DEFAULT_STORAGE_BYTES / GiB} GiB`, await topology(DEFAULT_STORAGE_BYTES));
say("topology, budget 96 GiB", await topology(96 * GiB));

// The server's max_payload bounds headers + payload of every message, whatever a stream's
// max_msg_size says (QUARANTINE allows 2 MiB).
await jsm.streams.add({ name: "Q", subjects: ["q.>"], max_msg_size: 2 * 1024 * 1024 });
const qh = headers();
for (let i = 0; i < 10; i++) qh.set(`X0-H${i}`, "x".repeat(50));
const sizes: string[] = [];
for (const size of [1024 * 1024 - 2048, 1024 * 1024 - 100]) {
  try { await js.publish("q.x", new Uint8Array(size), { headers: qh }); sizes.push(`${size} B stored`); } catch (e) { sizes.push(`${size} B refused (${(e as Error).message})`); }
}
say(`max_payload ${nc.info?.max_payload}, stream max_msg_size 2 MiB, ~600 B of headers`, sizes.join("; "));

// Synchronous publish round trip (300 B, file store), median of 2,000.
const lat: number[] = [];
for (let i = 0; i < 2000; i++) { const s = performance.now(); await js.publish("t.lat", data); lat.push(performance.now() - s); }
lat.sort((x, y) => x - y);
say("sync publish 300 B", `p50 ${(lat[1000]! * 1000).toFixed(0)} us, p99 ${(lat[1980]! * 1000).toFixed(0)} us`);

await nc.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
