import { Rng } from "../../../domains/kernel/rng.ts";

/**
 * A multilayer perceptron: `inputSize` → each of `hidden` (with `activation`) → `classes`
 * (softmax). The default is McMahan et al. 2017's "2NN" for MNIST.
 */
export interface ModelSpec {
  readonly inputSize: number;
  readonly hidden: readonly number[];
  readonly classes: number;
  /** Default "relu". */
  readonly activation?: "relu" | "tanh";
}

/** n labelled examples: `inputs` is n × inputSize, row-major; `labels` are class indices 0 … classes − 1. */
export interface Dataset {
  readonly inputs: Float32Array;
  readonly labels: Int32Array;
  readonly inputSize: number;
  readonly classes: number;
}

/** McMahan et al. 2017's 2NN: 784 → 200 relu → 200 relu → 10 softmax (199,210 parameters). */
export const MNIST_2NN: ModelSpec = { inputSize: 784, hidden: [200, 200], classes: 10, activation: "relu" };

/** One dense layer's parameters; `kernel` is inputs × outputs row-major (tfjs order), views into the flat model. */
export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
}

/** A spec, model or dataset that cannot be used, saying what is wrong with it. */
export class ModelShapeError extends Error {
  override readonly name = "ModelShapeError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const isPositiveInt = (n: number) => Number.isInteger(n) && n > 0;

/** Throws ModelShapeError unless every size is a positive integer. */
export const checkSpec = (spec: ModelSpec): void => {
  const sizes = [spec.inputSize, ...spec.hidden, spec.classes];
  if (!sizes.every(isPositiveInt)) throw new ModelShapeError(`layer sizes must be positive integers, got ${sizes.join(" → ")}`);
  if (spec.classes < 2) throw new ModelShapeError(`a classifier needs at least 2 classes, got ${spec.classes}`);
};

/** Layer widths from input to output, e.g. [784, 200, 200, 10]. */
export const layerSizes = (spec: ModelSpec): number[] => [spec.inputSize, ...spec.hidden, spec.classes];

/** Number of parameters: Σ (inputs · outputs + outputs) over the dense layers. */
export const parameterCount = (spec: ModelSpec): number => {
  checkSpec(spec);
  const sizes = layerSizes(spec);
  let count = 0;
  for (let l = 0; l + 1 < sizes.length; l++) count += sizes[l]! * sizes[l + 1]! + sizes[l + 1]!;
  return count;
};

/**
 * Splits a flat model into its layers (views, no copy): layer by layer, kernel then bias, the
 * order tfjs's `getWeights()` uses.
 */
export const unflatten = (spec: ModelSpec, weights: Float32Array): DenseLayer[] => {
  const expected = parameterCount(spec);
  if (weights.length !== expected) throw new ModelShapeError(`the model has ${expected} parameters, got ${weights.length}`);
  const sizes = layerSizes(spec);
  const layers: DenseLayer[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l]!;
    const outputs = sizes[l + 1]!;
    const kernel = weights.subarray(offset, offset + inputs * outputs);
    offset += inputs * outputs;
    const bias = weights.subarray(offset, offset + outputs);
    offset += outputs;
    layers.push({ inputs, outputs, kernel, bias });
  }
  return layers;
};

/** Joins layers back into one flat model (a new array), the inverse of `unflatten`. */
export const flatten = (layers: readonly Pick<DenseLayer, "kernel" | "bias">[]): Float32Array => {
  const total = layers.reduce((sum, l) => sum + l.kernel.length + l.bias.length, 0);
  const flat = new Float32Array(total);
  let offset = 0;
  for (const layer of layers) {
    flat.set(layer.kernel, offset);
    offset += layer.kernel.length;
    flat.set(layer.bias, offset);
    offset += layer.bias.length;
  }
  return flat;
};

/** Stream tag for weight initialisation ("init"), so it never shares draws with shuffling. */
const INIT_STREAM = 0x696e6974;

/**
 * Glorot-uniform kernels (U(−√(6/(in+out)), +√(6/(in+out))), Keras's default) and zero biases,
 * drawn from the project's seeded Rng rather than tfjs's: every actor that knows the seed
 * starts from the same bytes, so round 0's content id is the same everywhere.
 */
export const initialWeights = (spec: ModelSpec, seed: number): Float32Array => {
  const weights = new Float32Array(parameterCount(spec));
  const rng = new Rng(seed, INIT_STREAM);
  for (const layer of unflatten(spec, weights)) {
    const limit = Math.sqrt(6 / (layer.inputs + layer.outputs));
    for (let i = 0; i < layer.kernel.length; i++) layer.kernel[i] = (2 * rng.float() - 1) * limit;
  }
  return weights;
};

/** Throws ModelShapeError unless the dataset fits the spec: sizes agree and every label is a class. */
export const checkDataset = (spec: ModelSpec, data: Dataset): void => {
  if (data.inputSize !== spec.inputSize) throw new ModelShapeError(`the model takes ${spec.inputSize} inputs, the dataset has ${data.inputSize}`);
  if (data.classes !== spec.classes) throw new ModelShapeError(`the model has ${spec.classes} classes, the dataset ${data.classes}`);
  if (data.inputs.length !== data.labels.length * data.inputSize) {
    throw new ModelShapeError(`${data.labels.length} labels need ${data.labels.length * data.inputSize} inputs, got ${data.inputs.length}`);
  }
  for (let i = 0; i < data.labels.length; i++) {
    const label = data.labels[i]!;
    if (!(label >= 0 && label < spec.classes)) throw new ModelShapeError(`label ${label} of example ${i} is not a class 0-${spec.classes - 1}`);
  }
};
