// Public face of federated-learning aggregation: the FL contract's strategies over Float32Array models. Pure.
export { aggregateRound, initialServerState } from "./aggregate.ts";
export { isStrategyName, needsControlDelta, resolveSettings, strategyConfigProblem, strategyDefaults, strategyNames } from "./strategy.ts";
export type { AggregateOutcome, ClientUpdate, Rejection, ResolvedSettings, ServerState, StrategyConfig, StrategyName } from "./strategy.ts";
export { byClientId, firstNonFinite } from "./validate.ts";
