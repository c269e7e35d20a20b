import { Rng } from "../../../domains/kernel/rng.ts";
import type { Dataset } from "../training/index.ts";

/** Fisher–Yates: a uniformly random permutation of 0 … n − 1 from the seeded Rng. */
export const permutation = (n: number, rng: Rng): Int32Array => {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
};

/** The examples at `indices`, in that order (copied). */
export const subset = (data: Dataset, indices: ArrayLike<number>): Dataset => {
  const width = data.inputSize;
  const inputs = new Float32Array(indices.length * width);
  const labels = new Int32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    if (!(i >= 0 && i < data.labels.length)) throw new RangeError(`example ${i} is not in a dataset of ${data.labels.length}`);
    inputs.set(data.inputs.subarray(i * width, (i + 1) * width), r * width);
    labels[r] = data.labels[i]!;
  }
  return { inputs, labels, inputSize: width, classes: data.classes };
};

/** Several datasets of the same shape as one, in the given order. */
export const concat = (parts: readonly Dataset[]): Dataset => {
  const first = parts[0];
  if (!first) throw new RangeError("concat needs at least one dataset");
  for (const p of parts) {
    if (p.inputSize !== first.inputSize || p.classes !== first.classes) throw new RangeError("concat needs datasets of one shape");
  }
  const n = parts.reduce((sum, p) => sum + p.labels.length, 0);
  const inputs = new Float32Array(n * first.inputSize);
  const labels = new Int32Array(n);
  let row = 0;
  for (const p of parts) {
    inputs.set(p.inputs, row * first.inputSize);
    labels.set(p.labels, row);
    row += p.labels.length;
  }
  return { inputs, labels, inputSize: first.inputSize, classes: first.classes };
};

/** How many examples of each class (index = label). */
export const labelCounts = (data: Dataset): number[] => {
  const counts = new Array<number>(data.classes).fill(0);
  for (const label of data.labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
};

const checkClients = (clients: number, n: number) => {
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer, got ${clients}`);
  if (clients > n) throw new RangeError(`${clients} clients cannot share ${n} examples`);
};

/** Stream tags ("iid ", "shrd", "flip"). */
const IID_STREAM = 0x69696420;
const SHARD_STREAM = 0x73687264;
const FLIP_STREAM = 0x666c6970;

/**
 * IID partition: one seeded shuffle, then `clients` equal consecutive shares of ⌊n / clients⌋
 * examples (the remainder is left out, so every client weighs the same in FedAvg).
 */
export const partitionIid = (data: Dataset, clients: number, seed: number): Dataset[] => {
  const n = data.labels.length;
  checkClients(clients, n);
  const share = Math.floor(n / clients);
  const order = permutation(n, new Rng(seed, IID_STREAM));
  return Array.from({ length: clients }, (_, c) => subset(data, order.subarray(c * share, (c + 1) * share)));
};

/**
 * McMahan et al.'s pathological non-IID partition: the data sorted by label is cut into
 * clients · shardsPerClient shards and each client gets `shardsPerClient` of them at random, so
 * with 2 shards a client sees at most 2 digits.
 *
 * Shards are cut within a label, never across two: each label gets a number of shards in
 * proportion to its examples (largest remainder), and its examples, shuffled, are cut into that
 * many near-equal shards. (A plain cut of the sorted list would let a shard straddle two labels
 * and give a client up to 2 · shardsPerClient labels.) With fewer shards than labels the rarest
 * labels get none and are left out.
 */
export const partitionShards = (data: Dataset, clients: number, shardsPerClient: number, seed: number): Dataset[] => {
  const n = data.labels.length;
  checkClients(clients, n);
  if (!Number.isInteger(shardsPerClient) || shardsPerClient < 1) {
    throw new RangeError(`shardsPerClient must be a positive integer, got ${shardsPerClient}`);
  }
  const totalShards = clients * shardsPerClient;
  if (totalShards > n) throw new RangeError(`${totalShards} shards cannot be cut from ${n} examples`);
  const rng = new Rng(seed, SHARD_STREAM);

  const byLabel: number[][] = Array.from({ length: data.classes }, () => []);
  for (const i of permutation(n, rng)) byLabel[data.labels[i]!]!.push(i);

  // Largest remainder: floor of each label's share, then one more to the biggest fractions (ties: lower label).
  const quotas = byLabel.map((examples) => (examples.length * totalShards) / n);
  const shardsOf = quotas.map(Math.floor);
  const byRemainder = quotas.map((q, label) => ({ label, rest: q - Math.floor(q) })).sort((x, y) => y.rest - x.rest || x.label - y.label);
  for (let k = 0, left = totalShards - shardsOf.reduce((a, b) => a + b, 0); left > 0; k++, left--) shardsOf[byRemainder[k]!.label]!++;

  const shards: number[][] = [];
  byLabel.forEach((examples, label) => {
    const count = Math.min(shardsOf[label]!, examples.length);
    for (let s = 0; s < count; s++) {
      shards.push(examples.slice(Math.floor((s * examples.length) / count), Math.floor(((s + 1) * examples.length) / count)));
    }
  });
  const dealt = permutation(shards.length, rng);
  return Array.from({ length: clients }, (_, c) => {
    const mine: number[] = [];
    for (let s = c * shardsPerClient; s < (c + 1) * shardsPerClient && s < dealt.length; s++) mine.push(...shards[dealt[s]!]!);
    return subset(data, mine);
  });
};

export interface LabelFlipOptions {
  /** Fraction of the examples whose label is flipped, chosen at random. Default 1 (all). */
  readonly fraction?: number;
  /** Seeds which examples are flipped when `fraction` < 1. Default 1. */
  readonly seed?: number;
}

/**
 * Label-flipping poison (a Byzantine client's data): label l becomes classes − 1 − l (9 − l on
 * MNIST), for every example or a seeded random `fraction` of them. Inputs are shared, not copied.
 */
export const flipLabels = (data: Dataset, options: LabelFlipOptions = {}): Dataset => {
  const fraction = options.fraction ?? 1;
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be within 0-1, got ${fraction}`);
  const labels = data.labels.slice();
  const n = labels.length;
  const chosen = fraction === 1 ? null : permutation(n, new Rng(options.seed ?? 1, FLIP_STREAM)).subarray(0, Math.round(fraction * n));
  const flip = (i: number) => (labels[i] = data.classes - 1 - labels[i]!);
  if (chosen) for (const i of chosen) flip(i);
  else for (let i = 0; i < n; i++) flip(i);
  return { ...data, labels };
};
