// Public face of the federated-learning datasets: MNIST split deterministically, client partitions (IID, label shards), label-flip poisoning, and mesh link-failure examples from the digital twin.
export { MNIST_CLASSES, MNIST_PIXELS, mnistAll, mnistSplit } from "./mnist.ts";
export type { MnistSplitOptions } from "./mnist.ts";
export { concat, flipLabels, labelCounts, partitionIid, partitionShards, permutation, subset } from "./partition.ts";
export type { LabelFlipOptions } from "./partition.ts";
export { LINK_FAILS, meshFeatureNames, meshLinkFailureDataset } from "./mesh-link-failure.ts";
export type { MeshLinkFailureDataset, MeshLinkFailureOptions } from "./mesh-link-failure.ts";
