import { unflatten, type Dataset, type ModelSpec } from "../training/index.ts";

/**
 * The class each example is given by the MLP (argmax of the logits), computed in plain
 * JavaScript: the training module scores accuracy and loss only, and a per-example answer is
 * what precision and recall need. Meant for small models (the mesh one); float64 arithmetic.
 */
export const predictClasses = (spec: ModelSpec, weights: Float32Array, data: Dataset): Int32Array => {
  const layers = unflatten(spec, weights);
  const n = data.labels.length;
  const out = new Int32Array(n);
  const input = new Float64Array(spec.inputSize);
  for (let e = 0; e < n; e++) {
    for (let i = 0; i < spec.inputSize; i++) input[i] = data.inputs[e * spec.inputSize + i]!;
    let activation: Float64Array = input;
    layers.forEach((layer, l) => {
      const next = new Float64Array(layer.outputs);
      for (let o = 0; o < layer.outputs; o++) next[o] = layer.bias[o]!;
      for (let i = 0; i < layer.inputs; i++) {
        const a = activation[i]!;
        if (a === 0) continue;
        const row = i * layer.outputs;
        for (let o = 0; o < layer.outputs; o++) next[o] = next[o]! + a * layer.kernel[row + o]!;
      }
      if (l + 1 < layers.length) for (let o = 0; o < next.length; o++) next[o] = spec.activation === "tanh" ? Math.tanh(next[o]!) : Math.max(0, next[o]!);
      activation = next;
    });
    let best = 0;
    for (let c = 1; c < activation.length; c++) if (activation[c]! > activation[best]!) best = c;
    out[e] = best;
  }
  return out;
};

export interface BinaryMetrics {
  readonly accuracy: number;
  /** Of the examples predicted positive, the fraction that are (NaN when none is predicted positive). */
  readonly precision: number;
  /** Of the positive examples, the fraction predicted positive (NaN when there are none). */
  readonly recall: number;
  readonly f1: number;
  /** Fraction of positive labels: the accuracy of always answering negative is 1 − this. */
  readonly positiveRate: number;
}

/** Accuracy, precision, recall and F1 of predictions against labels, `positive` being the class of interest. */
export const binaryMetrics = (predicted: Int32Array, labels: Int32Array, positive = 1): BinaryMetrics => {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let correct = 0;
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predicted[i] === positive;
    const y = labels[i] === positive;
    if (y) positives++;
    if (predicted[i] === labels[i]) correct++;
    if (p && y) tp++;
    else if (p) fp++;
    else if (y) fn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : Number.NaN;
  const recall = tp + fn > 0 ? tp / (tp + fn) : Number.NaN;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : Number.NaN;
  return { accuracy: correct / labels.length, precision, recall, f1, positiveRate: positives / labels.length };
};
