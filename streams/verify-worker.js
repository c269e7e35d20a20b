// Ed25519 verification worker. Plain JavaScript so it loads without a TypeScript loader.
// Protocol (see verify-pool.ts):
//   { op: "key", index, raw }              register public key `index` (32 raw bytes)
//   { op: "verify", id, buffer, count }    records: u32 keyIndex, u32 length, message, 64-byte signature
// Replies { id, results } with results[i] = 1 when record i verifies.
//
// libsodium (sodium-native, prebuilt binaries shipped in the npm package) verifies about
// 2.2x faster than node:crypto here (ADR 0005); node:crypto is the fallback where no
// prebuilt binary exists for the platform.
import { createPublicKey, verify } from "node:crypto";
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

const loadSodium = () => {
  try {
    const sodium = createRequire(import.meta.url)("sodium-native");
    return typeof sodium.crypto_sign_verify_detached === "function" ? sodium : undefined;
  } catch {
    return undefined;
  }
};
const sodium = workerData?.backend === "node" ? undefined : loadSodium();

/** key index -> verifier of (message, signature). */
const keys = [];

const makeVerifier = (raw) => {
  if (sodium) {
    const publicKey = Buffer.from(raw);
    return (message, signature) => sodium.crypto_sign_verify_detached(signature, message, publicKey);
  }
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(raw)]), format: "der", type: "spki" });
  return (message, signature) => verify(null, message, key, signature);
};

parentPort.postMessage({ op: "backend", backend: sodium ? "libsodium" : "node:crypto" });

parentPort.on("message", (msg) => {
  if (msg.op === "key") {
    keys[msg.index] = makeVerifier(msg.raw);
    return;
  }
  const bytes = Buffer.from(msg.buffer);
  const view = new DataView(msg.buffer);
  const results = new Uint8Array(msg.count);
  let offset = 0;
  for (let i = 0; i < msg.count; i++) {
    const keyIndex = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    const message = bytes.subarray(offset + 8, offset + 8 + length);
    const signature = bytes.subarray(offset + 8 + length, offset + 8 + length + 64);
    offset += 8 + length + 64;
    const check = keys[keyIndex];
    try {
      results[i] = check !== undefined && check(message, signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id: msg.id, results }, [results.buffer]);
});
