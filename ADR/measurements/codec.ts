// Payload encoding: JSON vs cbor-x (configured as streams/envelope.ts does) on a typical
// LinkMetricsReported payload with 6 links: sizes, and encode+decode round trips per second
// on one core (5 runs of 1 s, median); then the effect/Schema validation the projection
// runner applies to the decoded value (Schema.decodeUnknownExit, as in projection-runner.ts).
//   node adapters/cli/run-ts.js ADR/measurements/codec.ts
// CBOR_NATIVE_ACCELERATION_DISABLED=true runs cbor-x without its optional native decoder.
import { isNativeAccelerationEnabled } from "cbor-x";
import * as Schema from "effect/Schema";
import { LinkMetricsReported } from "../../domains/mesh/index.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";

const mac = (i: number) => `02:00:5e:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const payload = {
  nodeId: "node-0042",
  links: Array.from({ length: 6 }, (_, i) => ({
    neigh_address: mac(100 + i),
    hard_ifname: "mesh0",
    tq: 200 + i,
    last_seen_msecs: 340 + 17 * i,
    throughput: 54_000 + 1_000 * i,
    loss: 0.013 * (i + 1),
    latency_ms: 2.5 + 0.75 * i,
  })),
};
const te = new TextEncoder();
const td = new TextDecoder();
const codecs = {
  json: { encode: (v: unknown) => te.encode(JSON.stringify(v)), decode: (b: Uint8Array) => JSON.parse(td.decode(b)) as unknown },
  cbor: { encode: encodeCbor, decode: decodeCbor },
};
for (const [name, c] of Object.entries(codecs)) {
  const bytes = c.encode(payload);
  if (JSON.stringify(c.decode(bytes)) !== JSON.stringify(payload)) throw new Error(`${name} round trip differs`);
  console.log(`${name}_bytes=${bytes.length}`);
}
const key = new Uint8Array(32).fill(7);
console.log(`32-byte public key: cbor ${encodeCbor({ publicKey: key }).length} B as bytes; json ${te.encode(JSON.stringify({ publicKey: Buffer.from(key).toString("base64") })).length} B as base64`);

const rate = (f: () => unknown) => {
  for (let i = 0; i < 10_000; i++) f();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < 1000) {
    for (let i = 0; i < 256; i++) f();
    n += 256;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
};
const runs: Record<string, number[]> = { json: [], cbor: [] };
for (let r = 0; r < 5; r++) for (const [name, c] of Object.entries(codecs)) runs[name]!.push(rate(() => c.decode(c.encode(payload))));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[(xs.length - 1) >> 1]!;
for (const [name, xs] of Object.entries(runs)) console.log(`${name}: ${xs.map(Math.round).join(", ")}`);
const json = median(runs.json!);
const cbor = median(runs.cbor!);
console.log(`cbor_native=${isNativeAccelerationEnabled} json_roundtrips_per_s=${Math.round(json)} cbor_roundtrips_per_s=${Math.round(cbor)} cbor/json=${(cbor / json).toFixed(2)}`);

const validate = Schema.decodeUnknownExit(LinkMetricsReported.schema as Schema.Decoder<unknown>);
const decoded = decodeCbor(encodeCbor(payload));
if (validate(decoded, { onExcessProperty: "ignore" })._tag !== "Success") throw new Error("payload does not validate");
const schema = median([0, 1, 2, 3, 4].map(() => rate(() => validate(decoded, { onExcessProperty: "ignore" }))));
console.log(`schema_validations_per_s=${Math.round(schema)} (${(1e6 / schema).toFixed(1)} us each)`);
