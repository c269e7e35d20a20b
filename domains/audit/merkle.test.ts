import { createHash } from "node:crypto";
import * as Result from "effect/Result";
import { describe, expect, it } from "vitest";
import {
  CompactTree,
  consistencyPlan,
  consistencyProof,
  emptyRoot,
  inclusionPlan,
  inclusionProof,
  leafHash,
  MemoryTree,
  MerkleInputError,
  merkleRoot,
  nodeHash,
  ProofRejectedError,
  proofFromPlan,
  rootAt,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type NodeId,
  type ProofVerdict,
  type TreeHashes,
} from "./merkle.ts";

// ---- An independent reference, written from RFC 9162 2.1 and sharing no code with merkle.ts ----

const sha256 = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(createHash("sha256").update(Buffer.concat(parts)).digest());
const L = (data: Uint8Array) => sha256(Uint8Array.of(0x00), data);
const N = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(0x01), left, right);
/** k < n <= 2k, k a power of two (exact in floating point for the small n used here). */
const k = (n: number) => 2 ** Math.floor(Math.log2(n - 1));
const MTH = (D: readonly Uint8Array[]): Uint8Array =>
  D.length === 0 ? sha256() : D.length === 1 ? L(D[0]!) : N(MTH(D.slice(0, k(D.length))), MTH(D.slice(k(D.length))));
const PATH = (m: number, D: readonly Uint8Array[]): Uint8Array[] => {
  if (D.length <= 1) return [];
  const s = k(D.length);
  return m < s ? [...PATH(m, D.slice(0, s)), MTH(D.slice(s))] : [...PATH(m - s, D.slice(s)), MTH(D.slice(0, s))];
};
const SUBPROOF = (m: number, D: readonly Uint8Array[], b: boolean): Uint8Array[] => {
  if (m === D.length) return b ? [] : [MTH(D)];
  const s = k(D.length);
  return m <= s ? [...SUBPROOF(m, D.slice(0, s), b), MTH(D.slice(s))] : [...SUBPROOF(m - s, D.slice(s), false), MTH(D.slice(0, s))];
};
const PROOF = (m: number, D: readonly Uint8Array[]) => SUBPROOF(m, D, true);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const hexes = (list: readonly Uint8Array[]) => list.map(hex);
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

// The leaves of RFC 6962's test vectors, as Certificate Transparency's own tests use them.
const D = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(fromHex);

/** A leaf that is in none of the trees above, to grow them by one. */
const EXTRA = fromHex("70");

const treeOf = (leaves: readonly Uint8Array[]): MemoryTree => {
  const tree = new MemoryTree();
  for (const data of leaves) tree.append(leafHash(data));
  return tree;
};

const flipped = (hash: Uint8Array, bit = 0): Uint8Array => {
  const copy = new Uint8Array(hash);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
};

const failure = (verdict: ProofVerdict): ProofRejectedError => {
  if (Result.isSuccess(verdict)) throw new Error("expected the proof to be rejected");
  return verdict.failure;
};

const inputError = (f: () => unknown): MerkleInputError => {
  try {
    f();
  } catch (error) {
    if (error instanceof MerkleInputError) return error;
    throw error;
  }
  throw new Error("expected a MerkleInputError");
};

// The named nodes of RFC 9162's 7-leaf example tree (2.1.5), plus an eighth leaf m.
const [a, b, c, d, e, f, j, m] = D.map(L) as [Hash, Hash, Hash, Hash, Hash, Hash, Hash, Hash];
const g = N(a, b);
const h = N(c, d);
const i = N(e, f);
const kk = N(g, h);
const l = N(i, j);

describe("RFC 9162 2.1 Merkle tree hash", () => {
  it("hashes leaves with 0x00 and nodes with 0x01 in front", () => {
    expect(hex(leafHash(D[3]!))).toBe(hex(sha256(fromHex("002021"))));
    expect(hex(nodeHash(a, b))).toBe(hex(sha256(fromHex("01"), a, b)));
    expect(hex(emptyRoot())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("gives the hand-written roots of trees of 0, 1, 2, 3, 7 and 8 leaves", () => {
    const expected: Record<number, Uint8Array> = {
      0: sha256(),
      1: a,
      2: N(a, b),
      3: N(N(a, b), c),
      7: N(N(N(a, b), N(c, d)), N(N(e, f), j)),
      8: N(N(N(a, b), N(c, d)), N(N(e, f), N(j, m))),
    };
    for (const [size, root] of Object.entries(expected)) {
      const leaves = D.slice(0, Number(size));
      expect(hex(merkleRoot(leaves)), `size ${size}`).toBe(hex(root));
      expect(hex(treeOf(leaves).root()), `size ${size}`).toBe(hex(root));
      expect(hex(MTH(leaves)), `size ${size}`).toBe(hex(root));
    }
  });

  it("agrees with the roots Certificate Transparency's tests pin for RFC 6962's test leaves", () => {
    // Each value is also recomputed here from the definition (MTH above), not only by the code under test.
    const roots = [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    const tree = treeOf(D);
    roots.forEach((root, index) => {
      const size = index + 1;
      expect(hex(MTH(D.slice(0, size)))).toBe(root);
      expect(hex(merkleRoot(D.slice(0, size)))).toBe(root);
      expect(hex(tree.root(size))).toBe(root);
    });
  });
});

describe("inclusion proofs (RFC 9162 2.1.3)", () => {
  it("matches RFC 9162's worked examples on the 7-leaf tree", () => {
    const tree = treeOf(D.slice(0, 7));
    expect(hexes(inclusionProof(tree, 0))).toEqual(hexes([b, h, l]));
    expect(hexes(inclusionProof(tree, 3))).toEqual(hexes([c, g, l]));
    expect(hexes(inclusionProof(tree, 4))).toEqual(hexes([f, j, kk]));
    expect(hexes(inclusionProof(tree, 6))).toEqual(hexes([i, kk]));
  });

  for (const size of [1, 2, 3, 7, 8]) {
    it(`proves every leaf of a ${size}-leaf tree, and refuses tampered proofs`, () => {
      const leaves = D.slice(0, size);
      const tree = treeOf(leaves);
      const root = MTH(leaves);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(tree, index);
        expect(hexes(proof), `leaf ${index}`).toEqual(hexes(PATH(index, leaves)));
        const leaf = L(leaves[index]!);
        expect(Result.isSuccess(verifyInclusion(leaf, index, size, proof, root)), `leaf ${index}`).toBe(true);

        // Any bit of any hash changed.
        proof.forEach((_, at) => {
          const forged = proof.map((p, n) => (n === at ? flipped(p, 77) : p));
          expect(failure(verifyInclusion(leaf, index, size, forged, root)).reason).toBe("root-mismatch");
        });
        expect(failure(verifyInclusion(flipped(leaf), index, size, proof, root)).reason).toBe("root-mismatch");
        expect(failure(verifyInclusion(leaf, index, size, proof, flipped(root, 255))).reason).toBe("root-mismatch");
        // Another leaf, another position, another tree size.
        if (size > 1) expect(Result.isFailure(verifyInclusion(L(leaves[(index + 1) % size]!), index, size, proof, root))).toBe(true);
        for (const other of [index - 1, index + 1]) {
          if (other >= 0 && other < size) expect(Result.isFailure(verifyInclusion(leaf, other, size, proof, root)), `as leaf ${other}`).toBe(true);
        }
        // The tree of one leaf more or less, with its own root (a proof does not bind the size: see below).
        expect(Result.isFailure(verifyInclusion(leaf, index, size + 1, proof, MTH([...leaves, EXTRA])))).toBe(true);
        if (index < size - 1) expect(Result.isFailure(verifyInclusion(leaf, index, size - 1, proof, MTH(leaves.slice(0, -1))))).toBe(true);
        // A hash too many or too few.
        expect(failure(verifyInclusion(leaf, index, size, [...proof, a], root)).reason).toBe("wrong-length");
        if (proof.length > 0) expect(failure(verifyInclusion(leaf, index, size, proof.slice(0, -1), root)).reason).toBe("wrong-length");
      }
    });
  }

  it("binds the leaf and the root, not the tree size: that is the signed checkpoint's job", () => {
    // RFC 9162's algorithm folds leaf 0's path the same way in a tree of 3 leaves as in one of 4,
    // so the 3-leaf proof also "verifies" against the 3-leaf root claimed as a 4-leaf tree. A
    // verifier must take the size and the root together from one signed checkpoint.
    const three = D.slice(0, 3);
    const proof = inclusionProof(treeOf(three), 0);
    expect(Result.isSuccess(verifyInclusion(a, 0, 4, proof, MTH(three)))).toBe(true);
    expect(Result.isFailure(verifyInclusion(a, 0, 4, proof, MTH(D.slice(0, 4))))).toBe(true);
  });

  it("has no leaf to prove in an empty tree, nor past the last leaf", () => {
    expect(inputError(() => inclusionProof(treeOf([]), 0)).reason).toBe("index-out-of-range");
    expect(inputError(() => inclusionProof(treeOf(D.slice(0, 3)), 3)).reason).toBe("index-out-of-range");
    expect(inputError(() => inclusionPlan(-1, 3)).reason).toBe("index-out-of-range");
    expect(inputError(() => inclusionPlan(0.5, 3)).reason).toBe("index-out-of-range");
    expect(inputError(() => inclusionProof(treeOf(D.slice(0, 3)), 0, 4)).reason).toBe("size-out-of-range");
    expect(failure(verifyInclusion(a, 3, 3, [], MTH(D.slice(0, 3)))).reason).toBe("out-of-range");
    expect(failure(verifyInclusion(a, 0, 0, [], emptyRoot())).reason).toBe("out-of-range");
    expect(failure(verifyInclusion(a, 0, 2, [b.subarray(1)], MTH(D.slice(0, 2)))).reason).toBe("malformed");
    expect(failure(verifyInclusion(a.subarray(0, 31), 0, 2, [b], MTH(D.slice(0, 2)))).reason).toBe("malformed");
  });
});

describe("consistency proofs (RFC 9162 2.1.4)", () => {
  it("matches RFC 9162's worked examples on the 7-leaf tree", () => {
    const tree = treeOf(D.slice(0, 7));
    expect(hexes(consistencyProof(tree, 3))).toEqual(hexes([c, d, g, l]));
    expect(hexes(consistencyProof(tree, 4))).toEqual(hexes([l]));
    expect(hexes(consistencyProof(tree, 6))).toEqual(hexes([i, j, kk]));
  });

  for (const size of [1, 2, 3, 7, 8]) {
    it(`proves every prefix of a ${size}-leaf tree, and refuses tampered proofs`, () => {
      const leaves = D.slice(0, size);
      const tree = treeOf(leaves);
      const root = MTH(leaves);
      for (let first = 1; first <= size; first++) {
        const firstRoot = MTH(leaves.slice(0, first));
        const proof = consistencyProof(tree, first);
        expect(hexes(proof), `from ${first}`).toEqual(hexes(PROOF(first, leaves)));
        expect(Result.isSuccess(verifyConsistency(first, size, firstRoot, root, proof)), `from ${first}`).toBe(true);

        proof.forEach((_, at) => {
          const forged = proof.map((p, n) => (n === at ? flipped(p, 130) : p));
          expect(failure(verifyConsistency(first, size, firstRoot, root, forged)).reason, `from ${first}, hash ${at}`).toBe("root-mismatch");
        });
        expect(failure(verifyConsistency(first, size, flipped(firstRoot), root, proof)).reason).toBe("root-mismatch");
        expect(failure(verifyConsistency(first, size, firstRoot, flipped(root), proof)).reason).toBe("root-mismatch");
        if (first > 1) expect(Result.isFailure(verifyConsistency(first - 1, size, firstRoot, root, proof))).toBe(true);
        if (first < size) expect(Result.isFailure(verifyConsistency(first + 1, size, firstRoot, root, proof))).toBe(true);
        expect(Result.isFailure(verifyConsistency(first, size + 1, firstRoot, MTH([...leaves, EXTRA]), proof))).toBe(true);
        expect(failure(verifyConsistency(first, size, firstRoot, root, [...proof, a])).reason).toBe("wrong-length");
        if (proof.length > 0) expect(failure(verifyConsistency(first, size, firstRoot, root, proof.slice(0, -1))).reason).toBe("wrong-length");
      }
    });
  }

  it("is empty between a tree and itself, and refuses a first tree that is empty or larger", () => {
    const tree = treeOf(D.slice(0, 3));
    expect(consistencyProof(tree, 3)).toEqual([]);
    expect(inputError(() => consistencyProof(tree, 0)).reason).toBe("first-empty");
    expect(inputError(() => consistencyPlan(4, 3)).reason).toBe("first-after-second");
    expect(inputError(() => consistencyProof(tree, 1, 4)).reason).toBe("size-out-of-range");
    expect(failure(verifyConsistency(0, 3, emptyRoot(), MTH(D.slice(0, 3)), [])).reason).toBe("out-of-range");
    expect(failure(verifyConsistency(4, 3, MTH(D.slice(0, 3)), MTH(D.slice(0, 3)), [])).reason).toBe("out-of-range");
    expect(failure(verifyConsistency(2, 3, MTH(D.slice(0, 2)), MTH(D.slice(0, 3)), [c.subarray(2)])).reason).toBe("malformed");
  });
});

describe("against the reference on every tree up to 40 leaves", () => {
  const leaves = Array.from({ length: 40 }, (_, n) => sha256(Uint8Array.of(n)).subarray(0, n % 9));
  const tree = treeOf(leaves);

  it("roots, inclusion proofs and consistency proofs of every size, from one stored tree", () => {
    for (let size = 0; size <= leaves.length; size++) {
      const prefix = leaves.slice(0, size);
      const root = MTH(prefix);
      expect(hex(tree.root(size)), `root ${size}`).toBe(hex(root));
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(tree, index, size);
        expect(hexes(proof), `leaf ${index} of ${size}`).toEqual(hexes(PATH(index, prefix)));
        expect(Result.isSuccess(verifyInclusion(L(prefix[index]!), index, size, proof, root))).toBe(true);
      }
      for (let first = 1; first <= size; first++) {
        const proof = consistencyProof(tree, first, size);
        expect(hexes(proof), `${first} to ${size}`).toEqual(hexes(PROOF(first, prefix)));
        expect(Result.isSuccess(verifyConsistency(first, size, MTH(prefix.slice(0, first)), root, proof))).toBe(true);
      }
    }
  });
});

describe("CompactTree", () => {
  const leaves = Array.from({ length: 70 }, (_, n) => Uint8Array.of(n, n * 3));

  it("has the reference root after every append, holding one hash per 1 bit of its size", () => {
    const tree = new CompactTree();
    expect(hex(tree.root())).toBe(hex(sha256()));
    leaves.forEach((data, n) => {
      tree.append(L(data));
      expect(hex(tree.root()), `size ${n + 1}`).toBe(hex(MTH(leaves.slice(0, n + 1))));
      expect(tree.frontier().peaks.length).toBe((n + 1).toString(2).replaceAll("0", "").length);
    });
  });

  it("reports every perfect subtree once, in order, with its reference hash", () => {
    const seen: { node: NodeId; hash: Hash }[] = [];
    const tree = new CompactTree((node, hash) => seen.push({ node, hash }));
    for (const data of leaves) tree.append(L(data));
    let expected = 0;
    for (let width = 1; width <= leaves.length; width *= 2) expected += Math.floor(leaves.length / width);
    expect(seen.length).toBe(expected);
    for (const { node, hash } of seen) {
      const width = 2 ** node.level;
      expect(hex(hash)).toBe(hex(MTH(leaves.slice(node.index * width, (node.index + 1) * width))));
    }
  });

  it("continues from a saved frontier or from stored hashes as if never stopped", () => {
    const whole = treeOf(leaves);
    for (const stop of [0, 1, 5, 32, 45]) {
      const first = new CompactTree();
      for (const data of leaves.slice(0, stop)) first.append(L(data));
      const resumed = new CompactTree(undefined, first.frontier());
      const fromStore = CompactTree.continuing(whole, stop);
      for (const data of leaves.slice(stop)) {
        resumed.append(L(data));
        fromStore.append(L(data));
      }
      expect(hex(resumed.root())).toBe(hex(whole.root()));
      expect(hex(fromStore.root())).toBe(hex(whole.root()));
    }
  });

  it("refuses what is not a leaf hash and a frontier that does not fit its size", () => {
    expect(inputError(() => new CompactTree().append(new Uint8Array(31))).reason).toBe("not-a-hash");
    expect(inputError(() => new CompactTree(undefined, { size: 3, peaks: [a] })).reason).toBe("bad-frontier");
    expect(inputError(() => new CompactTree(undefined, { size: 2, peaks: [a.subarray(1)] })).reason).toBe("not-a-hash");
  });
});

describe("sizes past 32 bits", () => {
  // A tree whose leaves are all equal: each level's perfect subtrees share one hash, so a tree
  // of 2^41 leaves fits in 42 hashes and exercises the arithmetic that bit operators would break.
  const levels: Hash[] = [L(Uint8Array.of(7))];
  for (let n = 1; n <= 45; n++) levels.push(N(levels[n - 1]!, levels[n - 1]!));
  const size = 2 ** 41 + 2 ** 33 + 3;
  const uniform: TreeHashes = {
    size,
    nodeHash: (node) => {
      if ((node.index + 1) * 2 ** node.level > size) throw new Error(`node ${node.level}/${node.index} is past the tree`);
      return levels[node.level]!;
    },
  };
  const rootOf = (n: number) => rootAt(uniform, n);

  it("proves inclusion and consistency with indices above 2^32", () => {
    const root = rootOf(size);
    for (const index of [0, 2 ** 32 + 1, 2 ** 40 + 5, size - 1]) {
      const plan = inclusionPlan(index, size);
      expect(plan[0]).toEqual(index === size - 1 ? [{ level: 1, index: (size - 3) / 2 }] : [{ level: 0, index: index % 2 === 0 ? index + 1 : index - 1 }]);
      const proof = proofFromPlan(plan, uniform.nodeHash);
      expect(Result.isSuccess(verifyInclusion(levels[0]!, index, size, proof, root)), `leaf ${index}`).toBe(true);
    }
    for (const first of [1, 2 ** 32, 2 ** 32 + 7, 2 ** 41, size - 1]) {
      const proof = consistencyProof(uniform, first, size);
      expect(Result.isSuccess(verifyConsistency(first, size, rootOf(first), root, proof)), `from ${first}`).toBe(true);
      expect(Result.isFailure(verifyConsistency(first, size, rootOf(first), flipped(root), proof))).toBe(true);
    }
  });
});
