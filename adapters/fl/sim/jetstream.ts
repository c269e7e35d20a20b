import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { modelFromBytes } from "../../../domains/fl/content-id.ts";
import type { AggregateProposed, GlobalModelCommitted, RoundStarted } from "../../../domains/fl/events.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../../domains/identity/index.ts";
import { IdentityProjection } from "../../../projections/identity/index.ts";
import { connectNats } from "../../../streams/connection.ts";
import { EventStore, Producer } from "../../../streams/event-store.ts";
import { generateSigningKey } from "../../../streams/keys.ts";
import { ModelStore } from "../../../streams/model-store.ts";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import { ProjectionRunner } from "../../../streams/projection-runner.ts";
import { ensureStreams } from "../../../streams/topology.ts";
import { VerifyPool } from "../../../streams/verify-pool.ts";
import { startNatsServer, type RunningNatsServer } from "../../nats-server/index.ts";
import { FlClient, FlCoordinator, FlValidator, type FlActor, type TrainFunction } from "../protocol/index.ts";
import type { Cohort } from "./cohort.ts";
import { validatorFaults } from "./settings.ts";
import { RoundStuckError, SimStoppedError, type RoundOutcome, type RoundTransport } from "./transport.ts";

export interface JetStreamTransportOptions {
  /** NATS servers to use. Absent: an embedded nats-server on a temp store, deleted at close. */
  readonly servers?: readonly string[];
  /** The FL model id of the run: its subjects `fl.<modelId>.…` and the prefix of every actor's producer id. */
  readonly modelId: string;
  /** Where the actors' warnings go. Default: dropped. */
  readonly warn?: (message: string, fields?: Record<string, unknown>) => void;
  /** How often the coordinator and validators check deadlines, ms. Default 200 (clients, which react only to new rounds, every 1 000). */
  readonly tickMs?: number;
}

/** Stream storage budget on the embedded server (nats-server reserves each stream's share up front). */
const EMBEDDED_STORAGE_BYTES = 2 * 1024 ** 3;

/**
 * The JetStream transport: the real FL protocol (adapters/fl/protocol) on a real nats-server.
 * The coordinator, every validator and every client is its own actor on its own NATS
 * connection with its own Ed25519 key, enrolled on IDENTITY (roles fl-coordinator, fl-validator,
 * fl-client) and bound by an identity projection run here; they talk only through the FL stream
 * and the `fl-models` object store. Each client's `train` is the simulation's local step.
 *
 * With --secagg, the round has one participant, the secure aggregator (role fl-client): it runs
 * the secure-aggregation round among the clients selected with the protocol's rule IN PROCESS
 * (see secure.ts) and submits the secure sum as its update, which the validators commit.
 */
export class JetStreamTransport implements RoundTransport {
  readonly kind = "jetstream" as const;
  /** The NATS URL the actors use. */
  url = "";
  private readonly connections: NatsConnection[] = [];
  private readonly actors: FlActor[] = [];
  private coordinator: FlCoordinator | undefined;
  private models!: ModelStore;
  private identityRunner: ProjectionRunner | undefined;
  private pool: VerifyPool | undefined;
  private server: RunningNatsServer | undefined;
  private storeDir: string | undefined;
  private closing: Promise<void> | undefined;
  /** Secure-aggregation rounds run by the aggregator actor, by round. */
  private readonly secure = new Map<number, { selected: readonly string[]; survivors: readonly string[]; threshold: number }>();

  private constructor(
    private readonly cohort: Cohort,
    private readonly options: JetStreamTransportOptions,
  ) {}

  /** Connects (or starts an embedded server), enrols every actor's key and starts the actors. */
  static async start(cohort: Cohort, initial: Float32Array, options: JetStreamTransportOptions): Promise<JetStreamTransport> {
    const transport = new JetStreamTransport(cohort, options);
    try {
      await transport.open(initial);
    } catch (error) {
      await transport.close();
      throw error;
    }
    return transport;
  }

  get headCid(): string {
    return this.coordinator?.view.head?.modelCid ?? "";
  }

  private async connect(name: string): Promise<NatsConnection> {
    const nc = await connectNats({ servers: this.url, name });
    this.connections.push(nc);
    return nc;
  }

  private async open(initial: Float32Array): Promise<void> {
    const { cohort, options } = this;
    const { settings } = cohort;
    const modelId = options.modelId;
    if (options.servers) this.url = options.servers.join(",");
    else {
      this.storeDir = await mkdtemp(join(tmpdir(), "x0-fl-sim-"));
      this.server = await startNatsServer({ dataDir: this.storeDir });
      this.url = this.server.url;
    }
    const nc = await this.connect(`${modelId}-sim`);
    const jsm = await jetstreamManager(nc);
    // An embedded server (or a bare one at NATS_URL) has no streams yet; a control plane's are left as they are.
    const haveStreams = await jsm.streams.info("FL").then(
      () => true,
      () => false,
    );
    if (!haveStreams) await ensureStreams(jsm, { storageBytes: EMBEDDED_STORAGE_BYTES });
    this.models = await ModelStore.open(nc);
    this.pool = new VerifyPool({ workers: 1 });

    // Keys, as a control plane binds them: every actor enrols on IDENTITY, an identity projection binds the keys.
    const coordinator = new Producer(`${modelId}-coord`, generateSigningKey());
    const validators = Array.from({ length: settings.validators }, (_, i) => new Producer(`${modelId}-v${i + 1}`, generateSigningKey()));
    const secureAggregator = settings.secagg ? new Producer(`${modelId}-secagg`, generateSigningKey()) : undefined;
    const clients = secureAggregator ? [] : cohort.ids.map((id) => new Producer(id, generateSigningKey()));
    const registry = await ProducerRegistry.open(nc);
    this.identityRunner = new ProjectionRunner(nc, new IdentityProjection(undefined, { registry, name: `fl-sim-identity-${modelId}` }), registry, {
      verifyPool: this.pool,
      checkpointIntervalMs: 50,
    });
    await this.identityRunner.start();
    const store = new EventStore(nc);
    let last = 0;
    const enrol = async (p: Producer, role: ProducerEnrolled["role"]) => {
      last = (await store.append(p.seal(ProducerEnrolled, { producerId: p.producerId, publicKey: p.key.publicKey, role, description: "x0 fl sim" }, enrolmentSubject(p.producerId)))).seq;
    };
    await enrol(coordinator, "fl-coordinator");
    for (const v of validators) await enrol(v, "fl-validator");
    for (const c of [...clients, ...(secureAggregator ? [secureAggregator] : [])]) await enrol(c, "fl-client");
    await this.identityRunner.waitFor(last, { durable: true, timeoutMs: 60_000 });
    registry.close();

    const log = { info: () => undefined, warn: options.warn ?? (() => undefined) };
    const common = { modelId, coordinatorId: coordinator.producerId, verifyPool: this.pool, tickMs: options.tickMs ?? 200, log };
    // A client acts on a RoundStarted the moment its view folds it; its tick only retries a failed step.
    const clientCommon = { ...common, tickMs: Math.max(common.tickMs, 1_000) };
    const f = validatorFaults(settings.validators);
    const faulty = settings.faultyValidators;
    for (const [i, producer] of validators.entries()) {
      const byzantine = faulty && i >= validators.length - faulty.count ? { byzantine: faulty.behaviour } : {};
      this.actors.push(await FlValidator.start(await this.connect(producer.producerId), { ...common, producer, ...byzantine }));
    }
    if (secureAggregator) {
      this.actors.push(await FlClient.start(await this.connect(secureAggregator.producerId), { ...clientCommon, producer: secureAggregator, train: this.secureTrain() }));
    }
    for (const producer of clients) {
      this.actors.push(await FlClient.start(await this.connect(producer.producerId), { ...clientCommon, producer, train: this.clientTrain(producer.producerId) }));
    }
    this.coordinator = await FlCoordinator.start(await this.connect(coordinator.producerId), {
      ...common,
      producer: coordinator,
      strategy: settings.strategy,
      training: { epochs: settings.epochs, batchSize: settings.batchSize, learningRate: settings.learningRate },
      population: secureAggregator ? [secureAggregator.producerId] : cohort.ids,
      validators: validators.map((v) => v.producerId),
      f,
      fraction: secureAggregator ? 1 : settings.fraction,
      minUpdates: secureAggregator ? 1 : Math.min(settings.minUpdates, cohort.perRound),
      roundDurationMs: settings.roundTimeoutMs,
      phaseTimeoutMs: settings.phaseTimeoutMs,
      seed: settings.seed,
      initialWeights: initial,
    });
    this.actors.push(this.coordinator);
    const everyone = [coordinator, ...validators, ...clients, ...(secureAggregator ? [secureAggregator] : [])].map((p) => p.producerId);
    for (const actor of this.actors) await actor.waitForKeys(actor instanceof FlClient ? [coordinator.producerId] : everyone, 60_000);
  }

  /** A client's `train`: the simulation's local step on what the round announces. */
  private clientTrain(id: string): TrainFunction {
    return async ({ started, global, serverState }) => this.cohort.client(id).update(this.localRoundOf(started, global, serverState, started.selectedClients.length));
  }

  /** The secure aggregator's `train`: a whole secure-aggregation round among the clients the protocol's rule selects. */
  private secureTrain(): TrainFunction {
    return async ({ started, global, serverState }) => {
      const sum = await this.cohort.secureUpdate(started.modelId, started.round, global, serverState);
      this.secure.set(started.round, { selected: sum.selected, survivors: sum.survivors, threshold: sum.threshold });
      return sum.update;
    };
  }

  private localRoundOf(started: RoundStarted, global: Float32Array, serverState: Parameters<TrainFunction>[0]["serverState"], selected: number) {
    const local = this.cohort.localRound(started.round, global, serverState, selected);
    // The round's announcement rules: its strategy and training settings.
    return { ...local, strategy: started.strategy, training: started.training ?? local.training };
  }

  async runRound(round: number): Promise<RoundOutcome> {
    const { settings } = this.cohort;
    const coordinator = this.coordinator;
    if (!coordinator) throw new Error("the JetStream transport is not started");
    try {
      const started = await coordinator.startRound();
      if (started.round !== round) this.options.warn?.(`the stream's next round is ${started.round}, not ${round}`);
      const waitMs = settings.roundTimeoutMs + 4 * settings.phaseTimeoutMs + 30_000;
      const outcome = await coordinator.waitForOutcome(started.round, waitMs).catch((error: unknown) => {
        if (this.closing) throw error;
        throw new RoundStuckError(started.round, `round ${started.round} has no outcome after ${Math.round(waitMs / 1000)} s: ${this.diagnose(started.round)}`, { cause: error });
      });
      const view = coordinator.view.rounds.get(started.round);
      const proposal: AggregateProposed | undefined = view?.round.proposal ?? view?.commit?.proposal;
      const secure = this.secure.get(started.round);
      this.secure.delete(started.round);
      const selected = secure?.selected ?? started.selectedClients;
      const used = secure?.survivors ?? proposal?.used ?? [];
      if (outcome.type === "fl.GlobalModelCommitted") {
        const committed = outcome.data as GlobalModelCommitted;
        const model = modelFromBytes(await this.models.get(committed.modelCid));
        return {
          kind: "committed",
          round: started.round,
          model,
          modelCid: committed.modelCid,
          previousModelCid: committed.previousModelCid,
          selected,
          used,
          rejected: proposal?.rejected ?? [],
          commitMs: proposal ? Math.max(0, committed.committedAt - proposal.proposedAt) : 0,
          ...(secure ? { secaggThreshold: secure.threshold } : {}),
        };
      }
      const reason = (outcome.data as { reason: string }).reason;
      return { kind: outcome.type === "fl.CommitTimedOut" ? "timed-out" : "abandoned", round: started.round, reason, selected, used: proposal ? used : [] };
    } catch (error) {
      if (this.closing) throw new SimStoppedError(`stopped during round ${round}`, { cause: error });
      throw error;
    }
  }

  /** What the coordinator's view holds of a round (for a round that does not end). */
  private diagnose(round: number): string {
    const view = this.coordinator?.view.rounds.get(round);
    if (!view) return "the coordinator's view has no such round";
    const c = view.commit;
    const votes = (vs: readonly { validator: string; modelCid?: string }[] | undefined) => (vs ?? []).map((v) => `${v.validator}:${v.modelCid ? v.modelCid.slice(-6) : "nil"}`).join(" ") || "none";
    return [
      `round status ${view.round.status}, ${view.round.accepted.length} updates accepted`,
      `commit status ${c?.status ?? "none"}, proposal ${c?.proposal ? c.proposal.modelCid.slice(-6) : "none"}`,
      `prepares ${votes(c?.prepares)}, commits ${votes(c?.commits)}`,
      `ignored ${(c?.ignored ?? []).map((i) => `${i.type} (${i.reason}: ${i.message})`).join("; ") || "none"}`,
      `outcome subject seq ${view.outcomeSeq}`,
    ].join("; ");
  }

  close(): Promise<void> {
    this.closing ??= this.release();
    return this.closing;
  }

  private async release(): Promise<void> {
    for (const actor of [...this.actors].reverse()) await actor.stop().catch(() => undefined);
    if (this.identityRunner) {
      await this.identityRunner.stop().catch(() => undefined);
      const nc = this.connections[0];
      if (nc && !this.server) {
        // Leave a shared server as it was: this run's identity consumer goes with it.
        await jetstreamManager(nc)
          .then((jsm) => jsm.consumers.delete("IDENTITY", `fl-sim-identity-${this.options.modelId}`))
          .catch(() => undefined);
      }
    }
    await Promise.all(this.connections.map((c) => c.close().catch(() => undefined)));
    await this.pool?.close().catch(() => undefined);
    await this.server?.stop().catch(() => undefined);
    if (this.storeDir) await rm(this.storeDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
