import { meshLinkFailureDataset, mnistSplit, partitionIid, partitionShards, type MeshLinkFailureOptions } from "../datasets/index.ts";
import { MNIST_2NN, type Dataset, type ModelSpec } from "../training/index.ts";
import type { SimSettings } from "./settings.ts";

/** What a simulation trains: the model, each client's own data (client i = index i), and the test split the global model is scored on. */
export interface Workload {
  readonly name: string;
  readonly spec: ModelSpec;
  readonly clients: readonly Dataset[];
  readonly test: Dataset;
  /** One line for the log: what the data is and how it is split. */
  readonly description: string;
}

export interface MnistWorkloadOptions {
  /** Training examples shared out among the clients. Default 8,000 (of the `mnist` package's 10,000). */
  readonly train?: number;
  /** Test examples, disjoint from training. Default 2,000. */
  readonly test?: number;
  /** Hidden layers. Default [200, 200]: McMahan et al.'s 2NN. */
  readonly hidden?: readonly number[];
}

/**
 * MNIST digits of the `mnist` package, split once by the seed into train and test, the train
 * part shared out IID or in label-sorted shards (McMahan et al. 2017's pathological non-IID).
 */
export const mnistWorkload = (settings: Pick<SimSettings, "clients" | "partition" | "seed">, options: MnistWorkloadOptions = {}): Workload => {
  const { train, test } = mnistSplit({ train: options.train ?? 8_000, test: options.test ?? 2_000, seed: settings.seed });
  const clients =
    settings.partition.kind === "iid"
      ? partitionIid(train, settings.clients, settings.seed)
      : partitionShards(train, settings.clients, settings.partition.shardsPerClient, settings.seed);
  const spec: ModelSpec = options.hidden ? { ...MNIST_2NN, hidden: [...options.hidden] } : MNIST_2NN;
  const split = settings.partition.kind === "iid" ? "IID" : `${settings.partition.shardsPerClient} label-sorted shards per client`;
  return {
    name: "mnist",
    spec,
    clients,
    test,
    description: `MNIST (mnist package): ${train.labels.length} train / ${test.labels.length} test, ${settings.clients} clients, ${split}; MLP ${[spec.inputSize, ...spec.hidden, spec.classes].join("-")}`,
  };
};

export interface MeshWorkloadOptions extends Omit<MeshLinkFailureOptions, "nodes" | "seed"> {
  /** Hidden layers. Default [32]. */
  readonly hidden?: readonly number[];
}

/**
 * Link-failure prediction on digital-twin telemetry: a mesh of `clients` nodes, each node a
 * client holding the examples of the links it reports (naturally non-IID); the test split is a
 * later period of every node. Nodes that report no link are left out, so the workload may have
 * fewer clients than nodes.
 */
export const meshWorkload = (settings: Pick<SimSettings, "clients" | "seed">, options: MeshWorkloadOptions = {}): Workload => {
  const { hidden, ...dataOptions } = options;
  const data = meshLinkFailureDataset({ ...dataOptions, nodes: settings.clients, seed: settings.seed });
  const clients = [...data.perNode.values()];
  const spec: ModelSpec = { inputSize: data.featureNames.length, hidden: [...(hidden ?? [32])], classes: 2 };
  const examples = clients.reduce((sum, d) => sum + d.labels.length, 0);
  return {
    name: "mesh",
    spec,
    clients,
    test: data.test,
    description: `mesh link failures (digital twin, ${settings.clients} nodes): ${clients.length} clients with ${examples} examples, ${data.test.labels.length} test; MLP ${[spec.inputSize, ...spec.hidden, spec.classes].join("-")}`,
  };
};
