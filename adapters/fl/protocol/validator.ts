import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import * as Commit from "../../../domains/fl/commit/index.ts";
import { contentId } from "../../../domains/fl/content-id.ts";
import type { CommitVoted, FlEvent, PrepareVoted } from "../../../domains/fl/events.ts";
import { computeAggregate } from "../../../domains/fl/round/aggregate-step.ts";
import { inputsRefusal } from "../../../domains/fl/round/decider.ts";
import { FlActor, type FlActorOptions } from "./actor.ts";
import { fetchModel, fetchServerState, fetchUpdate } from "./fetch.ts";
import type { RoundView } from "./model-view.ts";

/**
 * How a validator misbehaves, for tests and experiments:
 * - `wrong-cid`: votes prepare and commit for a model nobody proposed;
 * - `silent`: never votes, never finalizes.
 */
export type ByzantineBehaviour = "wrong-cid" | "silent";

export interface FlValidatorOptions extends FlActorOptions {
  /** Default: honest. */
  readonly byzantine?: ByzantineBehaviour;
}

export interface ValidatorStats {
  /** Prepare votes for the proposal / for another model / nil. */
  agreed: number;
  dissented: number;
  nil: number;
  commits: number;
  /** Why it voted nil or dissented, most recent last. */
  readonly refusals: string[];
}

type Vote = { readonly modelCid?: string; readonly reason?: string };

/**
 * A validator of the BFT commit. On a proposal it checks the round: the proposal starts from
 * the chain's head, its inputs are updates the round accepted (signed by their clients), every
 * input's bytes are what its content id names; then it recomputes the aggregate itself and votes
 * prepare for the content id it got (nil when it could not check). Once 2f + 1 prepares for the
 * model it prepared are on the stream it votes commit; with 2f + 1 commits, or a phase past its
 * deadline, it ends the round (as anyone following the round may).
 */
export class FlValidator extends FlActor {
  readonly stats: ValidatorStats = { agreed: 0, dissented: 0, nil: 0, commits: 0, refusals: [] };
  /** Votes appended by this process, by `<round>/<phase>`, until the view shows them. */
  private readonly sent = new Set<string>();

  private constructor(
    nc: NatsConnection,
    private readonly validator: FlValidatorOptions,
  ) {
    super(nc, validator, "fl-validator");
  }

  static async start(nc: NatsConnection, options: FlValidatorOptions): Promise<FlValidator> {
    const actor = new FlValidator(nc, options);
    await actor.startActor();
    return actor;
  }

  protected async react(): Promise<void> {
    if (this.validator.byzantine === "silent") return;
    // First end what is over: a validator that was held up (a long pause, a slow fetch) must
    // not spend its turn checking a proposal whose phase deadline has already passed.
    if (this.validator.byzantine === undefined) await this.closeRounds();
    for (const view of this.view.rounds.values()) {
      const started = view.round.started;
      if (!view.commit || !started?.validators.includes(this.producerId)) continue;
      // A vote after its phase's deadline is refused as late: not worth the check.
      const now = this.clock.now();
      if ((view.commit.status === "preparing" && now > view.commit.prepareDeadline!) || (view.commit.status === "committing" && now > view.commit.commitDeadline!)) continue;
      if (view.commit.status === "preparing" && !this.hasVoted(view, "prepare")) await this.prepare(view);
      if (view.commit.status === "committing" && !this.hasVoted(view, "commit")) await this.commit(view);
    }
    if (this.validator.byzantine === undefined) await this.closeRounds();
  }

  private hasVoted(view: RoundView, phase: "prepare" | "commit"): boolean {
    if (this.sent.has(`${view.number}/${phase}`)) return true;
    const votes = phase === "prepare" ? view.commit!.prepares : view.commit!.commits;
    return votes.some((v) => v.validator === this.producerId);
  }

  /** A model no one proposed: what a Byzantine validator votes for. */
  private wrongCid(round: number): string {
    return contentId(new TextEncoder().encode(`a model ${this.producerId} made up for round ${round}`));
  }

  private async prepare(view: RoundView): Promise<void> {
    const vote: Vote = this.validator.byzantine === "wrong-cid" ? { modelCid: this.wrongCid(view.number), reason: "Byzantine" } : await this.check(view);
    const proposal = view.commit!.proposal!;
    if (vote.modelCid === proposal.modelCid) this.stats.agreed++;
    else {
      if (vote.modelCid === undefined) this.stats.nil++;
      else this.stats.dissented++;
      this.stats.refusals.push(`round ${view.number}: ${vote.reason ?? "dissent"}`);
      this.log.warn(`FL round ${view.number}: ${this.producerId} does not prepare the proposal`, { reason: vote.reason ?? "" });
    }
    await this.cast(view, "prepare", vote);
  }

  private async commit(view: RoundView): Promise<void> {
    const proposal = view.commit!.proposal!;
    const mine = view.commit!.prepares.find((v) => v.validator === this.producerId);
    if (this.validator.byzantine === "wrong-cid") return this.cast(view, "commit", { modelCid: this.wrongCid(view.number), reason: "Byzantine" });
    // An honest validator commits only to what it prepared itself (and so computed).
    if (mine?.modelCid !== proposal.modelCid) return;
    await this.cast(view, "commit", { modelCid: proposal.modelCid });
  }

  /** Decides the vote against the current view (it may have moved while checking) and appends it, and the commit it completes. */
  private async cast(view: RoundView, phase: "prepare" | "commit", vote: Vote): Promise<void> {
    const commit = view.commit!;
    const data: PrepareVoted | CommitVoted = {
      modelId: commit.modelId,
      round: commit.round,
      validator: this.producerId,
      ...(vote.modelCid !== undefined ? { modelCid: vote.modelCid } : {}),
      ...(vote.reason !== undefined ? { reason: vote.reason.slice(0, 512) } : {}),
      votedAt: this.clock.now(),
    };
    const decision = Commit.decide(phase === "prepare" ? { type: "CastPrepare", data } : { type: "CastCommit", data }, commit);
    if (Result.isFailure(decision)) {
      this.log.warn(`FL round ${view.number}: ${this.producerId}'s ${phase} vote refused`, { reason: decision.failure.reason, detail: decision.failure.message });
      this.sent.add(`${view.number}/${phase}`);
      return;
    }
    const [voteEvent, outcome] = decision.success as FlEvent[];
    const stored = await this.append(voteEvent!, {
      ...(view.startedEventId ? { correlationId: view.startedEventId } : {}),
      ...(view.proposalEventId ? { causationId: view.proposalEventId } : {}),
    });
    this.sent.add(`${view.number}/${phase}`);
    if (phase === "commit" && stored !== "conflict") this.stats.commits++;
    if (outcome && this.validator.byzantine === undefined) await this.appendOutcome(view, outcome);
  }

  /** The vote an honest validator casts on the round's proposal: the content id it computes, or nil with the reason. */
  private async check(view: RoundView): Promise<Vote> {
    const started = view.round.started!;
    const proposal = view.commit!.proposal!;
    if (view.chainRefusal) return { reason: view.chainRefusal };
    if (proposal.previousModelCid !== started.globalModelCid) return { reason: `the proposal starts from ${proposal.previousModelCid}, the round from ${started.globalModelCid}` };
    const wrongInputs = inputsRefusal(view.round, proposal.inputs, proposal.used);
    if (wrongInputs) return { reason: `inputs: ${wrongInputs}` };
    const submitted = proposal.inputs.map((i) => view.round.accepted.find((u) => u.client === i.client)!);
    let global: Float32Array;
    let state: Awaited<ReturnType<typeof fetchServerState>>;
    try {
      [global, state] = await Promise.all([fetchModel(this.models, started.globalModelCid), fetchServerState(this.models, started.serverStateCid)]);
    } catch (error) {
      return { reason: `the round's model or server state: ${(error as Error).message}` };
    }
    const updates = [];
    for (const u of submitted) {
      try {
        updates.push(await fetchUpdate(this.models, u));
      } catch (error) {
        return { reason: `${u.client}'s update: ${(error as Error).message}` };
      }
    }
    const computed = computeAggregate(started, global, state, updates);
    if (!computed.ok) return { reason: `the aggregator refused the inputs: ${computed.reason}` };
    if (computed.modelCid !== proposal.modelCid) return { modelCid: computed.modelCid, reason: "the aggregate recomputed from the inputs differs from the proposal" };
    if (computed.serverStateCid !== proposal.serverStateCid) return { reason: `the server state recomputed is ${computed.serverStateCid}, not ${proposal.serverStateCid}` };
    const used = [...computed.used].sort();
    if (used.join() !== [...proposal.used].sort().join()) return { reason: `the aggregator used ${used.join(", ")}, the proposal says ${proposal.used.join(", ")}` };
    // Keep the bytes of what it votes for: the next round's clients fetch them whoever stored them first.
    await this.models.put(computed.modelBytes);
    await this.models.put(computed.stateBytes);
    return { modelCid: computed.modelCid };
  }
}
