import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../domains/kernel/rng.ts";
import { initTraining } from "./backend.ts";
import { checkDataset, flatten, ModelShapeError, unflatten, type Dataset, type ModelSpec } from "./model.ts";

export interface TrainLocalOptions {
  /** The model to start from (the round's global model); with `proximalMu` also the proximal anchor. */
  readonly weights: Float32Array;
  readonly data: Dataset;
  /** Passes over the data (E), a non-negative integer. */
  readonly epochs: number;
  /** Examples per SGD step (B); the last step of an epoch takes what is left. */
  readonly batchSize: number;
  readonly learningRate: number;
  /** Seeds the shuffling: the same inputs and seed give the same weights. */
  readonly seed: number;
  /** FedProx: adds (mu/2)·‖w − weights‖² to the loss. Default 0 (plain SGD, FedAvg). */
  readonly proximalMu?: number;
  /** SCAFFOLD (option II): the server's control c and this client's c_i, each as long as the model. */
  readonly scaffold?: { readonly serverControl: Float32Array; readonly clientControl: Float32Array };
}

export interface TrainLocalResult {
  readonly weights: Float32Array;
  /** Examples trained on (the aggregation weight). */
  readonly examples: number;
  /** Mean cross-entropy over the minibatches of the last epoch, before each step (0 with no data or no epochs). */
  readonly loss: number;
  /** SCAFFOLD: the new client control c_i+ (with no steps taken, c_i unchanged). */
  readonly clientControl?: Float32Array;
}

/**
 * Parameters held in tfjs in transposed form: kernels out × in, biases out × 1, activations
 * features × batch. The wasm backend packs a matrix product's right operand before every
 * product (and is slow with transposeA/B); with the weights on the left only the small batch is
 * packed: a step of the 2NN at B = 10 took half the CPU time of the batch × weights layout when
 * this was written (`fl-centralized.ts --speed` compares the result with model.fit).
 */
interface TransposedLayer {
  readonly kernel: tf.Tensor2D;
  readonly bias: tf.Tensor2D;
}

const toTransposed = (spec: ModelSpec, flat: Float32Array): TransposedLayer[] =>
  tf.tidy(() =>
    unflatten(spec, flat).map((layer) => ({
      kernel: tf.transpose(tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs])),
      bias: tf.tensor2d(layer.bias, [layer.outputs, 1]),
    })),
  );

const fromTransposed = (layers: readonly TransposedLayer[]): Float32Array =>
  flatten(
    layers.map((layer) => {
      // Not through tf.tidy: it would walk a returned typed array element by element looking for tensors.
      const kernel = tf.transpose(layer.kernel);
      try {
        return { kernel: kernel.dataSync() as Float32Array, bias: layer.bias.dataSync() as Float32Array };
      } finally {
        kernel.dispose();
      }
    }),
  );

const disposeLayers = (layers: readonly TransposedLayer[] | undefined) => {
  for (const layer of layers ?? []) tf.dispose([layer.kernel, layer.bias]);
};

const activate = (spec: ModelSpec, z: tf.Tensor2D): tf.Tensor2D => (spec.activation === "tanh" ? tf.tanh(z) : tf.relu(z));

/** The activation's derivative expressed through its output a: relu → [a > 0], tanh → 1 − a². */
const activationSlope = (spec: ModelSpec, a: tf.Tensor2D): tf.Tensor2D =>
  spec.activation === "tanh" ? tf.sub<tf.Tensor2D>(1, tf.square(a)) : tf.step(a);

/** Forward pass; returns every layer's output (index 0 is the input), the last being the logits. */
const forward = (spec: ModelSpec, layers: readonly TransposedLayer[], inputT: tf.Tensor2D): tf.Tensor2D[] => {
  const outputs = [inputT];
  layers.forEach((layer, l) => {
    const z = tf.add<tf.Tensor2D>(tf.matMul(layer.kernel, outputs[l]!), layer.bias);
    outputs.push(l + 1 < layers.length ? activate(spec, z) : z);
  });
  return outputs;
};

/** Copies the chosen rows into a batch: inputs rows × inputSize, one-hot targets rows × classes. */
const gatherBatch = (data: Dataset, order: Int32Array, start: number, rows: number) => {
  const width = data.inputSize;
  const inputs = new Float32Array(rows * width);
  const targets = new Float32Array(rows * data.classes);
  for (let r = 0; r < rows; r++) {
    const example = order[start + r]!;
    inputs.set(data.inputs.subarray(example * width, (example + 1) * width), r * width);
    targets[r * data.classes + data.labels[example]!] = 1;
  }
  return { inputs, targets };
};

/** Stream tag for minibatch shuffling ("shuf"). */
const SHUFFLE_STREAM = 0x73687566;

const checkOptions = (spec: ModelSpec, options: TrainLocalOptions, parameters: number) => {
  const { epochs, batchSize, learningRate } = options;
  if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`epochs must be a non-negative integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!(learningRate > 0 && Number.isFinite(learningRate))) throw new RangeError(`learningRate must be positive, got ${learningRate}`);
  const mu = options.proximalMu ?? 0;
  if (!(mu >= 0 && Number.isFinite(mu))) throw new RangeError(`proximalMu must be non-negative, got ${mu}`);
  checkDataset(spec, options.data);
  if (options.scaffold) {
    const { serverControl, clientControl } = options.scaffold;
    if (serverControl.length !== parameters || clientControl.length !== parameters) {
      throw new ModelShapeError(`SCAFFOLD controls must have ${parameters} entries, got ${serverControl.length} and ${clientControl.length}`);
    }
  }
};

/**
 * Local training of one client: minibatch SGD on its data for `epochs` passes, optionally with
 * FedProx's proximal term (gradient + mu·(w − w_global)) or SCAFFOLD's drift correction
 * (gradient − c_i + c, Karimireddy et al. 2020). Backpropagation is written out rather than
 * left to tfjs's autodiff (tf.variableGrads took about 3× the CPU time per step, model.fit
 * more), and the FedProx and SCAFFOLD terms are one more addend in the update. Deterministic for a given seed on one backend.
 * Runs on the calling thread, yielding to the event loop between epochs.
 */
export const trainLocal = async (spec: ModelSpec, options: TrainLocalOptions): Promise<TrainLocalResult> => {
  await initTraining();
  const parameters = unflatten(spec, options.weights).reduce((sum, l) => sum + l.kernel.length + l.bias.length, 0);
  checkOptions(spec, options, parameters);
  const { data, epochs, batchSize, learningRate, scaffold } = options;
  const mu = options.proximalMu ?? 0;
  const n = data.labels.length;

  if (n === 0 || epochs === 0) {
    return {
      weights: options.weights.slice(),
      examples: n,
      loss: 0,
      ...(scaffold ? { clientControl: scaffold.clientControl.slice() } : {}),
    };
  }

  const start = toTransposed(spec, options.weights);
  let layers: TransposedLayer[] = start;
  let correction: TransposedLayer[] | undefined;
  let lastEpochLoss = 0;
  let steps = 0;
  try {
    if (scaffold) {
      const c = new Float32Array(parameters);
      // Scaled by the learning rate once here, so a step adds it without another multiplication.
      for (let i = 0; i < parameters; i++) c[i] = learningRate * (scaffold.serverControl[i]! - scaffold.clientControl[i]!);
      correction = toTransposed(spec, c);
    }
    const rng = new Rng(options.seed, SHUFFLE_STREAM);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      let lossSum = tf.scalar(0);
      let batches = 0;
      for (let first = 0; first < n; first += batchSize) {
        const rows = Math.min(batchSize, n - first);
        const batch = gatherBatch(data, order, first, rows);
        const current = layers;
        const [next, sum] = tf.tidy(() => {
          const input = tf.tensor2d(batch.inputs, [rows, data.inputSize]);
          const target = tf.tensor2d(batch.targets, [rows, data.classes]);
          const outputs = forward(spec, current, tf.transpose(input));
          const logProbabilities = tf.logSoftmax(tf.transpose(outputs[outputs.length - 1]!));
          const batchLoss = tf.div(tf.neg(tf.sum(tf.mul(target, logProbabilities))), rows);
          // lr · d(mean cross-entropy)/d(logits) = lr · (softmax − one-hot) / rows, features × batch: scaling
          // by the learning rate at the top makes every gradient below a ready-made step.
          let delta: tf.Tensor2D = tf.transpose(tf.mul(tf.sub(tf.exp(logProbabilities), target), learningRate / rows));
          const updated: TransposedLayer[] = new Array(current.length);
          for (let l = current.length - 1; l >= 0; l--) {
            const layer = current[l]!;
            // The first layer's input, transposed back, is the batch itself.
            const kernelStep = tf.matMul(delta, l === 0 ? input : tf.transpose(outputs[l]!));
            const biasStep = tf.sum(delta, 1, true);
            if (l > 0) delta = tf.mul(tf.matMul(tf.transpose(layer.kernel), delta), activationSlope(spec, outputs[l]!));
            updated[l] = {
              kernel: step(layer.kernel, kernelStep, learningRate * mu, start[l]!.kernel, correction?.[l]!.kernel),
              bias: step(layer.bias, biasStep, learningRate * mu, start[l]!.bias, correction?.[l]!.bias),
            };
          }
          return [updated, tf.add(lossSum, batchLoss)] as const;
        });
        if (current !== start) disposeLayers(current);
        layers = next;
        lossSum.dispose();
        lossSum = sum;
        batches++;
        steps++;
      }
      lastEpochLoss = lossSum.dataSync()[0]! / batches;
      lossSum.dispose();
      // Let timers and sockets run between epochs; no tensor scope spans this wait.
      if (epoch + 1 < epochs) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const weights = fromTransposed(layers);
    const result: TrainLocalResult = { weights, examples: n, loss: lastEpochLoss };
    if (!scaffold) return result;
    // Option II: c_i+ = c_i − c + (x − y_i) / (K · lr), x the starting (global) model, y_i the trained one.
    const control = new Float32Array(parameters);
    const scale = 1 / (steps * learningRate);
    for (let i = 0; i < parameters; i++) {
      control[i] = scaffold.clientControl[i]! - scaffold.serverControl[i]! + (options.weights[i]! - weights[i]!) * scale;
    }
    return { ...result, clientControl: control };
  } finally {
    if (layers !== start) disposeLayers(layers);
    disposeLayers(start);
    disposeLayers(correction);
  }
};

/**
 * w − lr·(g + mu·(w − w_global) + (c − c_i)), from the gradient step lr·g, lr·mu and lr·(c − c_i)
 * already scaled; leaves out the terms not in use.
 */
const step = (w: tf.Tensor2D, gradientStep: tf.Tensor, lrMu: number, anchor: tf.Tensor2D, correction: tf.Tensor2D | undefined): tf.Tensor2D => {
  let move = gradientStep;
  if (lrMu > 0) move = tf.add(move, tf.mul(tf.sub(w, anchor), lrMu));
  if (correction) move = tf.add(move, correction);
  return tf.sub<tf.Tensor2D>(w, move);
};

/** Rows evaluated per forward pass: bounds memory on big test sets. */
const EVALUATION_CHUNK = 1_000;

/** Accuracy (fraction of examples whose most likely class is the label) and mean cross-entropy on `data`. */
export const evaluate = async (spec: ModelSpec, weights: Float32Array, data: Dataset): Promise<{ accuracy: number; loss: number }> => {
  await initTraining();
  checkDataset(spec, data);
  const n = data.labels.length;
  if (n === 0) throw new ModelShapeError("cannot evaluate on an empty dataset");
  const layers = toTransposed(spec, weights);
  let correct = 0;
  let lossSum = 0;
  try {
    const all = Int32Array.from({ length: n }, (_, i) => i);
    for (let first = 0; first < n; first += EVALUATION_CHUNK) {
      const rows = Math.min(EVALUATION_CHUNK, n - first);
      const batch = gatherBatch(data, all, first, rows);
      const [hits, loss] = tf.tidy(() => {
        const input = tf.tensor2d(batch.inputs, [rows, data.inputSize]);
        const target = tf.tensor2d(batch.targets, [rows, data.classes]);
        const outputs = forward(spec, layers, tf.transpose(input));
        const logProbabilities = tf.logSoftmax(tf.transpose(outputs[outputs.length - 1]!));
        const predicted = tf.argMax(logProbabilities, 1);
        const hit = tf.sum(tf.cast(tf.equal(predicted, tf.argMax(target, 1)), "float32"));
        return [hit.dataSync()[0]!, tf.neg(tf.sum(tf.mul(target, logProbabilities))).dataSync()[0]!];
      });
      correct += hits;
      lossSum += loss;
    }
  } finally {
    disposeLayers(layers);
  }
  return { accuracy: correct / n, loss: lossSum / n };
};
