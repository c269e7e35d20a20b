import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname } from "node:path";

// DER prefixes for raw 32-byte Ed25519 keys (RFC 8410): lets us import raw keys without a library.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** A producer's Ed25519 key pair, held as node:crypto KeyObjects (see ADR 0005). */
export interface SigningKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** Key id: first 16 hex digits of SHA-256 over the raw public key. */
export const keyIdOf = (publicKey: Uint8Array): string =>
  createHash("sha256").update(publicKey).digest("hex").slice(0, 16);

const keyObjects = new Map<string, KeyObject>();

/** node:crypto key for a raw public key; cached, since importing costs as much as a verification. */
export const publicKeyObject = (raw: Uint8Array): KeyObject => {
  const hex = Buffer.from(raw).toString("hex");
  let key = keyObjects.get(hex);
  if (!key) {
    if (keyObjects.size >= 100_000) keyObjects.clear();
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
    keyObjects.set(hex, key);
  }
  return key;
};

const fromPrivateKey = (privateKey: KeyObject): SigningKey => {
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  return { keyId: keyIdOf(publicKey), publicKey, privateKey };
};

export const generateSigningKey = (): SigningKey => fromPrivateKey(generateKeyPairSync("ed25519").privateKey);

/** Deterministic key from a 32-byte seed (the twin derives node keys from its RNG seed). */
export const signingKeyFromSeed = (seed: Uint8Array): SigningKey => {
  if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
  return fromPrivateKey(createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }));
};

interface SodiumSign {
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
  sodium_malloc(size: number): Buffer;
}

// libsodium signs in about half node:crypto's time (26 µs against 50 µs for a 500-byte event
// here); the signatures are the same bytes (Ed25519 is deterministic). node:crypto stays the
// fallback, and X0_SIGN_BACKEND=node forces it. See ADR 0005.
let sodium: SodiumSign | null | undefined;
const loadSodium = (): SodiumSign | null => {
  if (sodium === undefined) {
    try {
      sodium = process.env.X0_SIGN_BACKEND === "node" ? null : (createRequire(import.meta.url)("sodium-native") as SodiumSign);
    } catch {
      sodium = null;
    }
  }
  return sodium;
};

/** libsodium's 64-byte secret key (seed, then public key) per key, in guarded memory libsodium allocates. */
const sodiumSecrets = new WeakMap<KeyObject, Buffer>();
const sodiumSecret = (lib: SodiumSign, key: SigningKey): Buffer => {
  let secret = sodiumSecrets.get(key.privateKey);
  if (!secret) {
    const seed = Buffer.from(key.privateKey.export({ format: "jwk" }).d!, "base64url");
    secret = lib.sodium_malloc(64);
    seed.copy(secret, 0);
    secret.set(key.publicKey, 32);
    seed.fill(0);
    sodiumSecrets.set(key.privateKey, secret);
  }
  return secret;
};

/** Which library signs: `libsodium` (sodium-native) or `node:crypto`. */
export const signBackend = (): "libsodium" | "node:crypto" => (loadSodium() ? "libsodium" : "node:crypto");

export const signBytes = (key: SigningKey, bytes: Uint8Array): Uint8Array => {
  const lib = loadSodium();
  if (!lib) return new Uint8Array(sign(null, bytes, key.privateKey));
  const signature = Buffer.alloc(64);
  lib.crypto_sign_detached(signature, bytes, sodiumSecret(lib, key));
  return new Uint8Array(signature.buffer, signature.byteOffset, 64);
};

export const verifyBytes = (publicKey: KeyObject, bytes: Uint8Array, signature: Uint8Array): boolean => {
  try {
    return verify(null, bytes, publicKey, signature);
  } catch {
    return false;
  }
};

/**
 * Loads the key at `path`, creating it on first use. The file holds the PKCS#8 PEM,
 * mode 0600; a key file readable by group or others is refused rather than used.
 */
export const loadOrCreateSigningKey = async (path: string): Promise<SigningKey> => {
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new Error(`key file ${path} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
    }
    return fromPrivateKey(createPrivateKey(await readFile(path, "utf8")));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = generateSigningKey();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, key.privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  return key;
};
