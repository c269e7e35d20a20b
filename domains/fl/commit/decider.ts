import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import {
  DEFAULT_PHASE_TIMEOUT_MS,
  type AggregateProposed,
  type CommitPhase,
  type CommitTimedOut,
  type CommitVoted,
  type FlEvent,
  type GlobalModelCommitted,
  type PrepareVoted,
  type RoundAbandoned,
} from "../events.ts";

/**
 * The Byzantine-tolerant commit of one round's aggregate as a decider (Emmett style): PBFT's
 * three phases over events on JetStream, with the stream's order as the agreed order.
 *
 *   awaiting-proposal --AggregateProposed--> preparing --quorum of prepares--> committing
 *        |                                      |                                 |
 *        +-- CommitTimedOut (propose) ---------+-- CommitTimedOut (prepare) ----+-- CommitTimedOut (commit)
 *                                                                                 +-- quorum of commits --> GlobalModelCommitted
 *
 * - n validators tolerate f Byzantine ones when n >= 3f + 1 (`initialState` refuses fewer).
 * - Quorum: ceil((n + f + 1) / 2) votes for the proposal's content id, which is 2f + 1 when
 *   n = 3f + 1; for larger n it keeps any two quorums overlapping in an honest validator.
 * - Only votes for the proposal's content id count towards it; a vote for another id or a nil
 *   vote (no id) is how a validator dissents, and counts against (it uses up that validator).
 * - A validator's first vote in a phase is its vote: a second one (equivocation) is ignored.
 * - A commit vote before the prepare quorum formed is ignored (an honest validator commits only
 *   after seeing 2f + 1 prepares for what it prepared); the validator may commit later.
 * - Each phase has a deadline: the proposal's time plus the phase timeout for prepare, the time
 *   the prepare quorum formed plus the timeout for commit (clamped, so a voter's clock cannot
 *   stretch a phase by more than one timeout). A vote stamped after its phase's deadline is
 *   late and ignored; a phase without quorum at its deadline ends the round (`CommitTimedOut`).
 * - The round's outcome is the first justified one in stream order: a GlobalModelCommitted the
 *   commit votes before it support, a CommitTimedOut whose phase and deadline are right. One
 *   that is not justified (a Byzantine validator's shortcut) is ignored.
 *
 * `decide` refuses what `evolve` would ignore, with the same reasons, so a validator can ask
 * before it votes, and readers of the stream agree on the state whatever arrives.
 *
 * Pure: no clock (times come in commands and events), no randomness.
 */

/** Votes for one content id that decide a phase with n validators of which f may be Byzantine. */
export const quorumSize = (n: number, f: number): number => Math.ceil((n + f + 1) / 2);

/** The validator set cannot tolerate the Byzantine count asked for (n < 3f + 1), or is malformed. */
export class BftConfigError extends Schema.TaggedError<BftConfigError>()("BftConfigError", {
  validators: Schema.Number,
  f: Schema.Number,
  message: Schema.String,
}) {}

export const CommitRefusal = Schema.Literals([
  "wrong-round",
  "round-over",
  "already-proposed",
  "not-a-validator",
  "no-proposal",
  "already-voted",
  "before-prepare-quorum",
  "late",
  "unjustified",
]);
export type CommitRefusal = typeof CommitRefusal.Type;

/** A command or event the commit cannot take, and why. */
export class CommitRefusedError extends Schema.TaggedError<CommitRefusedError>()("CommitRefusedError", {
  command: Schema.String,
  reason: CommitRefusal,
  message: Schema.String,
}) {}

export type CommitStatus = "awaiting-proposal" | "preparing" | "committing" | "committed" | "timed-out" | "abandoned";

/** A vote as the commit counted it: the validator's first in its phase. */
export interface RecordedVote {
  readonly validator: string;
  readonly modelCid?: string;
  readonly reason?: string;
  readonly votedAt: number;
}

/** An event on the stream the commit did not take into account, for the record. */
export interface IgnoredEvent {
  readonly type: string;
  readonly reason: CommitRefusal;
  readonly message: string;
}

export type CommitOutcome =
  | { readonly type: "fl.GlobalModelCommitted"; readonly data: GlobalModelCommitted }
  | { readonly type: "fl.CommitTimedOut"; readonly data: CommitTimedOut }
  | { readonly type: "fl.RoundAbandoned"; readonly data: RoundAbandoned };

export interface CommitState {
  readonly modelId: string;
  readonly round: number;
  /** Sorted. */
  readonly validators: readonly string[];
  readonly f: number;
  readonly quorum: number;
  readonly phaseTimeoutMs: number;
  /** Who must propose (named by a timeout of the propose phase). */
  readonly coordinator?: string;
  /** No proposal by then times the round out (phase propose). */
  readonly proposalDeadline?: number;
  readonly status: CommitStatus;
  readonly proposal?: AggregateProposed;
  readonly prepareDeadline?: number;
  readonly commitDeadline?: number;
  /** First vote of each validator in fold (stream) order. */
  readonly prepares: readonly RecordedVote[];
  readonly commits: readonly RecordedVote[];
  readonly outcome?: CommitOutcome;
  /** The last events ignored, at most MAX_IGNORED. */
  readonly ignored: readonly IgnoredEvent[];
}

export interface CommitOptions {
  readonly modelId: string;
  readonly round: number;
  /** Each phase's timeout, ms. Default 30 000. */
  readonly phaseTimeoutMs?: number;
  readonly coordinator?: string;
  /** When the proposal is due (the round's deadline plus a phase timeout, say). Default: no deadline. */
  readonly proposalDeadline?: number;
}

export type CommitEvent =
  | { readonly type: "fl.AggregateProposed"; readonly data: AggregateProposed }
  | { readonly type: "fl.PrepareVoted"; readonly data: PrepareVoted }
  | { readonly type: "fl.CommitVoted"; readonly data: CommitVoted }
  | CommitOutcome;

export type CommitCommand =
  | { readonly type: "Propose"; readonly data: AggregateProposed }
  | { readonly type: "CastPrepare"; readonly data: PrepareVoted }
  | { readonly type: "CastCommit"; readonly data: CommitVoted }
  /** Append GlobalModelCommitted if the commit votes folded so far make a quorum. */
  | { readonly type: "Finalize" }
  /** Append CommitTimedOut if the current phase is past its deadline without quorum. */
  | { readonly type: "CheckTimeout"; readonly data: { readonly now: number } };

export type CommitDecision = Result.Result<readonly CommitEvent[], CommitRefusedError>;

const MAX_IGNORED = 256;
const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The commit of one round before anything happened; refuses n < 3f + 1. */
export const initialState = (validators: readonly string[], f: number, options: CommitOptions): Result.Result<CommitState, BftConfigError> => {
  const n = validators.length;
  const refuse = (message: string) => Result.fail(new BftConfigError({ validators: n, f, message }));
  if (!Number.isInteger(f) || f < 0) return refuse(`f must be a non-negative integer, got ${f}`);
  if (n < 3 * f + 1) return refuse(`${n} validators cannot tolerate ${f} Byzantine ones: BFT commit needs n >= 3f + 1 = ${3 * f + 1}`);
  if (new Set(validators).size !== n) return refuse("a validator is listed twice");
  const phaseTimeoutMs = options.phaseTimeoutMs ?? DEFAULT_PHASE_TIMEOUT_MS;
  if (!(phaseTimeoutMs > 0)) return refuse(`phase timeout must be positive, got ${phaseTimeoutMs}`);
  return Result.succeed({
    modelId: options.modelId,
    round: options.round,
    validators: [...validators].sort(byId),
    f,
    quorum: quorumSize(n, f),
    phaseTimeoutMs,
    ...(options.coordinator !== undefined ? { coordinator: options.coordinator } : {}),
    ...(options.proposalDeadline !== undefined ? { proposalDeadline: options.proposalDeadline } : {}),
    status: "awaiting-proposal",
    prepares: [],
    commits: [],
    ignored: [],
  });
};

const terminal = (status: CommitStatus) => status === "committed" || status === "timed-out" || status === "abandoned";

const short = (cid: string | undefined) => (cid === undefined ? "nil" : cid.length > 16 ? `${cid.slice(0, 12)}…${cid.slice(-4)}` : cid);

interface Refusal {
  readonly reason: CommitRefusal;
  readonly message: string;
}
const refusal = (reason: CommitRefusal, message: string): Refusal => ({ reason, message });

const sameRound = (state: CommitState, data: { readonly modelId: string; readonly round: number }): Refusal | undefined =>
  data.modelId !== state.modelId || data.round !== state.round
    ? refusal("wrong-round", `this is round ${state.round} of ${state.modelId}, not round ${data.round} of ${data.modelId}`)
    : terminal(state.status)
      ? refusal("round-over", `round ${state.round} is over (${state.status})`)
      : undefined;

/** Undefined when the proposal is taken; "duplicate" when it is the proposal already taken. */
const judgeProposal = (state: CommitState, p: AggregateProposed): Refusal | "duplicate" | undefined => {
  const wrong = sameRound(state, p);
  if (wrong) return wrong;
  if (state.proposal) {
    return state.proposal.modelCid === p.modelCid && state.proposal.proposer === p.proposer
      ? "duplicate"
      : refusal("already-proposed", `round ${state.round} already has a proposal (${short(state.proposal.modelCid)} by ${state.proposal.proposer})`);
  }
  if (state.proposalDeadline !== undefined && p.proposedAt > state.proposalDeadline) {
    return refusal("late", `proposed at ${p.proposedAt}, after the proposal deadline ${state.proposalDeadline}`);
  }
  return undefined;
};

const votesOf = (state: CommitState, phase: "prepare" | "commit") => (phase === "prepare" ? state.prepares : state.commits);
const deadlineOf = (state: CommitState, phase: "prepare" | "commit") => (phase === "prepare" ? state.prepareDeadline : state.commitDeadline);

const judgeVote = (state: CommitState, phase: "prepare" | "commit", vote: PrepareVoted | CommitVoted): Refusal | undefined => {
  const wrong = sameRound(state, vote);
  if (wrong) return wrong;
  if (!state.validators.includes(vote.validator)) return refusal("not-a-validator", `${vote.validator} is not a validator of round ${state.round}`);
  if (!state.proposal) return refusal("no-proposal", `no aggregate was proposed in round ${state.round} yet`);
  if (phase === "commit" && state.status !== "committing") {
    return refusal("before-prepare-quorum", `${vote.validator} committed before ${state.quorum} prepares for ${short(state.proposal.modelCid)}`);
  }
  const earlier = votesOf(state, phase).find((v) => v.validator === vote.validator);
  if (earlier) {
    return refusal(
      "already-voted",
      earlier.modelCid === vote.modelCid
        ? `${vote.validator} already voted ${phase} for ${short(vote.modelCid)}`
        : `${vote.validator} already voted ${phase} for ${short(earlier.modelCid)}; its vote for ${short(vote.modelCid)} is equivocation and does not count`,
    );
  }
  const deadline = deadlineOf(state, phase);
  if (deadline !== undefined && vote.votedAt > deadline) return refusal("late", `${vote.validator}'s ${phase} vote at ${vote.votedAt} is after the deadline ${deadline}`);
  return undefined;
};

/** Votes for `cid` among `votes`, in fold order. */
const votesFor = (votes: readonly RecordedVote[], cid: string) => votes.filter((v) => v.modelCid === cid);

/** The GlobalModelCommitted the commit votes justify, if they do: the first quorum of commits, in stream order. */
const commitFromVotes = (state: CommitState): GlobalModelCommitted | undefined => {
  const p = state.proposal;
  if (state.status !== "committing" || !p) return undefined;
  const quorumVotes = votesFor(state.commits, p.modelCid).slice(0, state.quorum);
  if (quorumVotes.length < state.quorum) return undefined;
  return {
    modelId: state.modelId,
    round: state.round,
    modelCid: p.modelCid,
    byteLength: p.byteLength,
    serverStateCid: p.serverStateCid,
    previousModelCid: p.previousModelCid,
    validators: quorumVotes.map((v) => v.validator).sort(byId),
    quorum: state.quorum,
    committedAt: Math.max(...quorumVotes.map((v) => v.votedAt)),
  };
};

const judgeCommitted = (state: CommitState, c: GlobalModelCommitted): Refusal | undefined => {
  const wrong = sameRound(state, c);
  if (wrong) return wrong;
  const p = state.proposal;
  if (!p || state.status !== "committing") return refusal("unjustified", `no prepare quorum in round ${state.round}: nothing can be committed`);
  if (c.modelCid !== p.modelCid || c.serverStateCid !== p.serverStateCid || c.previousModelCid !== p.previousModelCid || c.byteLength !== p.byteLength) {
    return refusal("unjustified", `the commit of ${short(c.modelCid)} does not match the proposal ${short(p.modelCid)}`);
  }
  const voters = new Set(votesFor(state.commits, c.modelCid).map((v) => v.validator));
  if (voters.size < state.quorum) return refusal("unjustified", `${voters.size} commit votes for ${short(c.modelCid)}, ${state.quorum} needed`);
  if (c.quorum !== state.quorum || c.validators.length < state.quorum || c.validators.some((v) => !voters.has(v))) {
    return refusal("unjustified", `the commit names validators that did not commit ${short(c.modelCid)}`);
  }
  return undefined;
};

type TimedPhase = { readonly phase: CommitPhase; readonly deadline: number };

/** The phase the commit is in and its deadline, when it has one. */
const currentPhase = (state: CommitState): TimedPhase | undefined => {
  switch (state.status) {
    case "awaiting-proposal":
      return state.proposalDeadline === undefined ? undefined : { phase: "propose", deadline: state.proposalDeadline };
    case "preparing":
      return { phase: "prepare", deadline: state.prepareDeadline! };
    case "committing":
      return { phase: "commit", deadline: state.commitDeadline! };
    default:
      return undefined;
  }
};

const judgeTimedOut = (state: CommitState, t: CommitTimedOut): Refusal | undefined => {
  const wrong = sameRound(state, t);
  if (wrong) return wrong;
  const current = currentPhase(state);
  if (!current || current.phase !== t.phase) return refusal("unjustified", `round ${state.round} is not in phase ${t.phase} (${state.status})`);
  if (t.timedOutAt <= current.deadline) return refusal("unjustified", `phase ${t.phase} runs until ${current.deadline}; a timeout at ${t.timedOutAt} is early`);
  return undefined;
};

const judgeAbandoned = (state: CommitState, a: RoundAbandoned): Refusal | undefined => {
  const wrong = sameRound(state, a);
  if (wrong) return wrong;
  if (state.proposal) return refusal("unjustified", `round ${state.round} has a proposal under commit; it ends by commit or timeout`);
  return undefined;
};

const listed = (ids: readonly string[]) => (ids.length === 0 ? "none" : ids.join(", "));

/** The CommitTimedOut for the current phase at `now`, if its deadline has passed. */
const timeoutAt = (state: CommitState, now: number): CommitTimedOut | undefined => {
  const current = currentPhase(state);
  if (!current || now <= current.deadline) return undefined;
  const { phase, deadline } = current;
  const base = { modelId: state.modelId, round: state.round, phase, quorum: state.quorum, deadline, timedOutAt: now };
  const at = new Date(deadline).toISOString();
  if (phase === "propose") {
    const missing = state.coordinator !== undefined ? [state.coordinator] : [];
    return {
      ...base,
      votes: [],
      missing,
      reason: `no aggregate was proposed for round ${state.round} of ${state.modelId} by ${at}; no answer from ${listed(missing)}`.slice(0, 2048),
    };
  }
  const p = state.proposal!;
  const votes = votesOf(state, phase);
  const voted = new Set(votes.map((v) => v.validator));
  const missing = state.validators.filter((v) => !voted.has(v));
  const support = votesFor(votes, p.modelCid).length;
  const dissent = votes.filter((v) => v.modelCid !== p.modelCid);
  const dissentText = dissent.map((v) => `${v.validator} voted ${v.modelCid === undefined ? "nil" : `for ${short(v.modelCid)}`}${v.reason ? ` (${v.reason})` : ""}`).join("; ");
  const reason =
    `${phase} phase of round ${state.round} of ${state.modelId} timed out: ${support} of ${state.validators.length} validators ` +
    `voted for ${short(p.modelCid)} by ${at}, ${state.quorum} needed (f = ${state.f}); no answer from ${listed(missing)}` +
    (dissent.length > 0 ? `; dissent: ${dissentText}` : "");
  return {
    ...base,
    modelCid: p.modelCid,
    votes: votes.map((v) => ({
      validator: v.validator,
      ...(v.modelCid !== undefined ? { modelCid: v.modelCid } : {}),
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
    })),
    missing,
    reason: reason.length > 2048 ? `${reason.slice(0, 2047)}…` : reason,
  };
};

const fail = (command: string, r: Refusal): CommitDecision => Result.fail(new CommitRefusedError({ command, reason: r.reason, message: r.message }));

export const decide = (command: CommitCommand, state: CommitState): CommitDecision => {
  switch (command.type) {
    case "Propose": {
      const judged = judgeProposal(state, command.data);
      if (judged === "duplicate") return Result.succeed([]);
      return judged ? fail(command.type, judged) : Result.succeed([{ type: "fl.AggregateProposed", data: command.data }]);
    }
    case "CastPrepare": {
      const judged = judgeVote(state, "prepare", command.data);
      return judged ? fail(command.type, judged) : Result.succeed([{ type: "fl.PrepareVoted", data: command.data }]);
    }
    case "CastCommit": {
      const judged = judgeVote(state, "commit", command.data);
      if (judged) return fail(command.type, judged);
      const vote: CommitEvent = { type: "fl.CommitVoted", data: command.data };
      const committed = commitFromVotes(evolve(state, vote));
      return Result.succeed(committed ? [vote, { type: "fl.GlobalModelCommitted", data: committed }] : [vote]);
    }
    case "Finalize": {
      const committed = terminal(state.status) ? undefined : commitFromVotes(state);
      return Result.succeed(committed ? [{ type: "fl.GlobalModelCommitted", data: committed }] : []);
    }
    case "CheckTimeout": {
      const timedOut = timeoutAt(state, command.data.now);
      return Result.succeed(timedOut ? [{ type: "fl.CommitTimedOut", data: timedOut }] : []);
    }
  }
};

const ignore = (state: CommitState, type: string, r: Refusal): CommitState => ({
  ...state,
  ignored: [...state.ignored.slice(-(MAX_IGNORED - 1)), { type, reason: r.reason, message: r.message }],
});

const recorded = (vote: PrepareVoted | CommitVoted): RecordedVote => ({
  validator: vote.validator,
  ...(vote.modelCid !== undefined ? { modelCid: vote.modelCid } : {}),
  ...(vote.reason !== undefined ? { reason: vote.reason } : {}),
  votedAt: vote.votedAt,
});

const clamp = (x: number, low: number, high: number) => Math.min(Math.max(x, low), high);

/** Folds one FL event of any type (those the commit does not concern are passed over). */
export const evolve = (state: CommitState, event: FlEvent): CommitState => {
  switch (event.type) {
    case "fl.AggregateProposed": {
      const judged = judgeProposal(state, event.data);
      if (judged === "duplicate") return state;
      if (judged) return ignore(state, event.type, judged);
      const start = state.proposalDeadline === undefined ? event.data.proposedAt : Math.min(event.data.proposedAt, state.proposalDeadline);
      return { ...state, status: "preparing", proposal: event.data, prepareDeadline: start + state.phaseTimeoutMs };
    }
    case "fl.PrepareVoted": {
      const judged = judgeVote(state, "prepare", event.data);
      if (judged) return ignore(state, event.type, judged);
      const next: CommitState = { ...state, prepares: [...state.prepares, recorded(event.data)] };
      const p = state.proposal!;
      if (state.status === "preparing" && votesFor(next.prepares, p.modelCid).length >= state.quorum) {
        // The commit phase starts when the quorum formed, at the completing voter's time, clamped into the prepare phase.
        const formedAt = clamp(event.data.votedAt, state.prepareDeadline! - state.phaseTimeoutMs, state.prepareDeadline!);
        return { ...next, status: "committing", commitDeadline: formedAt + state.phaseTimeoutMs };
      }
      return next;
    }
    case "fl.CommitVoted": {
      const judged = judgeVote(state, "commit", event.data);
      if (judged) return ignore(state, event.type, judged);
      return { ...state, commits: [...state.commits, recorded(event.data)] };
    }
    case "fl.GlobalModelCommitted": {
      const judged = judgeCommitted(state, event.data);
      return judged ? ignore(state, event.type, judged) : { ...state, status: "committed", outcome: event };
    }
    case "fl.CommitTimedOut": {
      const judged = judgeTimedOut(state, event.data);
      return judged ? ignore(state, event.type, judged) : { ...state, status: "timed-out", outcome: event };
    }
    case "fl.RoundAbandoned": {
      const judged = judgeAbandoned(state, event.data);
      return judged ? ignore(state, event.type, judged) : { ...state, status: "abandoned", outcome: event };
    }
    default:
      return state;
  }
};

export const fold = (state: CommitState, events: readonly FlEvent[]): CommitState => events.reduce(evolve, state);

/** The votes a phase counted for each content id (nil votes under "nil"), for display. */
export const tally = (state: CommitState, phase: "prepare" | "commit"): ReadonlyMap<string, readonly string[]> => {
  const out = new Map<string, string[]>();
  for (const v of votesOf(state, phase)) {
    const key = v.modelCid ?? "nil";
    out.set(key, [...(out.get(key) ?? []), v.validator]);
  }
  return out;
};
