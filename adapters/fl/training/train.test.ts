import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { Rng } from "../../../domains/kernel/rng.ts";
import { evaluate, flatten, initialWeights, ModelShapeError, parameterCount, trainLocal, type Dataset, type ModelSpec } from "./index.ts";

const spec: ModelSpec = { inputSize: 4, hidden: [8], classes: 3 };

/** Three well-separated Gaussian blobs in 4-d, one per class. */
const blobs = (n: number, seed: number): Dataset => {
  const rng = new Rng(seed);
  const centres = [
    [2, 0, 0, 0],
    [0, 2, 0, 0],
    [0, 0, 2, 0],
  ];
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  const inputs = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) inputs[i * 4 + j] = centres[labels[i]!]![j]! + 0.3 * rng.normal();
  return { inputs, labels, inputSize: 4, classes: 3 };
};

const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));

const data = blobs(60, 1);
const base = { data, epochs: 2, batchSize: 10, learningRate: 0.1, seed: 5 } as const;

describe("trainLocal", () => {
  it("lowers the loss on separable data", async () => {
    // given a fresh model
    const weights = initialWeights(spec, 1);
    const before = await evaluate(spec, weights, data);
    // when it trains for a few SGD steps
    const trained = await trainLocal(spec, { ...base, weights, epochs: 5 });
    // then the loss falls and the blobs are told apart
    const after = await evaluate(spec, trained.weights, data);
    expect(after.loss).toBeLessThan(before.loss / 2);
    expect(after.accuracy).toBeGreaterThan(0.9);
    expect(trained.examples).toBe(60);
    expect(trained.loss).toBeGreaterThan(0);
  });

  it("gives the same weights for the same seed and others for another seed", async () => {
    const weights = initialWeights(spec, 2);
    const a = await trainLocal(spec, { ...base, weights });
    const b = await trainLocal(spec, { ...base, weights });
    const c = await trainLocal(spec, { ...base, weights, seed: 6 });
    expect(b.weights).toEqual(a.weights);
    expect(c.weights).not.toEqual(a.weights);
  });

  it("leaves the caller's weights untouched", async () => {
    const weights = initialWeights(spec, 3);
    const copy = weights.slice();
    await trainLocal(spec, { ...base, weights });
    expect(weights).toEqual(copy);
  });

  it("with FedProx and a large mu stays near the global model", async () => {
    // given one starting (global) model
    const global = initialWeights(spec, 4);
    // when one client trains plainly and another with a strong proximal term (lr · mu < 1 keeps it stable)
    const plain = await trainLocal(spec, { ...base, weights: global });
    const proximal = await trainLocal(spec, { ...base, weights: global, proximalMu: 8 });
    // then the proximal client moves far less
    expect(distance(plain.weights, global)).toBeGreaterThan(0.1);
    expect(distance(proximal.weights, global)).toBeLessThan(distance(plain.weights, global) / 4);
  });

  it("with SCAFFOLD and zero controls is plain SGD, and returns a control as long as the model", async () => {
    const weights = initialWeights(spec, 5);
    const zeros = new Float32Array(parameterCount(spec));
    const plain = await trainLocal(spec, { ...base, weights });
    const scaffold = await trainLocal(spec, { ...base, weights, scaffold: { serverControl: zeros, clientControl: zeros } });
    expect(scaffold.weights).toEqual(plain.weights);
    expect(scaffold.clientControl).toHaveLength(parameterCount(spec));
    expect(plain.clientControl).toBeUndefined();
  });

  it("with SCAFFOLD returns c_i − c + (x − y_i) / (K · lr) and steers by c − c_i", async () => {
    // given controls that differ
    const weights = initialWeights(spec, 6);
    const rng = new Rng(9);
    const serverControl = Float32Array.from({ length: parameterCount(spec) }, () => 0.1 * rng.normal());
    const clientControl = Float32Array.from({ length: parameterCount(spec) }, () => 0.1 * rng.normal());
    // when the client trains: 60 examples in batches of 10 for 2 epochs is K = 12 steps
    const result = await trainLocal(spec, { ...base, weights, scaffold: { serverControl, clientControl } });
    const steps = 12;
    const expected = weights.map((x, i) => clientControl[i]! - serverControl[i]! + (x - result.weights[i]!) / (steps * base.learningRate));
    result.clientControl!.forEach((c, i) => expect(c).toBeCloseTo(expected[i]!, 4));
    // and the correction changed the path taken
    const plain = await trainLocal(spec, { ...base, weights });
    expect(result.weights).not.toEqual(plain.weights);
  });

  it("keeps the number of live tensors flat across many calls", async () => {
    const weights = initialWeights(spec, 7);
    const zeros = new Float32Array(parameterCount(spec));
    const round = async () => {
      const r = await trainLocal(spec, { ...base, weights, proximalMu: 0.1, scaffold: { serverControl: zeros, clientControl: zeros } });
      await evaluate(spec, r.weights, data);
    };
    await round();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await round();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("returns the model unchanged when there is nothing to train on", async () => {
    const weights = initialWeights(spec, 8);
    const empty: Dataset = { inputs: new Float32Array(0), labels: new Int32Array(0), inputSize: 4, classes: 3 };
    const result = await trainLocal(spec, { ...base, weights, data: empty });
    expect(result.weights).toEqual(weights);
    expect(result.examples).toBe(0);
  });

  it("rejects weights, data and controls that do not fit the model", async () => {
    const weights = initialWeights(spec, 9);
    await expect(trainLocal(spec, { ...base, weights: weights.subarray(1) })).rejects.toThrow(ModelShapeError);
    await expect(trainLocal(spec, { ...base, weights, data: { ...data, labels: data.labels.map(() => 3) } })).rejects.toThrow(ModelShapeError);
    const short = new Float32Array(3);
    await expect(trainLocal(spec, { ...base, weights, scaffold: { serverControl: short, clientControl: short } })).rejects.toThrow(ModelShapeError);
    await expect(trainLocal(spec, { ...base, weights, learningRate: 0 })).rejects.toThrow(RangeError);
  });
});

describe("evaluate", () => {
  it("scores hand-set weights: accuracy of the arg-max and mean cross-entropy", async () => {
    // given a 2 → 2 relu → 2 model with identity kernels, so the logits are relu(x)
    const identity = { inputSize: 2, hidden: [2], classes: 2 };
    const eye = Float32Array.of(1, 0, 0, 1);
    const weights = flatten([
      { kernel: eye, bias: new Float32Array(2) },
      { kernel: eye, bias: new Float32Array(2) },
    ]);
    // and three examples, the last one mislabelled
    const examples: Dataset = { inputs: Float32Array.of(1, 0, 0, 1, 1, 0), labels: Int32Array.of(0, 1, 1), inputSize: 2, classes: 2 };
    // when it is evaluated
    const { accuracy, loss } = await evaluate(identity, weights, examples);
    // then two of three are right; the right ones cost log(1 + e^−1), the wrong one log(1 + e)
    expect(accuracy).toBeCloseTo(2 / 3, 6);
    expect(loss).toBeCloseTo((2 * Math.log(1 + Math.exp(-1)) + Math.log(1 + Math.E)) / 3, 5);
  });
});
