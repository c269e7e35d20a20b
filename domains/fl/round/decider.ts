import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { Rng } from "../../kernel/index.ts";
import { contentId } from "../content-id.ts";
import {
  DEFAULT_PHASE_TIMEOUT_MS,
  MAX_CLIENTS_PER_ROUND,
  MAX_LISTED_REJECTIONS,
  MAX_VALIDATORS,
  type AggregateInput,
  type AggregateProposed,
  type CommitTimedOut,
  type FlEvent,
  type GlobalModelCommitted,
  type LocalUpdateSubmitted,
  type Rejection,
  type RoundAbandoned,
  type RoundStarted,
  type StrategyConfigPayload,
} from "../events.ts";
import { selectClients, selectionSize } from "./selection.ts";

/**
 * The coordinator's side of one round as a decider: start it (select clients with the seeded
 * Rng and the fraction C), collect the selected clients' updates until all arrived or the
 * deadline passed, then propose the aggregate for commit, or abandon the round with a reason.
 *
 *   idle --RoundStarted--> collecting --AggregateProposed--> proposed --> committed | timed-out
 *                              \-----------RoundAbandoned------------> abandoned
 *
 * An update is refused, with its reason, when it comes from a client the round did not select,
 * repeats a client's update, arrives after the deadline or after the proposal (stream order),
 * starts from another model than the round's, or carries inline bytes that are not its content
 * id. `evolve` records refused updates (they are listed in the proposal), `decide` refuses them.
 *
 * Aggregation itself is outside: the coordinator fetches the accepted updates, runs the
 * aggregator (`computeAggregate`) and hands the result to `ProposeAggregate`.
 *
 * Pure: times come in commands and events, randomness from the seed.
 */

export type RoundStatus = "idle" | "collecting" | "proposed" | "committed" | "timed-out" | "abandoned";

export const RoundRefusal = Schema.Literals([
  "invalid-round",
  "already-started",
  "not-started",
  "wrong-round",
  "not-selected",
  "duplicate",
  "late",
  "wrong-base",
  "content-mismatch",
  "not-ready",
  "unknown-input",
  "too-few-updates",
  "round-over",
]);
export type RoundRefusal = typeof RoundRefusal.Type;

/** A round command that cannot be carried out in the round's state. */
export class RoundRefusedError extends Schema.TaggedError<RoundRefusedError>()("RoundRefusedError", {
  command: Schema.String,
  reason: RoundRefusal,
  message: Schema.String,
}) {}

export interface RoundState {
  readonly status: RoundStatus;
  readonly started?: RoundStarted;
  /** Accepted updates, first per client, in stream order. */
  readonly accepted: readonly LocalUpdateSubmitted[];
  /** Refused updates, the first MAX_LISTED_REJECTIONS; `refusedCount` has them all. */
  readonly refused: readonly Rejection[];
  readonly refusedCount: number;
  readonly proposal?: AggregateProposed;
  readonly outcome?: GlobalModelCommitted | CommitTimedOut | RoundAbandoned;
}

export interface StartRoundData {
  readonly modelId: string;
  readonly round: number;
  readonly coordinator: string;
  /** The model the round trains from: the chain's head (or the initial model). */
  readonly globalModelCid: string;
  readonly serverStateCid: string;
  readonly strategy: StrategyConfigPayload;
  readonly training?: RoundStarted["training"];
  /** Every client that may be selected. */
  readonly population: readonly string[];
  /** C: the fraction of the population selected, in (0, 1]. */
  readonly fraction: number;
  /** Fewest clients selected. Default 1. */
  readonly minClients?: number;
  /** Fewest accepted updates the round aggregates. Default 1. */
  readonly minUpdates?: number;
  /** Seed of the selection (mixed with the round number). */
  readonly seed: number;
  /** How long updates are accepted, ms. */
  readonly durationMs: number;
  readonly validators: readonly string[];
  readonly f: number;
  /** Each commit phase's timeout, ms. Default 30 000. */
  readonly phaseTimeoutMs?: number;
  readonly at: number;
}

export interface ProposeAggregateData {
  readonly proposer: string;
  readonly modelCid: string;
  readonly byteLength: number;
  readonly serverStateCid: string;
  /** The updates handed to the aggregator: accepted ones (the coordinator may drop one it could not fetch). */
  readonly inputs: readonly AggregateInput[];
  readonly used: readonly string[];
  /** Left out by the coordinator or the aggregator, with reasons (added to the round's own refusals). */
  readonly rejected: readonly Rejection[];
  readonly at: number;
}

export type RoundCommand =
  | { readonly type: "StartRound"; readonly data: StartRoundData }
  | { readonly type: "SubmitUpdate"; readonly data: LocalUpdateSubmitted }
  | { readonly type: "ProposeAggregate"; readonly data: ProposeAggregateData }
  | { readonly type: "AbandonRound"; readonly data: { readonly reason: string; readonly at: number } }
  /** Abandon the round if its deadline passed with fewer accepted updates than it needs. */
  | { readonly type: "CheckDeadline"; readonly data: { readonly now: number } };

export type RoundEvent =
  | { readonly type: "fl.RoundStarted"; readonly data: RoundStarted }
  | { readonly type: "fl.LocalUpdateSubmitted"; readonly data: LocalUpdateSubmitted }
  | { readonly type: "fl.AggregateProposed"; readonly data: AggregateProposed }
  | { readonly type: "fl.RoundAbandoned"; readonly data: RoundAbandoned };

export type RoundDecision = Result.Result<readonly RoundEvent[], RoundRefusedError>;

export const initialState = (): RoundState => ({ status: "idle", accepted: [], refused: [], refusedCount: 0 });

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const ID = /^[A-Za-z0-9_-]{1,64}$/u;

interface Refusal {
  readonly reason: RoundRefusal;
  readonly message: string;
}
const refusal = (reason: RoundRefusal, message: string): Refusal => ({ reason, message });

const roundOver = (s: RoundStatus) => s === "committed" || s === "timed-out" || s === "abandoned";

const judgeRoundOf = (state: RoundState, data: { readonly modelId: string; readonly round: number }): Refusal | undefined => {
  const started = state.started;
  if (!started) return refusal("not-started", `round ${data.round} of ${data.modelId} has not started`);
  if (started.modelId !== data.modelId || started.round !== data.round) {
    return refusal("wrong-round", `this is round ${started.round} of ${started.modelId}, not round ${data.round} of ${data.modelId}`);
  }
  return undefined;
};

/** Why an update is refused, or undefined when the round takes it. */
export const judgeUpdate = (state: RoundState, u: LocalUpdateSubmitted): Refusal | undefined => {
  const wrong = judgeRoundOf(state, u);
  if (wrong) return wrong;
  const started = state.started!;
  if (state.status !== "collecting") return refusal("late", `${u.client}'s update came after the round stopped collecting (${state.status})`);
  if (u.submittedAt > started.deadline) return refusal("late", `${u.client}'s update at ${u.submittedAt} is after the deadline ${started.deadline}`);
  if (!started.selectedClients.includes(u.client)) return refusal("not-selected", `${u.client} was not selected for round ${started.round}`);
  if (state.accepted.some((a) => a.client === u.client)) return refusal("duplicate", `${u.client} already sent its update for round ${started.round}`);
  if (u.baseModelCid !== started.globalModelCid) return refusal("wrong-base", `${u.client} trained from ${u.baseModelCid}, not the round's model ${started.globalModelCid}`);
  if (u.weights !== undefined && contentId(u.weights) !== u.weightsCid) return refusal("content-mismatch", `${u.client}'s inline weights are not ${u.weightsCid}`);
  if (u.controlDelta !== undefined && contentId(u.controlDelta) !== u.controlDeltaCid) {
    return refusal("content-mismatch", `${u.client}'s inline control delta is not ${u.controlDeltaCid}`);
  }
  return undefined;
};

/** Whether the round should aggregate now: collecting, enough updates, and all selected clients answered or the deadline passed. */
export const readyToAggregate = (state: RoundState, now: number): boolean => {
  const started = state.started;
  if (state.status !== "collecting" || !started) return false;
  if (state.accepted.length < started.minUpdates) return false;
  return now > started.deadline || state.accepted.length === started.selectedClients.length;
};

const sameInput = (u: LocalUpdateSubmitted, i: AggregateInput) =>
  u.client === i.client && u.weightsCid === i.weightsCid && u.examples === i.examples && u.controlDeltaCid === i.controlDeltaCid;

/**
 * Why a proposal's inputs are not updates this round accepted (a validator asks before it
 * recomputes; a coordinator cannot aggregate what clients did not send), or undefined.
 */
export const inputsRefusal = (state: RoundState, inputs: readonly AggregateInput[], used: readonly string[]): string | undefined => {
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.client)) return `${input.client} is an input twice`;
    seen.add(input.client);
    const update = state.accepted.find((u) => u.client === input.client);
    if (!update) return `${input.client} sent no accepted update in round ${state.started?.round}`;
    if (!sameInput(update, input)) return `${input.client}'s input does not match its signed update (${update.weightsCid}, ${update.examples} examples)`;
  }
  const unknown = used.find((c) => !seen.has(c));
  return unknown === undefined ? undefined : `${unknown} is used but is not an input`;
};

const startRefusal = (d: StartRoundData): Refusal | undefined => {
  const invalid = (message: string) => refusal("invalid-round", message);
  if (!Number.isInteger(d.round) || d.round < 1) return invalid(`round must be an integer >= 1, got ${d.round}`);
  if (d.population.length === 0) return invalid("no clients to select from");
  if (new Set(d.population).size !== d.population.length) return invalid("a client is listed twice in the population");
  const badId = [...d.population, ...d.validators].find((id) => !ID.test(id));
  if (badId !== undefined) return invalid(`"${badId}" is not a producer id`);
  if (!(d.fraction > 0 && d.fraction <= 1)) return invalid(`fraction C must be in (0, 1], got ${d.fraction}`);
  if (!(d.durationMs > 0)) return invalid(`duration must be positive, got ${d.durationMs}`);
  if (!Number.isInteger(d.f) || d.f < 0) return invalid(`f must be a non-negative integer, got ${d.f}`);
  if (d.validators.length < 3 * d.f + 1) return invalid(`${d.validators.length} validators cannot tolerate f = ${d.f} (n >= 3f + 1 = ${3 * d.f + 1})`);
  if (d.validators.length > MAX_VALIDATORS || new Set(d.validators).size !== d.validators.length) return invalid("validators must be distinct, at most 256");
  const count = selectionSize(d.population.length, d.fraction, d.minClients ?? 1);
  if (count > MAX_CLIENTS_PER_ROUND) return invalid(`a round selects at most ${MAX_CLIENTS_PER_ROUND} clients; C = ${d.fraction} of ${d.population.length} selects ${count}`);
  if ((d.minUpdates ?? 1) > count) return invalid(`minUpdates ${d.minUpdates} exceeds the ${count} clients selected`);
  return undefined;
};

const fail = (command: string, r: Refusal): RoundDecision => Result.fail(new RoundRefusedError({ command, reason: r.reason, message: r.message }));
const ok = (...events: RoundEvent[]): RoundDecision => Result.succeed(events);

export const decide = (command: RoundCommand, state: RoundState): RoundDecision => {
  switch (command.type) {
    case "StartRound": {
      const d = command.data;
      if (state.status !== "idle") return fail(command.type, refusal("already-started", `round ${state.started?.round} of ${state.started?.modelId} already started`));
      const invalid = startRefusal(d);
      if (invalid) return fail(command.type, invalid);
      const count = selectionSize(d.population.length, d.fraction, d.minClients ?? 1);
      return ok({
        type: "fl.RoundStarted",
        data: {
          modelId: d.modelId,
          round: d.round,
          coordinator: d.coordinator,
          globalModelCid: d.globalModelCid,
          serverStateCid: d.serverStateCid,
          strategy: d.strategy,
          ...(d.training !== undefined ? { training: d.training } : {}),
          selectedClients: selectClients(d.population, count, new Rng(d.seed, d.round)),
          population: d.population.length,
          minUpdates: d.minUpdates ?? 1,
          deadline: d.at + d.durationMs,
          validators: [...d.validators].sort(byId),
          f: d.f,
          phaseTimeoutMs: d.phaseTimeoutMs ?? DEFAULT_PHASE_TIMEOUT_MS,
          startedAt: d.at,
        },
      });
    }
    case "SubmitUpdate": {
      const judged = judgeUpdate(state, command.data);
      return judged ? fail(command.type, judged) : ok({ type: "fl.LocalUpdateSubmitted", data: command.data });
    }
    case "ProposeAggregate": {
      const d = command.data;
      const started = state.started;
      if (!started) return fail(command.type, refusal("not-started", "no round to propose for"));
      if (state.status !== "collecting") return fail(command.type, refusal("round-over", `round ${started.round} is ${state.status}`));
      if (d.at <= started.deadline && state.accepted.length < started.selectedClients.length) {
        return fail(command.type, refusal("not-ready", `${state.accepted.length} of ${started.selectedClients.length} selected clients answered and the deadline has not passed`));
      }
      if (d.inputs.length < started.minUpdates) {
        return fail(command.type, refusal("too-few-updates", `${d.inputs.length} usable updates, the round needs ${started.minUpdates}`));
      }
      const wrongInputs = inputsRefusal(state, d.inputs, d.used);
      if (wrongInputs) return fail(command.type, refusal("unknown-input", wrongInputs));
      const rejected = [...state.refused, ...d.rejected];
      return ok({
        type: "fl.AggregateProposed",
        data: {
          modelId: started.modelId,
          round: started.round,
          proposer: d.proposer,
          modelCid: d.modelCid,
          byteLength: d.byteLength,
          serverStateCid: d.serverStateCid,
          previousModelCid: started.globalModelCid,
          inputs: [...d.inputs].sort((a, b) => byId(a.client, b.client)),
          used: [...d.used].sort(byId),
          rejected: rejected.slice(0, MAX_LISTED_REJECTIONS).map((r) => ({ client: r.client, reason: r.reason.slice(0, 256) })),
          rejectedCount: state.refusedCount + d.rejected.length,
          proposedAt: d.at,
        },
      });
    }
    case "AbandonRound": {
      const started = state.started;
      if (!started) return fail(command.type, refusal("not-started", "no round to abandon"));
      if (state.status !== "collecting") return fail(command.type, refusal("round-over", `round ${started.round} is ${state.status}; only a collecting round is abandoned`));
      return ok(abandoned(state, command.data.reason, command.data.at));
    }
    case "CheckDeadline": {
      const started = state.started;
      if (!started || state.status !== "collecting" || command.data.now <= started.deadline) return ok();
      if (state.accepted.length >= started.minUpdates) return ok();
      return ok(
        abandoned(
          state,
          `too few updates by the deadline: ${state.accepted.length} of ${started.selectedClients.length} selected clients sent an accepted update, ` +
            `${started.minUpdates} needed` +
            (state.refusedCount > 0 ? `; refused: ${state.refused.slice(0, 8).map((r) => `${r.client} (${r.reason})`).join(", ")}` : ""),
          command.data.now,
        ),
      );
    }
  }
};

const abandoned = (state: RoundState, reason: string, at: number): RoundEvent => ({
  type: "fl.RoundAbandoned",
  data: {
    modelId: state.started!.modelId,
    round: state.started!.round,
    reason: reason.length > 1024 ? `${reason.slice(0, 1023)}…` : reason,
    updatesAccepted: state.accepted.length,
    abandonedAt: at,
  },
});

/**
 * Folds one FL event of this round (events of other rounds and commit votes are passed over).
 * Outcome events are taken as given: feed it only the outcome the commit decider took (the
 * first justified one), not every event on the outcome subject.
 */
export const evolve = (state: RoundState, event: FlEvent): RoundState => {
  switch (event.type) {
    case "fl.RoundStarted":
      return state.status === "idle" ? { ...state, status: "collecting", started: event.data } : state;
    case "fl.LocalUpdateSubmitted": {
      if (judgeRoundOf(state, event.data)) return state;
      const judged = judgeUpdate(state, event.data);
      if (!judged) return { ...state, accepted: [...state.accepted, event.data] };
      return {
        ...state,
        refused: state.refused.length < MAX_LISTED_REJECTIONS ? [...state.refused, { client: event.data.client, reason: judged.message.slice(0, 256) }] : state.refused,
        refusedCount: state.refusedCount + 1,
      };
    }
    case "fl.AggregateProposed":
      return state.status === "collecting" && !judgeRoundOf(state, event.data) ? { ...state, status: "proposed", proposal: event.data } : state;
    case "fl.RoundAbandoned":
      return state.status === "collecting" && !judgeRoundOf(state, event.data) ? { ...state, status: "abandoned", outcome: event.data } : state;
    case "fl.GlobalModelCommitted":
      return state.status === "proposed" && !judgeRoundOf(state, event.data) ? { ...state, status: "committed", outcome: event.data } : state;
    case "fl.CommitTimedOut":
      return !roundOver(state.status) && !judgeRoundOf(state, event.data) ? { ...state, status: "timed-out", outcome: event.data } : state;
    default:
      return state;
  }
};

export const fold = (state: RoundState, events: readonly FlEvent[]): RoundState => events.reduce(evolve, state);
