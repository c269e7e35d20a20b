// Ed25519 on this machine: node:crypto (the path streams/keys.ts uses, KeyObjects created once)
// against tweetnacl (pure JavaScript) and libsodium (sodium-native, what the verify workers
// use), over a 300-byte message, one core. See ADR 0005.
//   npm run bench:signing [-- --runs 3 --ms 1000]
// Last line: node_sign_eps=.. node_verify_eps=.. nacl_sign_eps=.. nacl_verify_eps=.. sodium_verify_eps=..
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import nacl from "tweetnacl";
import { publicKeyObject, signBytes, signingKeyFromSeed, verifyBytes } from "../../streams/keys.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, ms: { type: "string", default: "1000" } },
});
const runs = Number(values.runs);
const budgetMs = Number(values.ms);

const seed = new Uint8Array(randomBytes(32));
const message = new Uint8Array(randomBytes(300));

const sodium = createRequire(import.meta.url)("sodium-native") as {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
};

const nodeKey = signingKeyFromSeed(seed);
const nodePublic = publicKeyObject(nodeKey.publicKey);
const naclPair = nacl.sign.keyPair.fromSeed(seed);

// Ed25519 is deterministic: the same seed and message must give byte-identical signatures,
// so a node signing with either library is verified by the other.
const nodeSignature = signBytes(nodeKey, message);
const naclSignature = nacl.sign.detached(message, naclPair.secretKey);
const samePublic = Buffer.compare(Buffer.from(nodeKey.publicKey), Buffer.from(naclPair.publicKey)) === 0;
const sameSignature = Buffer.compare(Buffer.from(nodeSignature), Buffer.from(naclSignature)) === 0;
const crossVerifies =
  verifyBytes(nodePublic, message, naclSignature) &&
  nacl.sign.detached.verify(message, nodeSignature, naclPair.publicKey) &&
  sodium.crypto_sign_verify_detached(nodeSignature, message, nodeKey.publicKey);
console.log(`identical public keys: ${samePublic}; identical signatures: ${sameSignature}; cross-verify: ${crossVerifies}`);
if (!samePublic || !sameSignature || !crossVerifies) {
  console.error("node:crypto, tweetnacl and libsodium disagree");
  process.exit(1);
}

/** Operations per second of `op`, run for about `budgetMs` (time checked every 16 calls). */
const rate = (op: () => unknown): number => {
  for (let i = 0; i < 16; i++) op(); // warm-up
  let count = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 16; i++) op();
    count += 16;
    now = process.hrtime.bigint();
  }
  return count / (Number(now - start) / 1e9);
};

const cases = {
  node_sign_eps: () => signBytes(nodeKey, message),
  node_verify_eps: () => {
    if (!verifyBytes(nodePublic, message, nodeSignature)) throw new Error("node:crypto failed to verify");
  },
  nacl_sign_eps: () => nacl.sign.detached(message, naclPair.secretKey),
  nacl_verify_eps: () => {
    if (!nacl.sign.detached.verify(message, naclSignature, naclPair.publicKey)) throw new Error("tweetnacl failed to verify");
  },
  sodium_verify_eps: () => {
    if (!sodium.crypto_sign_verify_detached(nodeSignature, message, nodeKey.publicKey)) throw new Error("libsodium failed to verify");
  },
} as const;

const samples: Record<keyof typeof cases, number[]> = { node_sign_eps: [], node_verify_eps: [], nacl_sign_eps: [], nacl_verify_eps: [], sodium_verify_eps: [] };
for (let run = 1; run <= runs; run++) {
  const line: string[] = [];
  for (const [name, op] of Object.entries(cases) as [keyof typeof cases, () => unknown][]) {
    const eps = rate(op);
    samples[name].push(eps);
    line.push(`${name}=${Math.round(eps)}`);
  }
  console.log(`run ${run}/${runs}: ${line.join(" ")}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(median(v))])) as Record<keyof typeof cases, number>;
console.log(
  `node/nacl: sign ${(medians.node_sign_eps / medians.nacl_sign_eps).toFixed(0)}x, verify ${(medians.node_verify_eps / medians.nacl_verify_eps).toFixed(0)}x (medians of ${runs} runs, 300-byte message, one core)`,
);
console.log(Object.entries(medians).map(([k, v]) => `${k}=${v}`).join(" "));
