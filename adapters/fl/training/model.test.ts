import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { Rng } from "../../../domains/kernel/rng.ts";
import { evaluate, flatten, initialWeights, initTraining, MNIST_2NN, ModelShapeError, parameterCount, unflatten, type ModelSpec } from "./index.ts";

const small: ModelSpec = { inputSize: 5, hidden: [4, 3], classes: 3 };

const randomWeights = (spec: ModelSpec, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: parameterCount(spec) }, () => rng.normal());
};

describe("flat model layout", () => {
  it("counts McMahan's 2NN as 199,210 parameters", () => {
    expect(parameterCount(MNIST_2NN)).toBe(199_210);
  });

  it("splits a flat model into layers, kernel then bias, and joins it back unchanged", () => {
    // given a flat model whose entries are their own positions
    const flat = Float32Array.from({ length: parameterCount(small) }, (_, i) => i);
    // when it is split
    const layers = unflatten(small, flat);
    // then layer 0 is a 5×4 kernel at the start, then its 4 biases, then layer 1 …
    expect(layers.map((l) => [l.inputs, l.outputs, l.kernel.length, l.bias.length])).toEqual([
      [5, 4, 20, 4],
      [4, 3, 12, 3],
      [3, 3, 9, 3],
    ]);
    expect(layers[0]!.kernel[0]).toBe(0);
    expect(layers[0]!.bias[0]).toBe(20);
    expect(layers[1]!.kernel[0]).toBe(24);
    expect(layers[2]!.bias[2]).toBe(parameterCount(small) - 1);
    // and joining gives back the same bytes
    expect(flatten(layers)).toEqual(flat);
  });

  it("rejects a flat model of the wrong length", () => {
    expect(() => unflatten(small, new Float32Array(parameterCount(small) - 1))).toThrow(ModelShapeError);
  });

  it("is the order tfjs layers use: a tf.layers model with the same weights has the same loss", async () => {
    // given random weights, and the same weights set on an equivalent tf.layers model
    await initTraining();
    const weights = randomWeights(small, 3);
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [5], units: 4, activation: "relu" }),
        tf.layers.dense({ units: 3, activation: "relu" }),
        tf.layers.dense({ units: 3, activation: "softmax" }),
      ],
    });
    const rng = new Rng(4);
    const n = 20;
    const data = {
      inputs: Float32Array.from({ length: n * 5 }, () => rng.normal()),
      labels: Int32Array.from({ length: n }, () => rng.int(3)),
      inputSize: 5,
      classes: 3,
    };
    const tensors = unflatten(small, weights).flatMap((l) => [tf.tensor2d(l.kernel, [l.inputs, l.outputs]), tf.tensor1d(l.bias)]);
    model.setWeights(tensors);
    const expected = tf.tidy(() => {
      const p = model.predict(tf.tensor2d(data.inputs, [n, 5])) as tf.Tensor2D;
      const picked = tf.sum(tf.mul(p, tf.oneHot(tf.tensor1d(data.labels, "int32"), 3)), 1);
      return tf.mean(tf.neg(tf.log(picked))).dataSync()[0]!;
    });
    tf.dispose(tensors);
    model.dispose();
    // when our evaluation runs on the flat weights
    const { loss } = await evaluate(small, weights, data);
    // then both compute the same cross-entropy
    expect(loss).toBeCloseTo(expected, 4);
  });
});

describe("initialWeights", () => {
  it("is the same for a seed and differs between seeds", () => {
    const bytes = (w: Float32Array) => Buffer.from(w.buffer, w.byteOffset, w.byteLength);
    const a = bytes(initialWeights(MNIST_2NN, 7));
    expect(bytes(initialWeights(MNIST_2NN, 7)).equals(a)).toBe(true);
    expect(bytes(initialWeights(MNIST_2NN, 8)).equals(a)).toBe(false);
  });

  it("draws kernels within the Glorot-uniform limit, spread over it, and zero biases", () => {
    const layers = unflatten(MNIST_2NN, initialWeights(MNIST_2NN, 1));
    for (const layer of layers) {
      const limit = Math.sqrt(6 / (layer.inputs + layer.outputs));
      const kernel = [...layer.kernel];
      expect(kernel.reduce((m, w) => Math.max(m, Math.abs(w)), 0)).toBeLessThanOrEqual(limit);
      // a uniform on (−limit, limit) has standard deviation limit / √3
      const sd = Math.sqrt(kernel.reduce((s, w) => s + w * w, 0) / kernel.length);
      expect(sd).toBeCloseTo(limit / Math.sqrt(3), 2);
      expect([...layer.bias].every((b) => b === 0)).toBe(true);
    }
  });
});
