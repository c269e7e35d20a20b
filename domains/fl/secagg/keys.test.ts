import { describe, expect, it } from "vitest";
import {
  generateX25519KeyPair,
  openShares,
  pairwiseMaskSeed,
  sealShares,
  shareAssociatedData,
  shareEncryptionKey,
  x25519,
  x25519PrivateKeyObject,
  x25519PublicKeyOf,
  x25519PublicKeyObject,
} from "./keys.ts";
import { FIELD_PRIME } from "./shamir.ts";

const agree = (a: { privateKey: Uint8Array; publicKey: Uint8Array }, b: { publicKey: Uint8Array }) =>
  x25519(x25519PrivateKeyObject(a.privateKey, a.publicKey), x25519PublicKeyObject(b.publicKey));
const asInteger = (bytes: Uint8Array) => BigInt("0x" + Buffer.from(bytes).reverse().toString("hex"));
const session = { task: "mnist", flRound: 3 };

describe("X25519 keys, derivation and share boxes", () => {
  it("given fresh key pairs, then private keys are clamped and below 2^255 - 19, and agreement is symmetric", () => {
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    for (const k of [a, b]) {
      expect(k.privateKey[0]! & 7).toBe(0);
      expect(k.privateKey[31]! & 0xc0).toBe(0x40);
      expect(asInteger(k.privateKey) < FIELD_PRIME).toBe(true);
    }
    expect(agree(a, b)).toEqual(agree(b, a));
    expect(x25519PublicKeyOf(x25519PrivateKeyObject(a.privateKey, a.publicKey))).toEqual(a.publicKey);
    expect(agree(a, b)).not.toEqual(agree(a, generateX25519KeyPair()));
  });

  it("given a shared secret, when a pairwise seed is derived, then it is symmetric in the pair and bound to task and round", () => {
    const secret = new Uint8Array(32).fill(5);
    const seed = pairwiseMaskSeed(secret, session, "alice", "bob");
    expect(pairwiseMaskSeed(secret, session, "bob", "alice")).toEqual(seed);
    expect(pairwiseMaskSeed(secret, { ...session, flRound: 4 }, "alice", "bob")).not.toEqual(seed);
    expect(pairwiseMaskSeed(secret, { ...session, task: "cifar" }, "alice", "bob")).not.toEqual(seed);
    expect(pairwiseMaskSeed(secret, session, "alice", "carol")).not.toEqual(seed);
  });

  it("given a sealed box from alice to bob, when bob opens it, then he reads the shares; with the box redirected or altered he reads nothing", () => {
    const alice = generateX25519KeyPair();
    const bob = generateX25519KeyPair();
    const plaintext = new Uint8Array(64).map((_, i) => i);
    const sealed = sealShares(shareEncryptionKey(agree(alice, bob), session, "alice", "bob"), shareAssociatedData(session, "alice", "bob"), plaintext);
    expect(sealed.ciphertext.length).toBe(80);
    const bobKey = shareEncryptionKey(agree(bob, alice), session, "alice", "bob");
    expect(openShares(bobKey, shareAssociatedData(session, "alice", "bob"), sealed)).toEqual(plaintext);
    // Redirected: claimed to come from carol, or meant for another round.
    expect(openShares(bobKey, shareAssociatedData(session, "carol", "bob"), sealed)).toBeUndefined();
    expect(openShares(bobKey, shareAssociatedData({ ...session, flRound: 9 }, "alice", "bob"), sealed)).toBeUndefined();
    // The reverse direction has its own key.
    expect(openShares(shareEncryptionKey(agree(bob, alice), session, "bob", "alice"), shareAssociatedData(session, "alice", "bob"), sealed)).toBeUndefined();
    const altered = sealed.ciphertext.slice();
    altered[10]! ^= 1;
    expect(openShares(bobKey, shareAssociatedData(session, "alice", "bob"), { nonce: sealed.nonce, ciphertext: altered })).toBeUndefined();
  });

  it("given a small-order public key, when agreeing, then it throws instead of yielding an all-zero secret", () => {
    const a = generateX25519KeyPair();
    expect(() => agree(a, { publicKey: new Uint8Array(32) })).toThrow();
  });

  it("given a private key imported with someone else's public key, then the public key read back is its own, not the claimed one", () => {
    // The server relies on this to check a reconstructed mask key against the advertised public key.
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    let derived: Uint8Array | undefined;
    try {
      derived = x25519PublicKeyOf(x25519PrivateKeyObject(a.privateKey, b.publicKey));
    } catch {
      derived = undefined; // a Node that checks the pair refuses the import, which the server treats the same way
    }
    expect(derived === undefined || Buffer.from(derived).equals(Buffer.from(a.publicKey))).toBe(true);
  });
});
