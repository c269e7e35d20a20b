// Public face of the FL protocol actors: coordinator, clients and validators talking only through JetStream.
export { FlActor } from "./actor.ts";
export type { FlActorOptions } from "./actor.ts";
export { FlModelView } from "./model-view.ts";
export type { RoundView } from "./model-view.ts";
export { FlCoordinator, modelContentId } from "./coordinator.ts";
export type { FlCoordinatorOptions } from "./coordinator.ts";
export { FlValidator } from "./validator.ts";
export type { ByzantineBehaviour, FlValidatorOptions, ValidatorStats } from "./validator.ts";
export { FlClient } from "./client.ts";
export type { ClientStats, FlClientOptions, LocalTrainingResult, TrainFunction } from "./client.ts";
export { fetchModel, fetchServerState, fetchUpdate, fetchUpdates } from "./fetch.ts";
