import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import * as Commit from "../../../domains/fl/commit/index.ts";
import { flEvents, flModelFilter, flSubjectOf, type FlEvent, type FlPhase } from "../../../domains/fl/events.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../../domains/identity/index.ts";
import type { EventDefinition } from "../../../domains/kernel/index.ts";
import { systemClock, type Clock } from "../../../streams/clock.ts";
import { ExpectedVersionConflictError } from "../../../streams/errors.ts";
import { EventStore, type AppendResult, type Producer } from "../../../streams/event-store.ts";
import { log as defaultLog } from "../../../streams/log.ts";
import { ModelStore, type ModelBytesStore } from "../../../streams/model-store.ts";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import { ProjectionRunner, type Projection } from "../../../streams/projection-runner.ts";
import type { VerifyPool } from "../../../streams/verify-pool.ts";
import { FlModelView, type RoundView } from "./model-view.ts";

/** Options every FL actor takes. */
export interface FlActorOptions {
  readonly modelId: string;
  /** The actor's identity: its producer id and Ed25519 key. */
  readonly producer: Producer;
  /** The coordinator whose rounds it follows (the only producer allowed to start rounds and propose). */
  readonly coordinatorId: string;
  /**
   * Enrol the producer's key on IDENTITY with this role at start, when no key is bound to its id
   * yet (an identity projection must be running to bind it). Default: do not enrol (the key is
   * bound already, e.g. a mesh node's announcement).
   */
  readonly enrolAs?: ProducerEnrolled["role"];
  /** Keys events are verified with. Default `ProducerRegistry.open(nc, { follow: true })`, closed on stop. */
  readonly registry?: ProducerRegistry;
  /** Where model bytes are put and fetched. Default the `fl-models` object store bucket. */
  readonly models?: ModelBytesStore;
  /** Shared signature-verification pool. Default: one owned by the actor's runner. */
  readonly verifyPool?: VerifyPool;
  /** How often deadlines are checked, ms. Default 250. */
  readonly tickMs?: number;
  readonly clock?: Clock;
  readonly log?: Pick<typeof defaultLog, "info" | "warn">;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What the coordinator, validators and clients share: a view of the model's FL history fed by
 * a durable consumer of their own (ProjectionRunner: decode, schema, signature, authorization,
 * quarantine), a signing producer, an event store to append through, and a reaction step run
 * after new events and on every tick, one at a time, once the actor has caught up with the
 * history that existed when it started (so a restarted actor never acts on a stale view).
 */
export abstract class FlActor {
  readonly view: FlModelView;
  protected readonly store: EventStore;
  protected readonly clock: Clock;
  protected readonly log: Pick<typeof defaultLog, "info" | "warn">;
  protected models!: ModelBytesStore;
  protected registry!: ProducerRegistry;
  private runner: ProjectionRunner | undefined;
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private scheduled = false;
  private catchUpSeq = 0;
  private ownsRegistry = false;
  protected stopped = false;
  private readonly waiters = new Set<() => void>();

  protected constructor(
    protected readonly nc: NatsConnection,
    protected readonly options: FlActorOptions,
    /** Durable consumer name prefix: `fl-<kind>`. */
    private readonly kind: string,
    /** Which FL subjects the actor reads (default every phase of the model). */
    private readonly phase?: FlPhase,
  ) {
    this.view = new FlModelView(options.modelId, options.coordinatorId);
    this.store = new EventStore(nc);
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? defaultLog;
    this.view.onFolded = () => {
      this.schedule();
      for (const wake of this.waiters) wake();
    };
  }

  get producerId(): string {
    return this.options.producer.producerId;
  }

  /** Durable consumer name: one per actor and model. */
  get consumerName(): string {
    return `${this.kind}-${this.options.modelId}-${this.producerId}`;
  }

  /** Binds the key (if asked), opens the model store and the consumer, and starts the tick. */
  protected async startActor(): Promise<void> {
    this.ownsRegistry = this.options.registry === undefined;
    this.registry = this.options.registry ?? (await ProducerRegistry.open(this.nc, { follow: true }));
    if (this.options.enrolAs !== undefined) await this.enrol(this.options.enrolAs);
    this.models = this.options.models ?? (await ModelStore.open(this.nc));
    const filter = flModelFilter(this.options.modelId, this.phase);
    const jsm = await jetstreamManager(this.nc);
    this.catchUpSeq = (await jsm.streams.getMessage("FL", { last_by_subj: filter }))?.seq ?? 0;
    const projection: Projection = {
      name: this.consumerName,
      stream: "FL",
      filterSubject: filter,
      events: [...flEvents] as EventDefinition[],
      authorize: (event) => this.view.authorize(event),
      apply: (event) => this.view.apply(event),
      // The view is rebuilt from the model's history at every start: nothing to restore.
      restore: async () => 0,
      checkpoint: async () => undefined,
    };
    this.runner = new ProjectionRunner(this.nc, projection, this.registry, {
      checkpointIntervalMs: 1_000,
      ...(this.options.verifyPool ? { verifyPool: this.options.verifyPool } : {}),
    });
    await this.runner.start();
    this.timer = setInterval(() => this.schedule(), this.options.tickMs ?? 250);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const wake of this.waiters) wake();
    await this.work;
    await this.runner?.stop();
    if (this.ownsRegistry) this.registry?.close();
    // Its view is rebuilt on the next start: the durable consumer need not outlive the actor.
    await jetstreamManager(this.nc)
      .then((jsm) => jsm.consumers.delete("FL", this.consumerName))
      .catch(() => undefined);
  }

  /** Whether the view holds everything the stream held when the actor started. */
  get caughtUp(): boolean {
    return (this.runner?.appliedSequence ?? 0) >= this.catchUpSeq;
  }

  /** Resolves once every producer id has a key in this actor's registry (keys travel through KV). */
  async waitForKeys(producerIds: readonly string[], timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = producerIds.filter((id) => !this.registry.get(id));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`${this.producerId}: no key known yet for ${missing.join(", ")}`);
      await sleep(25);
    }
  }

  /** Resolves with `check()`'s first defined value, re-checked after each folded event. */
  protected async until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (this.stopped) throw new Error(`${this.producerId} stopped while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.producerId}: ${what} did not happen within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.waiters.add(wake);
      });
    }
  }

  /** Runs `react` soon, once, after whatever is running. */
  protected schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.work = this.work.then(async () => {
        this.scheduled = false;
        if (this.stopped || !this.caughtUp) return;
        try {
          await this.react();
        } catch (error) {
          this.log.warn("FL actor step failed; it is tried again on the next tick", { actor: this.producerId, error: (error as Error).message });
        }
      });
    });
  }

  /** What the actor does given its view: vote, propose, train, close rounds. */
  protected abstract react(): Promise<void>;

  /** Signs an FL event with the actor's key and appends it; `conflict` when the expected sequence was stale. */
  protected async append(
    event: FlEvent,
    options: { readonly expectedLastSubjectSequence?: number; readonly correlationId?: string; readonly causationId?: string } = {},
  ): Promise<AppendResult | "conflict"> {
    const definition = flEvents.find((d) => d.type === event.type)!;
    const sealed = this.options.producer.seal(definition as EventDefinition, event.data as never, flSubjectOf(event), {
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      ...(options.causationId !== undefined ? { causationId: options.causationId } : {}),
    });
    try {
      return await this.store.append(sealed, options.expectedLastSubjectSequence === undefined ? {} : { expectedLastSubjectSequence: options.expectedLastSubjectSequence });
    } catch (error) {
      if (error instanceof ExpectedVersionConflictError) return "conflict";
      throw error;
    }
  }

  /**
   * Ends rounds whose commit is decided: a quorum of commits gives GlobalModelCommitted, a
   * phase past its deadline gives CommitTimedOut. Appended after the last outcome seen on the
   * round's outcome subject, so of racing finalizers exactly one stores it.
   */
  protected async closeRounds(): Promise<void> {
    const now = this.clock.now();
    for (const view of this.view.rounds.values()) {
      const commit = view.commit;
      if (!commit || commit.outcome || view.round.outcome) continue;
      for (const command of [{ type: "Finalize" }, { type: "CheckTimeout", data: { now } }] as const) {
        const decision = Commit.decide(command, commit);
        if (Result.isFailure(decision) || decision.success.length === 0) continue;
        await this.appendOutcome(view, decision.success[0] as FlEvent);
        break;
      }
    }
  }

  protected async appendOutcome(view: RoundView, event: FlEvent): Promise<void> {
    const result = await this.append(event, {
      expectedLastSubjectSequence: view.outcomeSeq,
      ...(view.startedEventId ? { correlationId: view.startedEventId } : {}),
      ...(view.proposalEventId ? { causationId: view.proposalEventId } : {}),
    });
    if (result !== "conflict") this.log.info(`FL round ${view.number}: ${event.type}`, { actor: this.producerId, model: this.options.modelId, seq: result.seq });
  }

  /** Enrols the key on IDENTITY (once per key) and waits until a projection binds it. */
  private async enrol(role: ProducerEnrolled["role"]): Promise<void> {
    const { producer } = this.options;
    const bound = this.registry.get(producer.producerId);
    if (bound && bound.keyId === producer.key.keyId) return;
    if (bound) throw new Error(`producer id ${producer.producerId} is bound to key ${bound.keyId}, not this actor's key ${producer.key.keyId}`);
    await this.store.append(
      producer.seal(ProducerEnrolled, { producerId: producer.producerId, publicKey: producer.key.publicKey, role, description: `x0 FL ${this.kind}` }, enrolmentSubject(producer.producerId)),
    );
    await this.waitForKeys([producer.producerId]);
  }
}
