import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { sha256 } from "./sha256.ts";

/**
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0) section 2.1, with SHA-256:
 *
 *   MTH({})        = SHA-256()
 *   MTH({d(0)})    = SHA-256(0x00 || d(0))
 *   MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),  k the largest power of two < n
 *
 * Every subtree the definition visits is either perfect (2^level leaves starting at a multiple
 * of 2^level: a `NodeId`) or ends at the tree's right edge, and a right-edge subtree is the
 * right fold of the perfect subtrees that its size's binary digits cut it into. So a proof is
 * planned as lists of `NodeId`s (`inclusionPlan`, `consistencyPlan`) whose hashes any store can
 * supply, and roots and proofs of any past size come from the same stored hashes.
 *
 * Sizes and indices are JavaScript safe integers (< 2^53); shifts are written as arithmetic
 * because JavaScript's bit operators truncate to 32 bits.
 */

/** A SHA-256 hash: 32 bytes. */
export type Hash = Uint8Array;

export const HASH_BYTES = 32;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// Hashing is most of the audit log's CPU: one-shot hashing (sha256.ts) over one reused buffer
// costs less than a createHash object and three updates per hash.
let scratch = new Uint8Array(1024);

const reserve = (length: number): void => {
  if (length > scratch.length) scratch = new Uint8Array(Math.max(length, scratch.length * 2));
};

const digest = (length: number): Hash => sha256(scratch.subarray(0, length));

/** Bad input to tree building or proof generation (the caller's, not a forged proof's). */
export class MerkleInputError extends Schema.TaggedError<MerkleInputError>()("MerkleInputError", {
  reason: Schema.Literals(["index-out-of-range", "size-out-of-range", "first-empty", "first-after-second", "not-a-hash", "bad-frontier"]),
  message: Schema.String,
}) {}

/** A proof that does not prove what it claims. Returned, never thrown: forged input is expected. */
export class ProofRejectedError extends Schema.TaggedError<ProofRejectedError>()("ProofRejectedError", {
  proof: Schema.Literals(["inclusion", "consistency"]),
  reason: Schema.Literals(["out-of-range", "malformed", "wrong-length", "root-mismatch"]),
  message: Schema.String,
}) {}

export type ProofVerdict = Result.Result<void, ProofRejectedError>;

/** MTH of the empty list: SHA-256 of no bytes. */
export const emptyRoot = (): Hash => digest(0);

/** RFC 9162 leaf hash: SHA-256(0x00 || leaf data). */
export const leafHash = (data: Uint8Array): Hash => {
  reserve(1 + data.length);
  scratch[0] = LEAF_PREFIX;
  scratch.set(data, 1);
  return digest(1 + data.length);
};

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export const nodeHash = (left: Hash, right: Hash): Hash => {
  reserve(1 + left.length + right.length);
  scratch[0] = NODE_PREFIX;
  scratch.set(left, 1);
  scratch.set(right, 1 + left.length);
  return digest(1 + left.length + right.length);
};

export const isHash = (value: unknown): value is Hash => value instanceof Uint8Array && value.length === HASH_BYTES;

export const equalHashes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

const isPowerOfTwo = (n: number): boolean => {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
};

/** The largest power of two smaller than n (n >= 2): where MTH splits D[n]. */
const splitPoint = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

const assertHash = (hash: unknown, what: string): void => {
  if (!isHash(hash)) throw new MerkleInputError({ reason: "not-a-hash", message: `${what} must be a ${HASH_BYTES}-byte hash` });
};

// ---------------------------------------------------------------------------------------------
// Perfect subtrees and proof plans

/** A perfect subtree: the 2^level leaves starting at leaf index·2^level. Level 0 is one leaf. */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/**
 * The hashes of a proof, in proof order. Each element is the MTH of one subtree, given as the
 * perfect subtrees that cover it left to right (one for a perfect subtree, more for one that
 * ends at the tree's right edge); its hash is their right fold with `nodeHash`.
 */
export type ProofPlan = readonly (readonly NodeId[])[];

/**
 * Perfect subtrees covering leaves [begin, end), largest first. Only exact for the subtrees MTH
 * visits (begin a multiple of the power of two at or above end - begin), which is all we ask.
 */
const coveringNodes = (begin: number, end: number): NodeId[] => {
  const nodes: NodeId[] = [];
  let width = 1;
  let level = 0;
  while (width * 2 <= end - begin) {
    width *= 2;
    level++;
  }
  for (let offset = begin; offset < end; width /= 2, level--) {
    if (end - offset >= width) {
      nodes.push({ level, index: offset / width });
      offset += width;
    }
  }
  return nodes;
};

/** RFC 9162 2.1.3.1 PATH(m, D[n]) as a plan: the audit path of leaf `index` in a tree of `size` leaves. */
export const inclusionPlan = (index: number, size: number): ProofPlan => {
  if (!isSize(size)) throw new MerkleInputError({ reason: "size-out-of-range", message: `tree size must be an integer >= 0, got ${size}` });
  if (!isSize(index) || index >= size) {
    throw new MerkleInputError({
      reason: "index-out-of-range",
      message:
        size === 0
          ? `leaf index ${index} is out of range: the tree is empty`
          : `leaf index ${index} is out of range: the tree has ${size === 1 ? "1 leaf (index 0)" : `${size} leaves (indices 0-${size - 1})`}`,
    });
  }
  const plan: NodeId[][] = [];
  // PATH(m, D[begin:end]); m is relative to begin.
  const path = (m: number, begin: number, end: number): void => {
    const n = end - begin;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, begin, begin + k);
      plan.push(coveringNodes(begin + k, end));
    } else {
      path(m - k, begin + k, end);
      plan.push(coveringNodes(begin, begin + k));
    }
  };
  path(index, 0, size);
  return plan;
};

/**
 * RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as a plan: proves that the tree of
 * the first `first` leaves is a prefix of the tree of `second` leaves. Empty when first = second.
 * `first` = 0 is refused: the empty tree is a prefix of every tree and RFC 9162 defines no proof.
 */
export const consistencyPlan = (first: number, second: number): ProofPlan => {
  if (!isSize(second)) throw new MerkleInputError({ reason: "size-out-of-range", message: `tree size must be an integer >= 0, got ${second}` });
  if (!isSize(first)) throw new MerkleInputError({ reason: "size-out-of-range", message: `first tree size must be an integer >= 1, got ${first}` });
  if (first === 0) throw new MerkleInputError({ reason: "first-empty", message: "a consistency proof starts from a tree of at least 1 leaf, got 0" });
  if (first > second) {
    throw new MerkleInputError({ reason: "first-after-second", message: `first tree size ${first} is larger than the second, ${second}` });
  }
  const plan: NodeId[][] = [];
  // SUBPROOF(m, D[begin:end], complete); m is relative to begin.
  const subproof = (m: number, begin: number, end: number, complete: boolean): void => {
    const n = end - begin;
    if (m === n) {
      if (!complete) plan.push(coveringNodes(begin, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      subproof(m, begin, begin + k, complete);
      plan.push(coveringNodes(begin + k, end));
    } else {
      subproof(m - k, begin + k, end, false);
      plan.push(coveringNodes(begin, begin + k));
    }
  };
  subproof(first, 0, second, true);
  return plan;
};

/** The proof's hashes from its plan; `hashOf` supplies each perfect subtree's hash (e.g. fetched in one batch). */
export const proofFromPlan = (plan: ProofPlan, hashOf: (node: NodeId) => Hash): Hash[] =>
  plan.map((nodes) => {
    let hash = hashOf(nodes[nodes.length - 1]!);
    for (let i = nodes.length - 2; i >= 0; i--) hash = nodeHash(hashOf(nodes[i]!), hash);
    return hash;
  });

// ---------------------------------------------------------------------------------------------
// Where proofs get their hashes

/**
 * Read access to a tree's perfect-subtree hashes: all that roots and proofs of any size up to
 * `size` need. A projection can back it with the nodes `CompactTree` reports as it appends
 * (about 2 hashes per leaf), or with fewer levels and recompute the rest.
 */
export interface TreeHashes {
  /** Leaves appended so far. */
  readonly size: number;
  /** The hash of a perfect subtree inside the first `size` leaves. */
  nodeHash(node: NodeId): Hash;
}

const assertStoredSize = (tree: TreeHashes, size: number): void => {
  if (!isSize(size) || size > tree.size) {
    throw new MerkleInputError({ reason: "size-out-of-range", message: `tree size ${size} is out of range: ${tree.size} leaves are stored` });
  }
};

/** MTH of the first `size` leaves, from O(log size) stored hashes. */
export const rootAt = (tree: TreeHashes, size: number = tree.size): Hash => {
  assertStoredSize(tree, size);
  if (size === 0) return emptyRoot();
  return proofFromPlan([coveringNodes(0, size)], (node) => tree.nodeHash(node))[0]!;
};

/** Inclusion proof (RFC 9162 2.1.3.1) of leaf `index` in the tree of the first `size` leaves. */
export const inclusionProof = (tree: TreeHashes, index: number, size: number = tree.size): Hash[] => {
  assertStoredSize(tree, size);
  return proofFromPlan(inclusionPlan(index, size), (node) => tree.nodeHash(node));
};

/** Consistency proof (RFC 9162 2.1.4.1) from the first `first` leaves to the first `second`. */
export const consistencyProof = (tree: TreeHashes, first: number, second: number = tree.size): Hash[] => {
  assertStoredSize(tree, second);
  return proofFromPlan(consistencyPlan(first, second), (node) => tree.nodeHash(node));
};

// ---------------------------------------------------------------------------------------------
// Appending

/** A compact tree's whole state: its size and the roots of its perfect subtrees, largest first. */
export interface Frontier {
  readonly size: number;
  readonly peaks: readonly Hash[];
}

/** Number of perfect subtrees in a tree of n leaves: the 1 bits of n. */
const peakCount = (n: number): number => {
  let count = 0;
  for (let rest = n; rest > 0; rest = half(rest)) if (isOdd(rest)) count++;
  return count;
};

/**
 * An append-only Merkle tree that keeps only its frontier: one hash per 1 bit of its size
 * (at most 53), so memory is O(log n) however many leaves are appended. `onNode` hears every
 * perfect subtree as it completes (leaves included), in order within each level: persist those
 * and you have a `TreeHashes` for proofs.
 */
export class CompactTree {
  private readonly peaks: Hash[];
  private count: number;

  constructor(
    private readonly onNode?: (node: NodeId, hash: Hash) => void,
    frontier: Frontier = { size: 0, peaks: [] },
  ) {
    if (!isSize(frontier.size) || frontier.peaks.length !== peakCount(frontier.size)) {
      throw new MerkleInputError({
        reason: "bad-frontier",
        message: `a tree of ${frontier.size} leaves has ${peakCount(frontier.size)} perfect subtrees, got ${frontier.peaks.length}`,
      });
    }
    frontier.peaks.forEach((peak, i) => assertHash(peak, `frontier peak ${i}`));
    this.peaks = frontier.peaks.map((peak) => new Uint8Array(peak));
    this.count = frontier.size;
  }

  /** Continues the tree whose first `size` leaves `tree` holds. */
  static continuing(tree: TreeHashes, size: number = tree.size, onNode?: (node: NodeId, hash: Hash) => void): CompactTree {
    assertStoredSize(tree, size);
    return new CompactTree(onNode, { size, peaks: size === 0 ? [] : coveringNodes(0, size).map((node) => tree.nodeHash(node)) });
  }

  get size(): number {
    return this.count;
  }

  /** Appends one leaf by its leaf hash (`leafHash(data)`). Amortised one node hash per leaf. */
  append(leaf: Hash): void {
    assertHash(leaf, "a leaf hash");
    if (this.count >= Number.MAX_SAFE_INTEGER) throw new MerkleInputError({ reason: "size-out-of-range", message: "the tree is full" });
    let hash: Hash = new Uint8Array(leaf);
    let level = 0;
    let index = this.count;
    this.onNode?.({ level, index }, hash);
    // Each trailing 1 bit of the old size is a perfect subtree of the same level to merge with.
    for (let rest = this.count; isOdd(rest); rest = half(rest)) {
      hash = nodeHash(this.peaks.pop()!, hash);
      level++;
      index = half(index);
      this.onNode?.({ level, index }, hash);
    }
    this.peaks.push(hash);
    this.count++;
  }

  /** MTH of the leaves appended so far. */
  root(): Hash {
    if (this.peaks.length === 0) return emptyRoot();
    let hash = this.peaks[this.peaks.length - 1]!;
    for (let i = this.peaks.length - 2; i >= 0; i--) hash = nodeHash(this.peaks[i]!, hash);
    return hash;
  }

  /** The state to save and later pass back to the constructor. */
  frontier(): Frontier {
    return { size: this.count, peaks: this.peaks.map((peak) => new Uint8Array(peak)) };
  }
}

/** One level's hashes packed in one growing buffer: a million leaves cost 64 MB, not millions of objects. */
class PackedHashes {
  private bytes = new Uint8Array(HASH_BYTES * 64);
  count = 0;

  push(hash: Hash): void {
    if ((this.count + 1) * HASH_BYTES > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.count * HASH_BYTES);
    this.count++;
  }

  get(index: number): Hash {
    return this.bytes.slice(index * HASH_BYTES, (index + 1) * HASH_BYTES);
  }
}

/** A whole tree in memory (every perfect subtree, about 64 bytes per leaf): for the CLI, tests and replays. */
export class MemoryTree implements TreeHashes {
  private readonly levels: PackedHashes[] = [];
  private readonly compact = new CompactTree((node, hash) => {
    const level = (this.levels[node.level] ??= new PackedHashes());
    level.push(hash);
  });

  get size(): number {
    return this.compact.size;
  }

  append(leaf: Hash): void {
    this.compact.append(leaf);
  }

  nodeHash(node: NodeId): Hash {
    const level = this.levels[node.level];
    if (!level || !Number.isSafeInteger(node.index) || node.index < 0 || node.index >= level.count) {
      throw new MerkleInputError({ reason: "size-out-of-range", message: `no perfect subtree at level ${node.level}, index ${node.index} in a tree of ${this.size} leaves` });
    }
    return level.get(node.index);
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size: number = this.size): Hash {
    return size === this.size ? this.compact.root() : rootAt(this, size);
  }
}

/** MTH of a list of leaves' data. */
export const merkleRoot = (leaves: Iterable<Uint8Array>): Hash => {
  const tree = new CompactTree();
  for (const data of leaves) tree.append(leafHash(data));
  return tree.root();
};

// ---------------------------------------------------------------------------------------------
// Verification

const rejectInclusion = (reason: ProofRejectedError["reason"], message: string): ProofVerdict =>
  Result.fail(new ProofRejectedError({ proof: "inclusion", reason, message }));

const rejectConsistency = (reason: ProofRejectedError["reason"], message: string): ProofVerdict =>
  Result.fail(new ProofRejectedError({ proof: "consistency", reason, message }));

/**
 * RFC 9162 2.1.3.2: does `proof` show the leaf with hash `leaf` at `index` in the tree of
 * `treeSize` leaves whose root is `root`? The proof's length is checked first, so a short or
 * long proof is named as such rather than as a root mismatch.
 */
export const verifyInclusion = (leaf: Hash, index: number, treeSize: number, proof: readonly Hash[], root: Hash): ProofVerdict => {
  if (!isSize(treeSize) || !isSize(index) || index >= treeSize) {
    return rejectInclusion("out-of-range", `leaf index ${index} is not in a tree of ${treeSize} leaves`);
  }
  if (!isHash(leaf) || !isHash(root)) return rejectInclusion("malformed", `the leaf hash and the root must be ${HASH_BYTES}-byte hashes`);
  const bad = proof.findIndex((p) => !isHash(p));
  if (bad >= 0) return rejectInclusion("malformed", `proof element ${bad} is not a ${HASH_BYTES}-byte hash`);
  const expected = inclusionPlan(index, treeSize).length;
  if (proof.length !== expected) {
    return rejectInclusion("wrong-length", `an inclusion proof for leaf ${index} of ${treeSize} has ${expected} hashes, got ${proof.length}`);
  }
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return rejectInclusion("wrong-length", "the proof is longer than the path to the root");
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return rejectInclusion("wrong-length", "the proof is shorter than the path to the root");
  if (!equalHashes(r, root)) return rejectInclusion("root-mismatch", `the proof leads to root ${toHex(r)}, not ${toHex(root)}`);
  return Result.void;
};

/**
 * RFC 9162 2.1.4.2: does `proof` show that the tree of `first` leaves with root `firstRoot` is
 * a prefix of the tree of `second` leaves with root `secondRoot`? For first = second the proof
 * is empty and the roots must be equal; first = 0 is refused as in `consistencyPlan`.
 */
export const verifyConsistency = (first: number, second: number, firstRoot: Hash, secondRoot: Hash, proof: readonly Hash[]): ProofVerdict => {
  if (!isSize(first) || !isSize(second) || first === 0 || first > second) {
    return rejectConsistency("out-of-range", `no consistency proof exists from ${first} to ${second} leaves (need 1 <= first <= second)`);
  }
  if (!isHash(firstRoot) || !isHash(secondRoot)) return rejectConsistency("malformed", `both roots must be ${HASH_BYTES}-byte hashes`);
  const bad = proof.findIndex((p) => !isHash(p));
  if (bad >= 0) return rejectConsistency("malformed", `proof element ${bad} is not a ${HASH_BYTES}-byte hash`);
  const expected = consistencyPlan(first, second).length;
  if (proof.length !== expected) {
    return rejectConsistency("wrong-length", `a consistency proof from ${first} to ${second} leaves has ${expected} hashes, got ${proof.length}`);
  }
  if (first === second) {
    return equalHashes(firstRoot, secondRoot) ? Result.void : rejectConsistency("root-mismatch", `two trees of ${first} leaves have different roots`);
  }
  // Step 2: when the first tree is a perfect subtree of the second, its root starts the path.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof;
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return rejectConsistency("wrong-length", "the proof is longer than the path to the root");
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return rejectConsistency("wrong-length", "the proof is shorter than the path to the root");
  if (!equalHashes(fr, firstRoot)) return rejectConsistency("root-mismatch", `the proof leads to first root ${toHex(fr)}, not ${toHex(firstRoot)}`);
  if (!equalHashes(sr, secondRoot)) return rejectConsistency("root-mismatch", `the proof leads to second root ${toHex(sr)}, not ${toHex(secondRoot)}`);
  return Result.void;
};
