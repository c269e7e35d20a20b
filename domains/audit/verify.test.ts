import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import { Checkpoint, checkpointHash, checkpointSignedBytes, MalformedCheckpointError, signCheckpoint, type CheckpointBody } from "./checkpoint.ts";
import { consistencyProof, emptyRoot, leafHash, MemoryTree } from "./merkle.ts";
import { auditorKeyIdOf, CheckpointRejectedError, verifyCheckpointLink, verifyCheckpointSignature, type CheckpointVerdict } from "./verify.ts";

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest());
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

const newAuditor = () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  // Raw key = the SPKI DER minus its fixed 12-byte prefix (RFC 8410).
  const publicKey = new Uint8Array(createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(12));
  return { keyId: auditorKeyIdOf(publicKey), publicKey, privateKey };
};

const rejected = (verdict: CheckpointVerdict): CheckpointRejectedError => {
  if (Result.isSuccess(verdict)) throw new Error("expected the checkpoint to be rejected");
  return verdict.failure;
};

const body: CheckpointBody = {
  treeSize: 7,
  rootHash: bytes("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
  previousHash: null,
  lastSequence: { MESH: 5, HEAL: 2, FL: 0 },
  time: 1_764_151_200_000,
};

describe("checkpoint signed bytes", () => {
  it("are the documented text, streams in byte order", () => {
    const text = new TextDecoder().decode(checkpointSignedBytes({ ...body, auditorKeyId: "0123456789abcdef" }));
    expect(text).toBe(
      [
        "x0tta6bl4 audit checkpoint v1",
        "tree_size 7",
        "root ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "previous none",
        "time 1764151200000",
        "auditor 0123456789abcdef",
        "stream FL 0",
        "stream HEAL 2",
        "stream MESH 5",
        "",
      ].join("\n"),
    );
    const linked = new TextDecoder().decode(checkpointSignedBytes({ ...body, previousHash: new Uint8Array(32).fill(0xab), auditorKeyId: "0123456789abcdef" }));
    expect(linked).toContain(`\nprevious ${"ab".repeat(32)}\n`);
  });

  it("refuse any field that could forge a line or a number", () => {
    const sign = (changes: Partial<CheckpointBody>, keyId = "0123456789abcdef") => () => checkpointSignedBytes({ ...body, ...changes, auditorKeyId: keyId });
    expect(sign({ lastSequence: { "MESH 9\nstream X": 1 } })).toThrow(MalformedCheckpointError);
    expect(sign({ lastSequence: { MESH: -1 } })).toThrow(MalformedCheckpointError);
    expect(sign({ lastSequence: { MESH: 1.5 } })).toThrow(MalformedCheckpointError);
    expect(sign({ treeSize: 2 ** 53 })).toThrow(MalformedCheckpointError);
    expect(sign({ time: Number.NaN })).toThrow(MalformedCheckpointError);
    expect(sign({ rootHash: new Uint8Array(31) })).toThrow(MalformedCheckpointError);
    expect(sign({ previousHash: new Uint8Array(33) })).toThrow(MalformedCheckpointError);
    expect(sign({}, "0123456789ABCDEF")).toThrow(MalformedCheckpointError);
    expect(sign({}, "0123456789abcdef\nx")).toThrow(MalformedCheckpointError);
  });

  it("hash to the link the next checkpoint carries: SHA-256 of the signed bytes", () => {
    const signed = signCheckpoint(body, newAuditor());
    expect(checkpointHash(signed)).toEqual(sha256(checkpointSignedBytes(signed)));
  });
});

describe("checkpoint signature", () => {
  const auditor = newAuditor();
  const signed = signCheckpoint(body, auditor);

  it("is plain Ed25519 over the signed bytes, by the auditor named in them", () => {
    expect(signed.auditorKeyId).toBe(auditor.keyId);
    expect(auditor.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(verify(null, checkpointSignedBytes(signed), auditor.privateKey as KeyObject, signed.signature)).toBe(true);
    expect(Result.isSuccess(verifyCheckpointSignature(signed, auditor.publicKey))).toBe(true);
    expect(Schema.is(Checkpoint)(signed)).toBe(true);
  });

  it("does not verify once any signed field changes", () => {
    const forgeries = {
      treeSize: { ...signed, treeSize: 8 },
      rootHash: { ...signed, rootHash: emptyRoot() },
      previousHash: { ...signed, previousHash: new Uint8Array(32) },
      stream: { ...signed, lastSequence: { ...signed.lastSequence, MESH: 6 } },
      addedStream: { ...signed, lastSequence: { ...signed.lastSequence, GOV: 0 } },
      droppedStream: { ...signed, lastSequence: { MESH: 5, HEAL: 2 } },
      time: { ...signed, time: signed.time + 1 },
      signature: { ...signed, signature: signed.signature.map((byte, n) => (n === 10 ? byte ^ 1 : byte)) },
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      const failure = rejected(verifyCheckpointSignature(forged, auditor.publicKey));
      expect(failure.reason, what).toBe("bad-signature");
      expect(failure.treeSize).toBe(forged.treeSize);
    }
  });

  it("names a checkpoint signed by, or claimed for, another auditor", () => {
    const other = newAuditor();
    expect(rejected(verifyCheckpointSignature(signed, other.publicKey)).reason).toBe("wrong-key");
    expect(rejected(verifyCheckpointSignature({ ...signed, auditorKeyId: other.keyId }, other.publicKey)).reason).toBe("bad-signature");
    expect(rejected(verifyCheckpointSignature(signed, auditor.publicKey.subarray(1))).reason).toBe("wrong-key");
  });

  it("calls a checkpoint that cannot be written as bytes malformed", () => {
    expect(rejected(verifyCheckpointSignature({ ...signed, lastSequence: { "A B": 1 } }, auditor.publicKey)).reason).toBe("malformed");
    expect(rejected(verifyCheckpointSignature({ ...signed, signature: signed.signature.subarray(1) }, auditor.publicKey)).reason).toBe("malformed");
  });
});

describe("checkpoint chain", () => {
  const auditor = newAuditor();
  const tree = new MemoryTree();
  const grow = (n: number) => {
    for (let i = 0; i < n; i++) tree.append(leafHash(Uint8Array.of(tree.size)));
  };
  const checkpoint = (previous: Checkpoint | null, lastSequence: Record<string, number>) =>
    signCheckpoint({ treeSize: tree.size, rootHash: tree.root(), previousHash: previous && checkpointHash(previous), lastSequence, time: 1_000 + tree.size }, auditor);

  const c0 = checkpoint(null, { MESH: 0, HEAL: 0 });
  grow(5);
  const c1 = checkpoint(c0, { MESH: 3, HEAL: 2 });
  grow(6);
  const c2 = checkpoint(c1, { MESH: 9, HEAL: 2 });
  const proof = (from: Checkpoint, to: Checkpoint) => consistencyProof(tree, from.treeSize, to.treeSize);

  it("links each checkpoint to the one before, with consistency proofs between their trees", () => {
    expect(Result.isSuccess(verifyCheckpointLink(undefined, c0))).toBe(true);
    expect(Result.isSuccess(verifyCheckpointLink(c0, c1, { consistencyProof: [] }))).toBe(true);
    expect(Result.isSuccess(verifyCheckpointLink(c1, c2))).toBe(true);
    expect(Result.isSuccess(verifyCheckpointLink(c1, c2, { consistencyProof: proof(c1, c2) }))).toBe(true);
  });

  it("names a dropped or rewritten checkpoint as a broken link", () => {
    expect(rejected(verifyCheckpointLink(c0, c2)).reason).toBe("broken-link");
    expect(rejected(verifyCheckpointLink(undefined, c1)).reason).toBe("broken-link");
    expect(rejected(verifyCheckpointLink(c0, { ...c1, previousHash: null })).reason).toBe("broken-link");
    const rewritten = signCheckpoint({ ...c1, lastSequence: { MESH: 4, HEAL: 2 } }, auditor);
    const failure = rejected(verifyCheckpointLink(rewritten, c2));
    expect(failure.reason).toBe("broken-link");
    expect(failure.treeSize).toBe(c2.treeSize);
  });

  it("refuses a tree or a stream that went back", () => {
    const shrunk = signCheckpoint({ treeSize: 4, rootHash: tree.root(4), previousHash: checkpointHash(c1), lastSequence: { MESH: 3, HEAL: 2 }, time: 2_000 }, auditor);
    expect(rejected(verifyCheckpointLink(c1, shrunk)).reason).toBe("went-back");
    const back = signCheckpoint({ ...c2, lastSequence: { MESH: 9, HEAL: 1 } }, auditor);
    expect(rejected(verifyCheckpointLink(c1, back)).reason).toBe("went-back");
    const dropped = signCheckpoint({ ...c2, lastSequence: { MESH: 9 } }, auditor);
    expect(rejected(verifyCheckpointLink(c1, dropped)).reason).toBe("went-back");
  });

  it("refuses a consistency proof that does not join the two roots", () => {
    const forged = proof(c1, c2).map((hash, n) => (n === 0 ? sha256(hash) : hash));
    expect(rejected(verifyCheckpointLink(c1, c2, { consistencyProof: forged })).reason).toBe("not-consistent");
    expect(rejected(verifyCheckpointLink(c1, c2, { consistencyProof: proof(c1, c2).slice(1) })).reason).toBe("not-consistent");
    expect(rejected(verifyCheckpointLink(c0, c1, { consistencyProof: [emptyRoot()] })).reason).toBe("not-consistent");
    // A rewritten log: same sizes and links, but c2's tree does not extend c1's.
    const other = new MemoryTree();
    for (let i = 0; i < c2.treeSize; i++) other.append(leafHash(Uint8Array.of(i === 2 ? 99 : i)));
    const fork = signCheckpoint({ ...c2, rootHash: other.root() }, auditor);
    expect(rejected(verifyCheckpointLink(c1, fork, { consistencyProof: consistencyProof(other, c1.treeSize) })).reason).toBe("not-consistent");
  });
});
