// Ed25519 verification through streams/verify-pool.ts with 1 and 2 worker threads, against a
// plain loop in the main thread: 20,000 distinct 300-byte messages from 50 producers, batches
// of 256 as the projection runner sends them, 3 runs each, median.
//   node adapters/cli/run-ts.js ADR/measurements/verify-pool.ts
import { randomBytes } from "node:crypto";
import { generateSigningKey, publicKeyObject, signBytes, verifyBytes } from "../../streams/keys.ts";
import { VerifyPool } from "../../streams/verify-pool.ts";

const COUNT = 20_000;
const keys = Array.from({ length: 50 }, () => generateSigningKey());
const items = Array.from({ length: COUNT }, (_, i) => {
  const key = keys[i % keys.length]!;
  const message = new Uint8Array(randomBytes(300));
  return { key, message, signature: signBytes(key, message) };
});
const publicKeys = new Map(keys.map((k) => [k, publicKeyObject(k.publicKey)]));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[1]!;

const mainThread = () => {
  const start = performance.now();
  for (const it of items) if (!verifyBytes(publicKeys.get(it.key)!, it.message, it.signature)) throw new Error("bad");
  return COUNT / ((performance.now() - start) / 1000);
};

const pooled = async (workers: number) => {
  const pool = new VerifyPool({ workers });
  const requests = items.map((it) => ({ keyIndex: pool.registerKey(it.key.publicKey), head: it.message, payload: new Uint8Array(0), signature: it.signature }));
  await pool.verify(requests.slice(0, 512)); // warm-up: workers started, keys imported
  const start = performance.now();
  const batches = [];
  for (let i = 0; i < COUNT; i += 256) batches.push(pool.verify(requests.slice(i, i + 256)));
  const verdicts = (await Promise.all(batches)).flat();
  const eps = COUNT / ((performance.now() - start) / 1000);
  await pool.close();
  if (verdicts.length !== COUNT || verdicts.some((v) => !v)) throw new Error("pool refused a valid signature");
  return eps;
};

// The pool unrefs its workers (they must not keep a process alive); this timer does, until the end.
const keepAlive = setInterval(() => {}, 1000);
const main = median([mainThread(), mainThread(), mainThread()]);
const one = median([await pooled(1), await pooled(1), await pooled(1)]);
const two = median([await pooled(2), await pooled(2), await pooled(2)]);
console.log(`main_thread_verify_eps=${Math.round(main)} pool1_verify_eps=${Math.round(one)} pool2_verify_eps=${Math.round(two)} pool2/main=${(two / main).toFixed(2)}`);
clearInterval(keepAlive);
