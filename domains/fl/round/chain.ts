import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import type { GlobalModelCommitted } from "../events.ts";

/**
 * The committed models of one model id as a hash chain: each GlobalModelCommitted names, by
 * content id, the model its round started from, which must be the model committed last (or,
 * for the first commit, the initial model: the genesis). Content ids are SHA-256 hashes of the
 * bytes, so the chain fixes every model's bytes back to the genesis.
 */

/** The last link of a chain: the model the next round must start from. */
export interface ModelChainHead {
  readonly modelId: string;
  /** The round that committed it; 0 for the genesis. */
  readonly round: number;
  readonly modelCid: string;
  /** The server state committed with it (absent for the genesis, whose state the first round names). */
  readonly serverStateCid?: string;
}

/** A commit does not extend the chain. */
export class ModelChainBrokenError extends Schema.TaggedError<ModelChainBrokenError>()("ModelChainBrokenError", {
  /** Position of the offending commit in the list checked. */
  index: Schema.Number,
  round: Schema.Number,
  reason: Schema.Literals(["other-model", "round-not-after-head", "previous-mismatch"]),
  message: Schema.String,
}) {}

export const genesisHead = (modelId: string, modelCid: string): ModelChainHead => ({ modelId, round: 0, modelCid });

/** Why `commit` cannot follow `head`, or undefined when it is the next link. */
export const chainLinkRefusal = (head: ModelChainHead, commit: GlobalModelCommitted): { reason: ModelChainBrokenError["reason"]; message: string } | undefined => {
  if (commit.modelId !== head.modelId) return { reason: "other-model", message: `a commit of ${commit.modelId} in the chain of ${head.modelId}` };
  if (commit.round <= head.round) return { reason: "round-not-after-head", message: `round ${commit.round} does not follow round ${head.round}` };
  if (commit.previousModelCid !== head.modelCid) {
    return { reason: "previous-mismatch", message: `round ${commit.round} names ${commit.previousModelCid} as its previous model; the chain's head is ${head.modelCid} (round ${head.round})` };
  }
  return undefined;
};

export const extendChain = (head: ModelChainHead, commit: GlobalModelCommitted): ModelChainHead => ({
  modelId: head.modelId,
  round: commit.round,
  modelCid: commit.modelCid,
  serverStateCid: commit.serverStateCid,
});

/** Checks a list of commits (in stream order) links up from the genesis; returns the head. */
export const verifyModelChain = (genesis: ModelChainHead, commits: readonly GlobalModelCommitted[]): Result.Result<ModelChainHead, ModelChainBrokenError> => {
  let head = genesis;
  for (const [index, commit] of commits.entries()) {
    const broken = chainLinkRefusal(head, commit);
    if (broken) return Result.fail(new ModelChainBrokenError({ index, round: commit.round, ...broken }));
    head = extendChain(head, commit);
  }
  return Result.succeed(head);
};
