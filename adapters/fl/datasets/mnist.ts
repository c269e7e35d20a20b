import { createRequire } from "node:module";
import { Rng } from "../../../domains/kernel/rng.ts";
import type { Dataset } from "../training/index.ts";
import { permutation, subset } from "./partition.ts";

/** The part of the `mnist` package (CommonJS, no types) read here: per digit, its raw pixels. */
interface MnistDigit {
  /** Images of this digit, 784 grey levels in [0, 1] each, concatenated. */
  readonly raw: readonly number[];
  readonly length: number;
}

export const MNIST_PIXELS = 28 * 28;
export const MNIST_CLASSES = 10;

let all: Dataset | undefined;

/**
 * Every digit of the `mnist` package (10,000 images, 863 to 1,127 per class), in package order:
 * all zeros, then all ones … Read from the per-digit raw arrays, because the package's own
 * `set()`/`get()` shuffle with Math.random and its `range()` reads one image past the end.
 * Loaded once (about 21 MB of JSON) and kept.
 */
export const mnistAll = (): Dataset => {
  if (all) return all;
  const digits = createRequire(import.meta.url)("mnist") as readonly MnistDigit[];
  let n = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) n += digits[d]!.length;
  const inputs = new Float32Array(n * MNIST_PIXELS);
  const labels = new Int32Array(n);
  let row = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const digit = digits[d]!;
    inputs.set(digit.raw.slice(0, digit.length * MNIST_PIXELS), row * MNIST_PIXELS);
    labels.fill(d, row, row + digit.length);
    row += digit.length;
  }
  all = { inputs, labels, inputSize: MNIST_PIXELS, classes: MNIST_CLASSES };
  return all;
};

export interface MnistSplitOptions {
  /** Training examples. Default 8,000. */
  readonly train?: number;
  /** Test examples, disjoint from the training ones. Default 2,000. */
  readonly test?: number;
  /** Seeds the shuffle before the split. Default 1. */
  readonly seed?: number;
}

/** Stream tag of the split's shuffle ("mnst"). */
const SPLIT_STREAM = 0x6d6e7374;

/**
 * A deterministic train/test split of the package's 10,000 digits: one seeded shuffle of all of
 * them, the first `train` for training, the next `test` for testing. The same seed gives the
 * same split on every machine.
 */
export const mnistSplit = (options: MnistSplitOptions = {}): { train: Dataset; test: Dataset } => {
  const data = mnistAll();
  const n = data.labels.length;
  const train = options.train ?? 8_000;
  const test = options.test ?? 2_000;
  if (!Number.isInteger(train) || !Number.isInteger(test) || train < 0 || test < 0 || train + test > n) {
    throw new RangeError(`train and test must be non-negative integers adding up to at most ${n}, got ${train} and ${test}`);
  }
  const order = permutation(n, new Rng(options.seed ?? 1, SPLIT_STREAM));
  return { train: subset(data, order.subarray(0, train)), test: subset(data, order.subarray(train, train + test)) };
};
