import * as tf from "@tensorflow/tfjs";

export type TrainingBackend = "wasm" | "tensorflow" | "cpu";

let ready: Promise<TrainingBackend> | undefined;

/**
 * Picks the fastest tfjs backend available, once: native TensorFlow when `@tensorflow/tfjs-node`
 * is installed (it is optional: its install downloads libtensorflow from outside the registry),
 * else WebAssembly (XNNPACK, SIMD), else the pure-JS cpu backend. Later calls return the same
 * answer without switching again.
 */
export const initTraining = (): Promise<TrainingBackend> => {
  ready ??= choose();
  return ready;
};

const choose = async (): Promise<TrainingBackend> => {
  // A variable specifier keeps the type checker from requiring the optional package.
  const nativePackage = "@tensorflow/tfjs-node";
  try {
    await import(nativePackage);
    if (await tf.setBackend("tensorflow")) return "tensorflow";
  } catch {
    // Not installed (the usual case): fall through to WebAssembly.
  }
  try {
    await import("@tensorflow/tfjs-backend-wasm");
    if (await tf.setBackend("wasm")) {
      await tf.ready();
      return "wasm";
    }
  } catch {
    // The .wasm binary could not be loaded: the pure-JS backend still works, slower.
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return "cpu";
};
