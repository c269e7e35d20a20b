// Public face of the federated-learning context: FL events and content ids at the top, each capability as a namespace
// (their deciders share names like `decide` and `initialState`). Pure.
export {
  EpochMs,
  ModelId,
  RoundNumber,
  ContentId,
  MAX_CLIENTS_PER_ROUND,
  MAX_VALIDATORS,
  MAX_LISTED_REJECTIONS,
  INLINE_MAX_BYTES,
  DEFAULT_PHASE_TIMEOUT_MS,
  StrategyNameSchema,
  StrategyConfigSchema,
  TrainingSettings,
  RoundStarted,
  LocalUpdateSubmitted,
  AggregateInput,
  Rejection,
  AggregateProposed,
  PrepareVoted,
  CommitVoted,
  GlobalModelCommitted,
  CommitPhase,
  VoteSeen,
  CommitTimedOut,
  RoundAbandoned,
  flEvents,
  flPhaseOf,
  flSubject,
  flModelFilter,
  flSubjectOf,
} from "./events.ts";
export type { StrategyConfigPayload, FlEvent, FlPhase } from "./events.ts";
export { CONTENT_ID_PATTERN, contentId, isContentId, matchesContentId, modelBytes, modelFromBytes } from "./content-id.ts";
export * as commit from "./commit/index.ts";
export * as round from "./round/index.ts";
export * as aggregate from "./aggregate/index.ts";
export * as privacy from "./privacy/index.ts";
export * as secagg from "./secagg/index.ts";
