import * as Result from "effect/Result";
import * as Commit from "../../../domains/fl/commit/index.ts";
import { flSubjectOf, type FlEvent, type GlobalModelCommitted, type RoundStarted } from "../../../domains/fl/events.ts";
import * as Round from "../../../domains/fl/round/decider.ts";
import { chainLinkRefusal, extendChain, type ModelChainHead } from "../../../domains/fl/round/chain.ts";
import type { VerifiedEvent } from "../../../streams/projection-runner.ts";

/** What one actor knows of one round, folded from the stream. */
export interface RoundView {
  readonly number: number;
  round: Round.RoundState;
  /** Present once RoundStarted is folded (with a validator set that can tolerate its f). */
  commit?: Commit.CommitState;
  /** Stream sequence of the last event on the round's outcome subject: the expected sequence of the next outcome append. */
  outcomeSeq: number;
  /** Event ids for correlation (the RoundStarted's) and causation (the proposal's). */
  startedEventId?: string;
  proposalEventId?: string;
  /** Why the round's start does not follow the model chain (a coordinator forking it), if it does not. */
  chainRefusal?: string;
}

/**
 * One model's FL history as an actor sees it: every round's round and commit state, the model
 * chain's head, and who may append what. The coordinator, validators and clients each keep one,
 * fed by their own consumer in stream order, so they agree on it.
 */
export class FlModelView {
  readonly rounds = new Map<number, RoundView>();
  /** The chain's head: the last committed model, or the model the first round started from. */
  head: ModelChainHead | undefined;
  /** Commits that did not extend the chain (should stay empty). */
  readonly chainBreaks: string[] = [];
  /** Called after each event is folded (with the round's view). */
  onFolded: ((event: FlEvent, view: RoundView | undefined) => void) | undefined;

  constructor(
    readonly modelId: string,
    /** The producer whose rounds this view follows: the only one allowed to start and propose. */
    readonly coordinatorId: string,
  ) {}

  /** The highest round number started. */
  get lastRound(): number {
    return Math.max(0, ...this.rounds.keys());
  }

  /** Refuses an event its producer may not append (the runner quarantines it as unauthorized). */
  authorize(event: VerifiedEvent): string | undefined {
    const e = { type: event.meta.type, data: event.payload } as FlEvent;
    const { producerId, subject } = event.meta;
    if (e.data.modelId !== this.modelId) return `${e.type} of model ${e.data.modelId} on ${subject}`;
    const expected = flSubjectOf(e);
    if (subject !== expected) return `${e.type} belongs on ${expected}, not ${subject}`;
    const is = (who: string, what: string) => (producerId === who ? undefined : `${producerId} may not append ${e.type} as ${what} ${who}`);
    switch (e.type) {
      case "fl.RoundStarted":
        return is(this.coordinatorId, "the coordinator") ?? is(e.data.coordinator, "coordinator");
      case "fl.AggregateProposed":
        return is(this.coordinatorId, "the coordinator") ?? is(e.data.proposer, "proposer");
      case "fl.RoundAbandoned":
        return is(this.coordinatorId, "the coordinator");
      case "fl.LocalUpdateSubmitted":
        return is(e.data.client, "client");
      case "fl.PrepareVoted":
      case "fl.CommitVoted":
        return is(e.data.validator, "validator");
      case "fl.GlobalModelCommitted":
      case "fl.CommitTimedOut": {
        const started = this.rounds.get(e.data.round)?.round.started;
        if (!started) return `${e.type} for round ${e.data.round}, which has not started`;
        return producerId === started.coordinator || started.validators.includes(producerId)
          ? undefined
          : `${producerId} is neither the coordinator nor a validator of round ${e.data.round}`;
      }
    }
  }

  apply(event: VerifiedEvent): void {
    const e = { type: event.meta.type, data: event.payload } as FlEvent;
    const view = e.type === "fl.RoundStarted" ? this.startRound(e.data, event.meta.eventId) : this.rounds.get(e.data.round);
    if (!view) {
      this.onFolded?.(e, undefined);
      return;
    }
    if (event.meta.subject.endsWith(".outcome")) view.outcomeSeq = Math.max(view.outcomeSeq, event.seq);
    if (e.type === "fl.AggregateProposed" && view.proposalEventId === undefined) view.proposalEventId = event.meta.eventId;
    const before = view.commit?.outcome;
    if (view.commit) view.commit = Commit.evolve(view.commit, e);
    const isOutcome = e.type === "fl.GlobalModelCommitted" || e.type === "fl.CommitTimedOut" || e.type === "fl.RoundAbandoned";
    // Outcomes count only when the commit took them (the first justified one); the rest are folded as usual.
    if (!isOutcome || (view.commit ? view.commit.outcome !== before && view.commit.outcome?.data === e.data : e.type === "fl.RoundAbandoned")) {
      view.round = Round.evolve(view.round, e);
      if (e.type === "fl.GlobalModelCommitted") this.extend(e.data);
      // A decided round is not checked again: drop its inline weights, which are most of a long run's memory.
      if (view.round.outcome) view.round = { ...view.round, accepted: view.round.accepted.map(({ weights: _w, controlDelta: _c, ...rest }) => rest) };
    }
    this.onFolded?.(e, view);
  }

  private startRound(started: RoundStarted, eventId: string): RoundView | undefined {
    if (this.rounds.has(started.round)) return this.rounds.get(started.round);
    const view: RoundView = { number: started.round, round: Round.initialState(), outcomeSeq: 0, startedEventId: eventId };
    this.head ??= { modelId: this.modelId, round: 0, modelCid: started.globalModelCid, serverStateCid: started.serverStateCid };
    if (started.globalModelCid !== this.head.modelCid || started.round <= this.head.round) {
      view.chainRefusal = `round ${started.round} starts from ${started.globalModelCid}, but the chain's head is ${this.head.modelCid} (round ${this.head.round})`;
    }
    const commit = Commit.initialState(started.validators, started.f, {
      modelId: started.modelId,
      round: started.round,
      phaseTimeoutMs: started.phaseTimeoutMs,
      coordinator: started.coordinator,
      proposalDeadline: started.deadline + started.phaseTimeoutMs,
    });
    if (Result.isSuccess(commit)) view.commit = commit.success;
    this.rounds.set(started.round, view);
    return view;
  }

  private extend(commit: GlobalModelCommitted): void {
    const head = this.head;
    const broken = head ? chainLinkRefusal(head, commit)?.message : "no genesis";
    if (broken) {
      this.chainBreaks.push(broken);
      return;
    }
    this.head = extendChain(head!, commit);
  }
}
