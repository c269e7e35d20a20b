// Public face of federated local training: the MLP, its flat weights, local SGD (FedAvg, FedProx, SCAFFOLD) and evaluation, on tfjs.
export { initTraining } from "./backend.ts";
export type { TrainingBackend } from "./backend.ts";
export {
  checkDataset,
  checkSpec,
  flatten,
  initialWeights,
  layerSizes,
  MNIST_2NN,
  ModelShapeError,
  parameterCount,
  unflatten,
} from "./model.ts";
export type { Dataset, DenseLayer, ModelSpec } from "./model.ts";
export { evaluate, trainLocal } from "./train.ts";
export type { TrainLocalOptions, TrainLocalResult } from "./train.ts";
