import { aggregateRound, type ClientUpdate, type ServerState, type StrategyConfig } from "../aggregate/index.ts";
import { contentId, modelBytes } from "../content-id.ts";
import type { Rejection, RoundStarted, StrategyConfigPayload } from "../events.ts";
import { encodeServerState } from "./server-state.ts";

/**
 * One round's aggregation as both the coordinator and every validator run it: the round's
 * strategy over the global model, the server state and the updates, and the content ids of the
 * resulting model and state. The aggregator is deterministic whatever the order of the updates
 * (the FL contract), so honest validators get the proposal's content ids bit for bit.
 */

export type ComputedAggregate =
  | {
      readonly ok: true;
      readonly model: Float32Array;
      readonly modelBytes: Uint8Array;
      readonly modelCid: string;
      readonly state: ServerState;
      readonly stateBytes: Uint8Array;
      readonly serverStateCid: string;
      readonly used: readonly string[];
      readonly rejected: readonly Rejection[];
    }
  | { readonly ok: false; readonly reason: string; readonly rejected: readonly Rejection[] };

// Compile-time guard: the strategy the round announces is the aggregator's strategy config.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type StrategySchemaMatchesContract = Assert<Same<StrategyConfigPayload, StrategyConfig>>;

const clip = (r: { readonly client: string; readonly reason: string }): Rejection => ({ client: r.client, reason: r.reason.slice(0, 256) });

export const computeAggregate = (
  started: Pick<RoundStarted, "strategy" | "population">,
  global: Float32Array,
  state: ServerState,
  updates: readonly ClientUpdate[],
): ComputedAggregate => {
  const outcome = aggregateRound(started.strategy, global, updates, state, { totalClients: started.population });
  if (!outcome.ok) return { ok: false, reason: outcome.reason, rejected: outcome.rejected.map(clip) };
  const bytes = modelBytes(outcome.model);
  const stateBytes = encodeServerState(outcome.state);
  return {
    ok: true,
    model: outcome.model,
    modelBytes: bytes,
    modelCid: contentId(bytes),
    state: outcome.state,
    stateBytes,
    serverStateCid: contentId(stateBytes),
    used: outcome.used,
    rejected: outcome.rejected.map(clip),
  };
};
