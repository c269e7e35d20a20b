// Public face of the FL round: the coordinator's round decider, client selection, the model hash chain, server-state bytes. Pure.
export { RoundRefusal, RoundRefusedError, initialState, decide, evolve, fold, judgeUpdate, readyToAggregate, inputsRefusal } from "./decider.ts";
export type { RoundStatus, RoundState, StartRoundData, ProposeAggregateData, RoundCommand, RoundEvent, RoundDecision } from "./decider.ts";
export { selectionSize, selectClients } from "./selection.ts";
export { ModelChainBrokenError, genesisHead, chainLinkRefusal, extendChain, verifyModelChain } from "./chain.ts";
export type { ModelChainHead } from "./chain.ts";
export { encodeServerState, decodeServerState } from "./server-state.ts";
export type { ServerStateBytesInput } from "./server-state.ts";
export { computeAggregate } from "./aggregate-step.ts";
export type { ComputedAggregate } from "./aggregate-step.ts";
