// Ed25519 verification worker. Plain JavaScript so it loads without a TypeScript loader.
// Protocol (see verify-pool.ts):
//   { op: "key", index, raw }              register public key `index` (32 raw bytes)
//   { op: "verify", id, buffer, count }    records: u32 keyIndex, u32 length, message, 64-byte signature
// Replies { id, results } with results[i] = 1 when record i verifies.
import { createPublicKey, verify } from "node:crypto";
import { parentPort } from "node:worker_threads";

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const keys = [];

parentPort.on("message", (msg) => {
  if (msg.op === "key") {
    keys[msg.index] = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(msg.raw)]), format: "der", type: "spki" });
    return;
  }
  const bytes = new Uint8Array(msg.buffer);
  const view = new DataView(msg.buffer);
  const results = new Uint8Array(msg.count);
  let offset = 0;
  for (let i = 0; i < msg.count; i++) {
    const keyIndex = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    const message = bytes.subarray(offset + 8, offset + 8 + length);
    const signature = bytes.subarray(offset + 8 + length, offset + 8 + length + 64);
    offset += 8 + length + 64;
    const key = keys[keyIndex];
    try {
      results[i] = key !== undefined && verify(null, message, key, signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id: msg.id, results }, [results.buffer]);
});
