import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import { initialServerState, type StrategyConfig } from "../../../domains/fl/aggregate/index.ts";
import type { CommitOutcome } from "../../../domains/fl/commit/index.ts";
import { contentId, modelBytes } from "../../../domains/fl/content-id.ts";
import type { GlobalModelCommitted, RoundStarted } from "../../../domains/fl/events.ts";
import { computeAggregate } from "../../../domains/fl/round/aggregate-step.ts";
import { decide as decideRound, initialState as initialRoundState, readyToAggregate, type RoundCommand } from "../../../domains/fl/round/decider.ts";
import { encodeServerState } from "../../../domains/fl/round/server-state.ts";
import { FlActor, type FlActorOptions } from "./actor.ts";
import { fetchModel, fetchServerState, fetchUpdates } from "./fetch.ts";
import type { RoundView } from "./model-view.ts";

export interface FlCoordinatorOptions extends Omit<FlActorOptions, "coordinatorId"> {
  readonly strategy: StrategyConfig;
  /** Training settings announced to clients. Default none (each client's `train` decides). */
  readonly training?: RoundStarted["training"];
  /** Clients that may be selected, read at each round's start. */
  readonly population: readonly string[] | (() => readonly string[]);
  /** Validators of every round's commit, n >= 3f + 1. */
  readonly validators: readonly string[];
  /** Byzantine validators tolerated. */
  readonly f: number;
  /** C: the fraction of the population selected per round. Default 1 (everyone). */
  readonly fraction?: number;
  /** Fewest clients selected. Default 1. */
  readonly minClients?: number;
  /** Fewest accepted updates a round aggregates. Default 1. */
  readonly minUpdates?: number;
  /** How long a round accepts updates, ms. Default 60 000. */
  readonly roundDurationMs?: number;
  /** Each commit phase's timeout, ms. Default 30 000. */
  readonly phaseTimeoutMs?: number;
  /** Seed of client selection. Default 0. */
  readonly seed?: number;
  /** The model the first round starts from (needed only when the model has no round yet). */
  readonly initialWeights?: Float32Array;
}

/**
 * The coordinator of one model's rounds: starts each round from the head of the model chain
 * (selecting clients), waits for their updates until all came or the deadline passed, fetches
 * them by content id (refusing bytes that are not what the id names), aggregates, stores the
 * new model and server state and proposes them; or abandons the round saying why. It also ends
 * rounds whose commit is decided (GlobalModelCommitted or CommitTimedOut), as validators do.
 */
export class FlCoordinator extends FlActor {
  private readonly aggregating = new Set<number>();

  private constructor(
    nc: NatsConnection,
    private readonly coordinator: FlCoordinatorOptions,
  ) {
    super(nc, { ...coordinator, coordinatorId: coordinator.producer.producerId }, "fl-coordinator");
  }

  static async start(nc: NatsConnection, options: FlCoordinatorOptions): Promise<FlCoordinator> {
    const actor = new FlCoordinator(nc, options);
    await actor.startActor();
    return actor;
  }

  /** Starts the next round from the chain's head; refuses while the last round is open. Resolves once the round is on the stream. */
  async startRound(): Promise<RoundStarted> {
    await this.until(() => this.caughtUp || undefined, 30_000, "catching up with the model's history");
    const o = this.coordinator;
    const last = this.view.rounds.get(this.view.lastRound);
    if (last && !last.round.outcome) throw new Error(`round ${last.number} of ${o.modelId} is still open (${last.round.status})`);
    const chainHead = this.view.head;
    const head = chainHead?.serverStateCid !== undefined ? { modelCid: chainHead.modelCid, serverStateCid: chainHead.serverStateCid } : await this.genesis();
    const round = this.view.lastRound + 1;
    const command: RoundCommand = {
      type: "StartRound",
      data: {
        modelId: o.modelId,
        round,
        coordinator: this.producerId,
        globalModelCid: head.modelCid,
        serverStateCid: head.serverStateCid,
        strategy: o.strategy,
        ...(o.training !== undefined ? { training: o.training } : {}),
        population: typeof o.population === "function" ? o.population() : o.population,
        fraction: o.fraction ?? 1,
        ...(o.minClients !== undefined ? { minClients: o.minClients } : {}),
        ...(o.minUpdates !== undefined ? { minUpdates: o.minUpdates } : {}),
        seed: o.seed ?? 0,
        durationMs: o.roundDurationMs ?? 60_000,
        validators: o.validators,
        f: o.f,
        ...(o.phaseTimeoutMs !== undefined ? { phaseTimeoutMs: o.phaseTimeoutMs } : {}),
        at: this.clock.now(),
      },
    };
    const decision = decideRound(command, this.view.rounds.get(round)?.round ?? initialRoundState());
    if (Result.isFailure(decision)) throw decision.failure;
    const [event] = decision.success;
    // Expected sequence 0: a round starts once, whoever else tries.
    const stored = await this.append(event!, { expectedLastSubjectSequence: 0 });
    if (stored === "conflict") throw new Error(`round ${round} of ${o.modelId} was started by someone else`);
    this.log.info(`FL round ${round} started`, { model: o.modelId, selected: (event!.data as RoundStarted).selectedClients.length });
    return this.until(() => this.view.rounds.get(round)?.round.started, 30_000, `round ${round} on the stream`);
  }

  /** The round's outcome once the stream has it: committed, timed out or abandoned. */
  waitForOutcome(round: number, timeoutMs = 120_000): Promise<CommitOutcome> {
    return this.until(() => this.view.rounds.get(round)?.commit?.outcome, timeoutMs, `the outcome of round ${round}`);
  }

  /** Starts the next round and waits for its outcome. */
  async runRound(timeoutMs?: number): Promise<CommitOutcome> {
    const started = await this.startRound();
    return this.waitForOutcome(started.round, timeoutMs);
  }

  /** The committed models, in round order. */
  commits(): GlobalModelCommitted[] {
    return [...this.view.rounds.values()]
      .sort((a, b) => a.number - b.number)
      .flatMap((v) => (v.commit?.outcome?.type === "fl.GlobalModelCommitted" ? [v.commit.outcome.data] : []));
  }

  /** Stores the initial model and server state: the chain's genesis. */
  private async genesis(): Promise<{ modelCid: string; serverStateCid: string }> {
    const weights = this.coordinator.initialWeights;
    if (!weights) throw new Error(`model ${this.coordinator.modelId} has no round yet: initialWeights are needed to start the first`);
    const modelCid = await this.models.put(modelBytes(weights));
    const serverStateCid = await this.models.put(encodeServerState(initialServerState(this.coordinator.strategy, weights)));
    return { modelCid, serverStateCid };
  }

  protected async react(): Promise<void> {
    const now = this.clock.now();
    for (const view of this.view.rounds.values()) {
      if (view.round.status !== "collecting" || view.round.started?.coordinator !== this.producerId) continue;
      const [abandoned] = this.decided({ type: "CheckDeadline", data: { now } }, view);
      if (abandoned) await this.appendOutcome(view, abandoned);
      else if (readyToAggregate(view.round, now) && !this.aggregating.has(view.number)) await this.aggregate(view);
    }
    await this.closeRounds();
  }

  private decided(command: RoundCommand, view: RoundView) {
    const decision = decideRound(command, view.round);
    if (Result.isFailure(decision)) {
      this.log.warn(`FL round ${view.number}: ${command.type} refused`, { reason: decision.failure.reason, detail: decision.failure.message });
      return [];
    }
    return decision.success;
  }

  private async abandon(view: RoundView, reason: string): Promise<void> {
    const [abandoned] = this.decided({ type: "AbandonRound", data: { reason, at: this.clock.now() } }, view);
    if (abandoned) await this.appendOutcome(view, abandoned);
  }

  private async aggregate(view: RoundView): Promise<void> {
    this.aggregating.add(view.number);
    try {
      const started = view.round.started!;
      const [global, state, { fetched, failed }] = await Promise.all([
        fetchModel(this.models, started.globalModelCid),
        fetchServerState(this.models, started.serverStateCid),
        fetchUpdates(this.models, view.round.accepted),
      ]);
      if (fetched.length < started.minUpdates) {
        const why = failed.map((f) => `${f.client}: ${f.reason}`).join("; ");
        return await this.abandon(view, `too few usable updates: ${fetched.length} of ${view.round.accepted.length} could be fetched, ${started.minUpdates} needed; ${why}`);
      }
      const computed = computeAggregate(started, global, state, fetched.map((f) => f.update));
      if (!computed.ok) return await this.abandon(view, `the aggregator refused the round: ${computed.reason}`);
      // The bytes go in before the event that names them, so no one reads an id with nothing behind it.
      await this.models.put(computed.modelBytes);
      await this.models.put(computed.stateBytes);
      const [proposal] = this.decided(
        {
          type: "ProposeAggregate",
          data: {
            proposer: this.producerId,
            modelCid: computed.modelCid,
            byteLength: computed.modelBytes.byteLength,
            serverStateCid: computed.serverStateCid,
            inputs: fetched.map(({ submitted: u }) => ({ client: u.client, weightsCid: u.weightsCid, examples: u.examples, ...(u.controlDeltaCid ? { controlDeltaCid: u.controlDeltaCid } : {}) })),
            used: computed.used,
            rejected: [...failed, ...computed.rejected],
            at: this.clock.now(),
          },
        },
        view,
      );
      if (!proposal) return;
      const stored = await this.append(proposal, {
        expectedLastSubjectSequence: 0,
        ...(view.startedEventId ? { correlationId: view.startedEventId, causationId: view.startedEventId } : {}),
      });
      if (stored !== "conflict") this.log.info(`FL round ${view.number}: aggregate proposed`, { model: started.modelId, cid: computed.modelCid, used: computed.used.length });
    } catch (error) {
      this.aggregating.delete(view.number); // tried again on the next tick
      throw error;
    }
  }
}

/** The content id a model would have, for callers comparing with a commit. */
export const modelContentId = (weights: Float32Array): string => contentId(modelBytes(weights));
