/**
 * The centralized baseline for the federated MNIST experiments: McMahan et al.'s 2NN trained by
 * plain minibatch SGD on the whole training split that the clients share out, evaluated on the
 * same test split. Federated accuracy is read against this number.
 *
 *   node adapters/cli/run-ts.js test/experiments/fl-centralized.ts [--epochs 20] [--lr 0.1]
 *       [--batch 10] [--seed 1] [--train 8000] [--test 2000] [--speed]
 *
 * --speed first times one client's local training (80 and 600 examples, E = 1, B = 10) with
 * trainLocal and, for comparison, with tf.layers' model.fit on the same backend.
 * Last line: centralized_accuracy=<test accuracy> epochs=<n>.
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { mnistSplit, subset } from "../../adapters/fl/datasets/index.ts";
import { evaluate, initialWeights, initTraining, MNIST_2NN, trainLocal, unflatten, type Dataset } from "../../adapters/fl/training/index.ts";

const { values } = parseArgs({
  options: {
    epochs: { type: "string", default: "20" },
    lr: { type: "string", default: "0.1" },
    batch: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    train: { type: "string", default: "8000" },
    test: { type: "string", default: "2000" },
    speed: { type: "boolean", default: false },
  },
});
const epochs = Number(values.epochs);
const learningRate = Number(values.lr);
const batchSize = Number(values.batch);
const seed = Number(values.seed);

const backend = await initTraining();
const { train, test } = mnistSplit({ train: Number(values.train), test: Number(values.test), seed });
console.log(`backend ${backend}; MNIST ${train.labels.length} train / ${test.labels.length} test (seed ${seed}); 2NN, SGD lr ${learningRate}, B ${batchSize}`);

const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1_000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall and CPU milliseconds of `run`, median over `repeats` after one warm-up. */
const timed = async (repeats: number, run: () => Promise<unknown>) => {
  await run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await run();
    wall.push(performance.now() - t);
    cpu.push(cpuMs(c));
  }
  return `${median(wall).toFixed(1)} ms wall, ${median(cpu).toFixed(1)} ms CPU (median of ${repeats})`;
};

if (values.speed) {
  const weights = initialWeights(MNIST_2NN, seed);
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 200, activation: "relu" }),
      tf.layers.dense({ units: 200, activation: "relu" }),
      tf.layers.dense({ units: 10, activation: "softmax" }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(learningRate), loss: "categoricalCrossentropy" });
  const fit = async (data: Dataset) => {
    const tensors = unflatten(MNIST_2NN, weights).flatMap((l) => [tf.tensor2d(l.kernel, [l.inputs, l.outputs]), tf.tensor1d(l.bias)]);
    model.setWeights(tensors);
    tf.dispose(tensors);
    const x = tf.tensor2d(data.inputs, [data.labels.length, 784]);
    const y = tf.oneHot(tf.tensor1d(data.labels, "int32"), 10);
    await model.fit(x, y, { batchSize: 10, epochs: 1, shuffle: true, verbose: 0 });
    tf.dispose([x, y]);
  };
  for (const [n, repeats] of [
    [80, 21],
    [600, 7],
  ] as const) {
    const data = subset(train, Array.from({ length: n }, (_, i) => i));
    const local = () => trainLocal(MNIST_2NN, { weights, data, epochs: 1, batchSize: 10, learningRate, seed });
    console.log(`local training, ${n} examples, E=1, B=10: trainLocal ${await timed(repeats, local)}; model.fit ${await timed(repeats, () => fit(data))}`);
  }
  model.dispose();
}

let weights = initialWeights(MNIST_2NN, seed);
let { accuracy } = await evaluate(MNIST_2NN, weights, test);
console.log(`epoch   0  test_accuracy ${accuracy.toFixed(4)}`);
const started = performance.now();
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t = performance.now();
  const result = await trainLocal(MNIST_2NN, { weights, data: train, epochs: 1, batchSize, learningRate, seed: seed * 1_000 + epoch });
  weights = result.weights;
  const trainMs = performance.now() - t;
  const scored = await evaluate(MNIST_2NN, weights, test);
  accuracy = scored.accuracy;
  console.log(
    `epoch ${String(epoch).padStart(3)}  train_loss ${result.loss.toFixed(4)}  test_accuracy ${scored.accuracy.toFixed(4)}  test_loss ${scored.loss.toFixed(4)}  (${(trainMs / 1_000).toFixed(1)} s)`,
  );
}
console.log(`total ${((performance.now() - started) / 1_000).toFixed(1)} s`);
console.log(`centralized_accuracy=${accuracy.toFixed(4)} epochs=${epochs}`);
