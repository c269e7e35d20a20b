import { generateKeyPairSync } from "node:crypto";
import * as Result from "effect/Result";
import { describe, expect, it } from "vitest";
import { checkpointOfView, checkpointView, INCLUSION_BUNDLE_FORMAT, verifyConsistencyView, verifyInclusionBundle, type InclusionBundle } from "./bundle.ts";
import { checkpointHash, signCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { leafData, type LeafMessage } from "./leaf.ts";
import { consistencyProof, inclusionProof, leafHash, MemoryTree, toHex } from "./merkle.ts";
import { auditorKeyIdOf } from "./verify.ts";

const auditor = () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(12));
  return { keyId: auditorKeyIdOf(raw), privateKey, publicKey: raw };
};

const message = (seq: number): LeafMessage => ({
  stream: "MESH",
  seq,
  subject: `mesh.n${seq % 3}.heartbeat`,
  headers: { "X0-Type": "mesh.HeartbeatSent", "X0-Version": "1", "Nats-Msg-Id": `id-${seq}` },
  payload: Uint8Array.of(seq, seq + 1),
});

/** A log of 7 MESH events with checkpoints after 3 and 7 of them. */
const log = () => {
  const key = auditor();
  const tree = new MemoryTree();
  const messages = Array.from({ length: 7 }, (_, i) => message(i + 1));
  const checkpoints: Checkpoint[] = [];
  for (const m of messages) {
    tree.append(leafHash(leafData(m)));
    if (tree.size === 3 || tree.size === 7) {
      const previous = checkpoints[checkpoints.length - 1];
      checkpoints.push(
        signCheckpoint(
          { treeSize: tree.size, rootHash: tree.root(), previousHash: previous ? checkpointHash(previous) : null, lastSequence: { MESH: tree.size, HEAL: 0 }, time: 1_764_151_200_000 + tree.size },
          key,
        ),
      );
    }
  }
  const bundle = (seq: number, n: number): InclusionBundle => {
    const checkpoint = checkpoints[n - 1]!;
    const m = messages[seq - 1]!;
    const data = leafData(m);
    return {
      format: INCLUSION_BUNDLE_FORMAT,
      event: { stream: m.stream, seq: m.seq, subject: m.subject, headers: { ...m.headers }, payload: Buffer.from(m.payload).toString("base64") },
      leaf: { index: seq - 1, data: toHex(data), hash: toHex(leafHash(data)) },
      proof: inclusionProof(tree, seq - 1, checkpoint.treeSize).map(toHex),
      checkpoint: checkpointView(n, checkpoint),
      auditor: { keyId: key.keyId, publicKey: toHex(key.publicKey) },
    };
  };
  return { key, tree, checkpoints, bundle };
};

describe("proof bundles and their offline verifier", () => {
  it("accepts a bundle for every event against every checkpoint that covers it", () => {
    const { key, bundle } = log();
    for (const [seq, n] of [[1, 1], [3, 1], [1, 2], [5, 2], [7, 2]] as const) {
      const verdict = verifyInclusionBundle(JSON.parse(JSON.stringify(bundle(seq, n))), key.publicKey);
      expect(Result.isSuccess(verdict) && verdict.success, `${seq} in ${n}`).toMatchObject({ stream: "MESH", seq, leafIndex: seq - 1, checkpoint: n });
    }
  });

  it("rejects, with the reason: a changed event, a leaf that is not its encoding, the wrong checkpoint, another key, a malformed document", () => {
    const { key, checkpoints, bundle } = log();
    const good = bundle(2, 1);
    const reason = (input: unknown, k = key.publicKey) => {
      const verdict = verifyInclusionBundle(input, k);
      return Result.isFailure(verdict) ? verdict.failure.reason : "accepted";
    };
    expect(reason({ ...good, event: { ...good.event, payload: Buffer.from("x").toString("base64") } })).toBe("leaf-mismatch");
    expect(reason({ ...good, event: { ...good.event, headers: { ...good.event.headers, "X0-Type": "mesh.Other" } } })).toBe("leaf-mismatch");
    expect(reason({ ...good, leaf: { ...good.leaf, hash: "00".repeat(32) } })).toBe("leaf-mismatch");
    // The proof for checkpoint 1 shown with checkpoint 2: the root does not match.
    expect(reason({ ...good, checkpoint: checkpointView(2, checkpoints[1]!) })).toBe("not-included");
    // An event the checkpoint does not cover.
    expect(reason({ ...bundle(5, 2), checkpoint: checkpointView(1, checkpoints[0]!) })).toBe("not-included");
    expect(reason(good, auditor().publicKey)).toBe("bad-checkpoint");
    const forged = { ...good, checkpoint: { ...good.checkpoint, time: good.checkpoint.time + 1 } };
    expect(reason(forged)).toBe("bad-checkpoint");
    expect(reason({ ...good, format: "other" })).toBe("malformed");
    expect(reason({ ...good, proof: ["zz"] })).toBe("malformed");
    expect(reason("not an object")).toBe("malformed");
  });

  it("checks a consistency proof between two signed checkpoints, and their link when consecutive", () => {
    const { key, tree, checkpoints } = log();
    const view = { from: checkpointView(1, checkpoints[0]!), to: checkpointView(2, checkpoints[1]!), proof: consistencyProof(tree, 3, 7).map(toHex) };
    expect(Result.isSuccess(verifyConsistencyView(view, key.publicKey))).toBe(true);
    const broken = verifyConsistencyView({ ...view, proof: [...view.proof].reverse() }, key.publicKey);
    expect(Result.isFailure(broken) && broken.failure.reason).toBe("not-consistent");
    const backwards = verifyConsistencyView({ ...view, from: view.to, to: view.from }, key.publicKey);
    expect(Result.isFailure(backwards) && backwards.failure.reason).toBe("malformed");
  });

  it("round-trips a checkpoint through its JSON form", () => {
    const { checkpoints } = log();
    const back = checkpointOfView(JSON.parse(JSON.stringify(checkpointView(2, checkpoints[1]!))));
    expect(toHex(checkpointHash(back))).toBe(toHex(checkpointHash(checkpoints[1]!)));
    expect(toHex(back.signature)).toBe(toHex(checkpoints[1]!.signature));
  });
});
