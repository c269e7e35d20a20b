import { Rng } from "../../../domains/kernel/rng.ts";
import type { Dataset } from "../training/index.ts";
import type { Workload } from "./workload.ts";

export interface SyntheticWorkloadOptions {
  readonly clients: number;
  /** Examples per client. Default 40. */
  readonly examplesPerClient?: number;
  /** Test examples. Default 400. */
  readonly test?: number;
  /** Default 8. */
  readonly features?: number;
  /** Default 4. */
  readonly classes?: number;
  /** Hidden layers. Default [16]. */
  readonly hidden?: readonly number[];
  /** Stddev of the class centres around 0 (each example adds unit noise). Default 1.5. */
  readonly separation?: number;
  readonly seed?: number;
}

/** Stream tags ("cent", "exmp"). */
const CENTRE_STREAM = 0x63656e74;
const EXAMPLE_STREAM = 0x65786d70;

/**
 * Gaussian blobs: each class a centre in `features` dimensions, each example its centre plus
 * N(0, 1) noise, labels uniform; every client an IID draw. Small and quick to learn: for smoke
 * runs and tests of the simulation, where MNIST's load and the 2NN's size would dominate.
 */
export const syntheticWorkload = (options: SyntheticWorkloadOptions): Workload => {
  const features = options.features ?? 8;
  const classes = options.classes ?? 4;
  const seed = options.seed ?? 1;
  const separation = options.separation ?? 1.5;
  const centres = new Rng(seed, CENTRE_STREAM);
  const centre = Array.from({ length: classes }, () => Float32Array.from({ length: features }, () => separation * centres.normal()));
  const draw = (n: number, stream: number): Dataset => {
    const rng = new Rng(seed, EXAMPLE_STREAM, stream);
    const inputs = new Float32Array(n * features);
    const labels = new Int32Array(n);
    for (let e = 0; e < n; e++) {
      const label = rng.int(classes);
      labels[e] = label;
      for (let f = 0; f < features; f++) inputs[e * features + f] = centre[label]![f]! + rng.normal();
    }
    return { inputs, labels, inputSize: features, classes };
  };
  const perClient = options.examplesPerClient ?? 40;
  const spec = { inputSize: features, hidden: [...(options.hidden ?? [16])], classes };
  return {
    name: "synthetic",
    spec,
    clients: Array.from({ length: options.clients }, (_, c) => draw(perClient, c + 1)),
    test: draw(options.test ?? 400, 0),
    description: `synthetic Gaussian blobs: ${options.clients} clients × ${perClient} examples, ${options.test ?? 400} test, ${classes} classes; MLP ${[features, ...spec.hidden, classes].join("-")}`,
  };
};
