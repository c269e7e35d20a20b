import * as Schema from "effect/Schema";
import { defineEvent, NonNegative, NonNegativeInt, ProducerId } from "../kernel/index.ts";
import { CONTENT_ID_PATTERN } from "./content-id.ts";

/**
 * Events of the FL stream: one federated-learning round of one model, from its start to its
 * end, every event signed by the actor that speaks (the coordinator, a client, a validator).
 *
 * Subjects follow `fl.<modelId>.<round>.<phase>`:
 *
 * | phase      | events                                                        | appended by                 |
 * |------------|---------------------------------------------------------------|-----------------------------|
 * | `started`  | RoundStarted (once: expected subject sequence 0)              | the coordinator             |
 * | `update`   | LocalUpdateSubmitted                                          | each selected client        |
 * | `proposed` | AggregateProposed                                             | the coordinator             |
 * | `prepare`  | PrepareVoted                                                  | each validator              |
 * | `commit`   | CommitVoted                                                   | each validator              |
 * | `outcome`  | GlobalModelCommitted, CommitTimedOut or RoundAbandoned        | whoever sees it first       |
 *
 * The outcome subject holds a round's end: writers append with the subject's last sequence as
 * expected sequence, so racing finalizers store it once, and readers take the first outcome
 * that the votes before it justify (`domains/fl/commit`).
 *
 * Weights never travel in events above 64 KiB: they sit in the JetStream object store under
 * their content id (CIDv1 raw sha2-256, `content-id.ts`); an event names them by that id.
 *
 * Models form a hash chain: each GlobalModelCommitted carries the content id of the model the
 * round started from (the last committed one, or the model the first round started from).
 *
 * Times are epoch milliseconds, passed in: nothing here reads a clock.
 */

const text = (maxLength: number) => Schema.String.pipe(Schema.check(Schema.isMaxLength(maxLength)));

/** Epoch milliseconds. */
export const EpochMs = NonNegativeInt;

/** A model's id: one subject token. */
export const ModelId = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/u, { description: "model id: 1-64 of A-Z a-z 0-9 _ -" })),
);

/** A round number, from 1. */
export const RoundNumber = NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 2 ** 31 - 1 })));

/** A content id of bytes (CIDv1, raw, sha2-256, base32: "bafkrei…"). */
export const ContentId = Schema.String.pipe(
  Schema.check(Schema.isPattern(CONTENT_ID_PATTERN, { description: "CIDv1 raw sha2-256, base32 (bafkrei…)" })),
);

/** Most clients one round selects; a round's events list them (AggregateProposed must fit in 512 KiB). */
export const MAX_CLIENTS_PER_ROUND = 1024;
/** Most validators of one commit. */
export const MAX_VALIDATORS = 256;
/** Most rejections an AggregateProposed lists by name; `rejectedCount` carries the true number. */
export const MAX_LISTED_REJECTIONS = 256;
/** Weights (and a SCAFFOLD control delta) up to this size may travel inline in LocalUpdateSubmitted. */
export const INLINE_MAX_BYTES = 64 * 1024;
/** The commit phases' timeout when the round does not say. */
export const DEFAULT_PHASE_TIMEOUT_MS = 30_000;

const ClientList = Schema.Array(ProducerId).pipe(Schema.check(Schema.isMaxLength(MAX_CLIENTS_PER_ROUND), Schema.isUnique()));
const ValidatorList = Schema.Array(ProducerId).pipe(Schema.check(Schema.isMaxLength(MAX_VALIDATORS), Schema.isUnique()));
const Positive = Schema.Finite.pipe(Schema.check(Schema.isGreaterThan(0)));

/** The aggregation strategies of `domains/fl/aggregate` (the FL contract's `StrategyName`). */
export const StrategyNameSchema = Schema.Literals(["fedavg", "fedprox", "scaffold", "fedadam", "fedyogi", "krum", "multikrum", "median", "trimmedmean", "bulyan"]);

/** The FL contract's `StrategyConfig`, as the round announces it. */
export const StrategyConfigSchema = Schema.Struct({
  name: StrategyNameSchema,
  /** FedProx: proximal term, client side. */
  mu: Schema.optionalKey(NonNegative),
  serverLearningRate: Schema.optionalKey(Positive),
  beta1: Schema.optionalKey(NonNegative),
  beta2: Schema.optionalKey(NonNegative),
  /** FedAdam / FedYogi: adaptivity. */
  tau: Schema.optionalKey(Positive),
  /** Krum, Multi-Krum, Bulyan: Byzantine clients assumed. */
  f: Schema.optionalKey(NonNegativeInt),
  /** Multi-Krum: updates averaged. */
  select: Schema.optionalKey(NonNegativeInt),
  /** Trimmed mean: fraction trimmed at each end. */
  beta: Schema.optionalKey(Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 0.5 })))),
});
export type StrategyConfigPayload = typeof StrategyConfigSchema.Type;

/** What clients train with, when the round says (a client's `train` may use its own). */
export const TrainingSettings = Schema.Struct({
  epochs: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1000 }))),
  batchSize: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  learningRate: Positive,
});

/**
 * The coordinator opened a round: which model it starts from (and the server's aggregation
 * state, e.g. FedAdam moments or SCAFFOLD's control variate), the strategy, the clients it
 * selected, until when it waits for their updates, and who validates the aggregate.
 */
export const RoundStarted = defineEvent(
  "fl.RoundStarted",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    coordinator: ProducerId,
    /** The model clients train from: the last committed model (or the initial one in round 1). */
    globalModelCid: ContentId,
    /** The server state (`ServerState`, encoded by `domains/fl/round/server-state.ts`). */
    serverStateCid: ContentId,
    strategy: StrategyConfigSchema,
    training: Schema.optionalKey(TrainingSettings),
    /** Selected clients, sorted. */
    selectedClients: ClientList.pipe(Schema.check(Schema.isMinLength(1))),
    /** Clients the selection drew from (the aggregator's `totalClients`, SCAFFOLD's N). */
    population: NonNegativeInt.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
    /** Fewest accepted updates the round aggregates; fewer by the deadline abandons it. */
    minUpdates: NonNegativeInt.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
    /** Updates are accepted until then. */
    deadline: EpochMs,
    /** Validators of the commit (sorted), n >= 3f + 1. */
    validators: ValidatorList.pipe(Schema.check(Schema.isMinLength(1))),
    /** Byzantine validators tolerated. */
    f: NonNegativeInt,
    /** Each commit phase's timeout, ms. */
    phaseTimeoutMs: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 3_600_000 }))),
    startedAt: EpochMs,
  }).pipe(
    Schema.check(
      Schema.makeFilter((r: { readonly selectedClients: readonly string[]; readonly population: number; readonly minUpdates: number; readonly validators: readonly string[]; readonly f: number; readonly deadline: number; readonly startedAt: number }) =>
        r.validators.length < 3 * r.f + 1
          ? `${r.validators.length} validators cannot tolerate f = ${r.f} Byzantine ones (n >= 3f + 1)`
          : r.population < r.selectedClients.length
            ? "population is smaller than the selection"
            : r.minUpdates > r.selectedClients.length
              ? "minUpdates exceeds the selected clients"
              : r.deadline < r.startedAt
                ? "deadline before start"
                : true,
      ),
    ),
  ),
  { maxPayloadBytes: 128 * 1024 },
);

const InlineBytes = Schema.Uint8Array.pipe(Schema.check(Schema.isMaxLength(INLINE_MAX_BYTES)));

/**
 * A selected client trained locally and offers its model: the whole model after training (the
 * FL contract's `ClientUpdate.weights`), by content id; the bytes are in the object store, or
 * inline when they are at most 64 KiB. SCAFFOLD clients add their control variate's change.
 */
export const LocalUpdateSubmitted = defineEvent(
  "fl.LocalUpdateSubmitted",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    client: ProducerId,
    /** The global model it trained from: the round's `globalModelCid`. */
    baseModelCid: ContentId,
    /** Training examples used (FedAvg's weight). */
    examples: NonNegativeInt.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))),
    weightsCid: ContentId,
    /** Bytes of the weights (4 per parameter). */
    byteLength: NonNegativeInt,
    weights: Schema.optionalKey(InlineBytes),
    /** SCAFFOLD: c_i+ − c_i, same layout as the weights. */
    controlDeltaCid: Schema.optionalKey(ContentId),
    controlDelta: Schema.optionalKey(InlineBytes),
    /** Training loss on the client's data, for the record. */
    loss: Schema.optionalKey(Schema.Finite),
    submittedAt: EpochMs,
  }).pipe(
    Schema.check(
      Schema.makeFilter((u: { readonly byteLength: number; readonly weights?: Uint8Array; readonly controlDeltaCid?: string; readonly controlDelta?: Uint8Array }) =>
        u.byteLength % 4 !== 0
          ? "byteLength is not a whole number of float32 values"
          : u.weights !== undefined && u.weights.byteLength !== u.byteLength
            ? "inline weights are not byteLength bytes"
            : u.controlDelta !== undefined && u.controlDeltaCid === undefined
              ? "an inline control delta needs its controlDeltaCid"
              : u.controlDelta !== undefined && u.controlDelta.byteLength !== u.byteLength
                ? "the control delta is not the size of the weights"
                : true,
      ),
    ),
  ),
  { maxPayloadBytes: 2 * INLINE_MAX_BYTES + 4096 },
);

/** One update the aggregate was computed from (a validator fetches and checks exactly these). */
export const AggregateInput = Schema.Struct({
  client: ProducerId,
  weightsCid: ContentId,
  examples: NonNegativeInt,
  controlDeltaCid: Schema.optionalKey(ContentId),
});
export type AggregateInput = typeof AggregateInput.Type;

/** An update left out of the aggregate, and why. */
export const Rejection = Schema.Struct({ client: ProducerId, reason: text(256) });
export type Rejection = typeof Rejection.Type;

/**
 * The coordinator aggregated the round's updates and proposes the result for commit: the new
 * model and server state by content id, the updates it used, those it left out and why.
 */
export const AggregateProposed = defineEvent(
  "fl.AggregateProposed",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    proposer: ProducerId,
    modelCid: ContentId,
    byteLength: NonNegativeInt,
    serverStateCid: ContentId,
    /** The model the round started from: the link of the hash chain. */
    previousModelCid: ContentId,
    /** The updates handed to the aggregator, sorted by client. */
    inputs: Schema.Array(AggregateInput).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_CLIENTS_PER_ROUND))),
    /** The clients the aggregator kept (a robust rule drops some inputs). */
    used: ClientList,
    /** Updates refused by the round (late, duplicate, not selected …) or the aggregator, first MAX_LISTED_REJECTIONS. */
    rejected: Schema.Array(Rejection).pipe(Schema.check(Schema.isMaxLength(MAX_LISTED_REJECTIONS))),
    rejectedCount: NonNegativeInt,
    proposedAt: EpochMs,
  }),
  { maxPayloadBytes: 400 * 1024 },
);

const voteFields = {
  modelId: ModelId,
  round: RoundNumber,
  validator: ProducerId,
  /**
   * The model the validator stands behind: the one it computed itself. Absent: a nil vote (it
   * could not check the proposal, e.g. an update's bytes do not match their content id).
   */
  modelCid: Schema.optionalKey(ContentId),
  /** Why it dissents (a nil vote or another content id than the proposal's). */
  reason: Schema.optionalKey(text(512)),
  votedAt: EpochMs,
};

/**
 * A validator recomputed the aggregate from the proposal's inputs and says which model it got
 * (first phase of the commit). Only a vote for the proposal's content id counts towards it.
 */
export const PrepareVoted = defineEvent("fl.PrepareVoted", Schema.Struct(voteFields), { maxPayloadBytes: 2048 });

/** A validator saw a quorum of prepares for the model it prepared and commits to it (second phase). */
export const CommitVoted = defineEvent("fl.CommitVoted", Schema.Struct(voteFields), { maxPayloadBytes: 2048 });

/**
 * A quorum of validators committed the proposed model: it is the new global model. It names the
 * model the round started from, so committed models form a hash chain.
 */
export const GlobalModelCommitted = defineEvent(
  "fl.GlobalModelCommitted",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    modelCid: ContentId,
    byteLength: NonNegativeInt,
    serverStateCid: ContentId,
    /** The previous model of the chain (the one this round started from). */
    previousModelCid: ContentId,
    /** The validators whose commits made the quorum, sorted. */
    validators: ValidatorList,
    quorum: NonNegativeInt,
    committedAt: EpochMs,
  }).pipe(
    Schema.check(
      Schema.makeFilter((c: { readonly validators: readonly string[]; readonly quorum: number }) =>
        c.validators.length >= c.quorum ? true : "fewer committing validators than the quorum",
      ),
    ),
  ),
  { maxPayloadBytes: 32 * 1024 },
);

/** The commit phases: waiting for the proposal, then prepare, then commit. */
export const CommitPhase = Schema.Literals(["propose", "prepare", "commit"]);
export type CommitPhase = typeof CommitPhase.Type;

/** One validator's vote as a timeout reports it; `modelCid` absent = nil vote. */
export const VoteSeen = Schema.Struct({ validator: ProducerId, modelCid: Schema.optionalKey(ContentId), reason: Schema.optionalKey(text(512)) });
export type VoteSeen = typeof VoteSeen.Type;

/**
 * A commit phase ended without a quorum by its deadline: the round ends without a new model.
 * Says which votes came, how many were needed, who stayed silent, in words an operator reads.
 */
export const CommitTimedOut = defineEvent(
  "fl.CommitTimedOut",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    phase: CommitPhase,
    /** The proposal's model, when there was one. */
    modelCid: Schema.optionalKey(ContentId),
    /** The votes of that phase that counted (in time, first per validator). */
    votes: Schema.Array(VoteSeen).pipe(Schema.check(Schema.isMaxLength(MAX_VALIDATORS))),
    /** Votes for the proposal needed. */
    quorum: NonNegativeInt,
    /** Validators (or, in phase propose, the coordinator) that did not answer, sorted. */
    missing: ValidatorList,
    deadline: EpochMs,
    timedOutAt: EpochMs,
    reason: text(2048),
  }),
  // 256 votes with their 512-character reasons: ~190 KB at worst.
  { maxPayloadBytes: 224 * 1024 },
);

/** The round ended before any commit: too few updates by the deadline, or the aggregator refused them. */
export const RoundAbandoned = defineEvent(
  "fl.RoundAbandoned",
  Schema.Struct({
    modelId: ModelId,
    round: RoundNumber,
    reason: text(1024),
    /** Updates accepted when it was abandoned. */
    updatesAccepted: NonNegativeInt,
    abandonedAt: EpochMs,
  }),
  { maxPayloadBytes: 4096 },
);

export const flEvents = [RoundStarted, LocalUpdateSubmitted, AggregateProposed, PrepareVoted, CommitVoted, GlobalModelCommitted, CommitTimedOut, RoundAbandoned] as const;

export type RoundStarted = typeof RoundStarted.schema.Type;
export type LocalUpdateSubmitted = typeof LocalUpdateSubmitted.schema.Type;
export type AggregateProposed = typeof AggregateProposed.schema.Type;
export type PrepareVoted = typeof PrepareVoted.schema.Type;
export type CommitVoted = typeof CommitVoted.schema.Type;
export type GlobalModelCommitted = typeof GlobalModelCommitted.schema.Type;
export type CommitTimedOut = typeof CommitTimedOut.schema.Type;
export type RoundAbandoned = typeof RoundAbandoned.schema.Type;

export type FlEvent =
  | { readonly type: typeof RoundStarted.type; readonly data: RoundStarted }
  | { readonly type: typeof LocalUpdateSubmitted.type; readonly data: LocalUpdateSubmitted }
  | { readonly type: typeof AggregateProposed.type; readonly data: AggregateProposed }
  | { readonly type: typeof PrepareVoted.type; readonly data: PrepareVoted }
  | { readonly type: typeof CommitVoted.type; readonly data: CommitVoted }
  | { readonly type: typeof GlobalModelCommitted.type; readonly data: GlobalModelCommitted }
  | { readonly type: typeof CommitTimedOut.type; readonly data: CommitTimedOut }
  | { readonly type: typeof RoundAbandoned.type; readonly data: RoundAbandoned };

/** The last token of an FL subject. */
export type FlPhase = "started" | "update" | "proposed" | "prepare" | "commit" | "outcome";

export const flPhaseOf: Readonly<Record<FlEvent["type"], FlPhase>> = {
  "fl.RoundStarted": "started",
  "fl.LocalUpdateSubmitted": "update",
  "fl.AggregateProposed": "proposed",
  "fl.PrepareVoted": "prepare",
  "fl.CommitVoted": "commit",
  "fl.GlobalModelCommitted": "outcome",
  "fl.CommitTimedOut": "outcome",
  "fl.RoundAbandoned": "outcome",
};

/** `fl.<modelId>.<round>.<phase>`. */
export const flSubject = (modelId: string, round: number, phase: FlPhase): string => `fl.${modelId}.${round}.${phase}`;

/** Every event of one model (`fl.<modelId>.>`), or of one phase of all its rounds (`fl.<modelId>.*.<phase>`). */
export const flModelFilter = (modelId: string, phase?: FlPhase): string => (phase ? `fl.${modelId}.*.${phase}` : `fl.${modelId}.>`);

/** The subject an FL event belongs on. */
export const flSubjectOf = (event: FlEvent): string => flSubject(event.data.modelId, event.data.round, flPhaseOf[event.type]);
