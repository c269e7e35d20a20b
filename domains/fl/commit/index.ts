// Public face of the FL commit: the Byzantine-tolerant Prepare/Commit/Finalize decider over one round's aggregate. Pure.
export { quorumSize, BftConfigError, CommitRefusal, CommitRefusedError, initialState, decide, evolve, fold, tally } from "./decider.ts";
export type { CommitStatus, RecordedVote, IgnoredEvent, CommitOutcome, CommitState, CommitOptions, CommitEvent, CommitCommand, CommitDecision } from "./decider.ts";
