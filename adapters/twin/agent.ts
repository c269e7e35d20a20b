import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { healCommandSubject, HealingCommandIssued } from "../../domains/healing/index.ts";
import { derivedId } from "../../streams/clock.ts";
import { decodeCbor, encodeCbor, type SealedEvent } from "../../streams/envelope.ts";
import { EventStore } from "../../streams/event-store.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { ProjectionRunner, type Projection, type ProjectionRunnerOptions, type VerifiedEvent } from "../../streams/projection-runner.ts";
import { VerifyPool } from "../../streams/verify-pool.ts";
import type { MeshTwin } from "./twin.ts";

import { EnrolledRoles, type Role } from "../../streams/enrolled-roles.ts";

export interface TwinAgentOptions {
  /** Durable consumer name, also the prefix of its keys in the bucket. Default `twin-agent-s<seed>`. */
  readonly name?: string;
  /** KV bucket holding the checkpoint and the answered command ids. Default `twin-agent`. */
  readonly bucket?: string;
  /** Replicas of the bucket: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
  /**
   * Keys commands are verified with. Default: `ProducerRegistry.open(nc, { follow: true })`, so a
   * control plane that enrols after the twin started is heard; opened and closed by the agent.
   */
  readonly registry?: ProducerRegistry;
  /** Enrolment roles whose commands are carried out. Default control-plane and operator. */
  readonly roles?: readonly Role[];
  /** Options of the command consumer. Default: checkpoint after every batch, one verify worker. */
  readonly runner?: ProjectionRunnerOptions;
  /** Acknowledgement timeout of one outcome append, ms. Default 5 000. */
  readonly appendTimeoutMs?: number;
  /** Where refusals and storage trouble are written. Default: nowhere. */
  readonly log?: (line: string) => void;
}

export interface TwinAgentStats {
  /** Commands carried out with exit code 0 / a non-zero exit code (outcome published once each). */
  readonly applied: number;
  readonly failed: number;
  /** Commands whose id was answered before: no second outcome. */
  readonly repeated: number;
  /** Commands for nodes of another twin: ignored. */
  readonly notOurs: number;
  /** Commands the target node could not answer (down, hung or cut off from every observer). */
  readonly unanswered: number;
  /** Commands from enrolled producers whose role may not command (e.g. chaos). */
  readonly refused: number;
  /** Outcomes the server acknowledged, and outcomes still waiting to be stored. */
  readonly outcomesStored: number;
  readonly outcomesPending: number;
}

/**
 * The id of a node's outcome for a command: derived from both (UUID version 8 over SHA-256), so a
 * command replayed after a crash between storing its outcome and the checkpoint yields the same
 * event id, which the server's duplicate window drops.
 */
export const outcomeEventId = (nodeId: string, commandId: string): string => derivedId("x0tta6bl4/twin/outcome/v1", nodeId, commandId);

/** Answered command ids kept (and persisted) to refuse a repeat after a restart. */
const MAX_ANSWERED = 2_000;

/**
 * The twin's node agents as one projection of HEAL: each command for a node of this twin is
 * carried out by that node and answered on `heal.<nodeId>.outcome`, signed by the node.
 *
 * Exactly once, across restarts: an outcome is stored before the command's sequence is
 * checkpointed (`checkpoint` waits for it), so a crash replays commands whose outcome may be
 * missing; the replayed outcome has the same event id (`outcomeEventId`), which the server drops
 * inside its duplicate window, and answered ids are persisted with the checkpoint so a command
 * id seen again later (the loop re-sending) gets no second answer.
 */
class TwinCommandProjection implements Projection {
  readonly stream = "HEAL" as const;
  readonly filterSubject = "heal.*.command";
  readonly events = [HealingCommandIssued];
  private kv: KV | undefined;
  private work: Promise<void> = Promise.resolve();
  private pending: SealedEvent[] = [];
  private readonly answered = new Set<string>();
  private readonly allowed: ReadonlySet<Role>;
  stopping = false;
  readonly counts = { applied: 0, failed: 0, repeated: 0, notOurs: 0, unanswered: 0, refused: 0, outcomesStored: 0 };

  constructor(
    readonly name: string,
    private readonly nc: NatsConnection,
    private readonly twin: MeshTwin,
    private readonly registry: ProducerRegistry,
    private readonly store: EventStore,
    private readonly options: TwinAgentOptions,
  ) {
    this.allowed = new Set(options.roles ?? ["control-plane", "operator"]);
    this.enrolled = new EnrolledRoles(nc, registry);
  }

  private readonly enrolled: EnrolledRoles;

  get outcomesPending(): number {
    return this.pending.length;
  }

  /** Only enrolled producers command (a node's key, bound by its announcement, may not), and only on the target's own subject. */
  authorize(event: VerifiedEvent): string | undefined {
    const { producerId, subject } = event.meta;
    if (this.registry.get(producerId)?.introducedAt.stream !== "IDENTITY") {
      return `${producerId} is not an enrolled producer (identity.ProducerEnrolled): it may not issue healing commands`;
    }
    const target = (event.payload as HealingCommandIssued).targetNodeId;
    if (subject !== healCommandSubject(target)) return `a command for ${target} belongs on ${healCommandSubject(target)}, not ${subject}`;
    return undefined;
  }

  apply(event: VerifiedEvent): void {
    const command = event.payload as HealingCommandIssued;
    if (!this.twin.has(command.targetNodeId)) {
      this.counts.notOurs++;
      return;
    }
    // Commands are handled one at a time, in stream order; the checkpoint waits for all of them.
    this.work = this.work.then(() =>
      this.handle(event, command).catch((error: Error) => {
        // Stopping mid-lookup: fail the checkpoint so the command is delivered again on the next start.
        if (this.stopping) throw error;
        this.options.log?.(`twin agent: command ${command.commandId} for ${command.targetNodeId} failed: ${error.message}`);
      }),
    );
  }

  private async handle(event: VerifiedEvent, command: HealingCommandIssued): Promise<void> {
    const role = await this.retrying(() => this.enrolled.roleOf(event.meta.producerId), "looking up the enrolment");
    if (role === undefined || !this.allowed.has(role)) {
      this.counts.refused++;
      this.options.log?.(`twin agent: refused command ${command.commandId} from ${event.meta.producerId} (role ${role ?? "unknown"})`);
      return;
    }
    const key = `${command.targetNodeId}/${command.commandId}`;
    if (this.answered.has(key)) {
      this.counts.repeated++;
      return;
    }
    const result = this.twin.applyCommand(command);
    if (!result) {
      this.counts.unanswered++;
      return;
    }
    if (result.repeated) {
      this.counts.repeated++;
      return;
    }
    if (result.outcome.type === "heal.CommandApplied") this.counts.applied++;
    else this.counts.failed++;
    this.pending.push(
      this.twin.sealOutcome(result.outcome, {
        correlationId: command.incidentId ?? command.commandId,
        causationId: event.meta.eventId,
        eventId: outcomeEventId(command.targetNodeId, command.commandId),
      }),
    );
    this.remember(key);
    // Store at once so the loop hears soon; what fails stays pending for the checkpoint to retry.
    await this.storePending().catch((error: Error) => this.options.log?.(`twin agent: outcome not stored yet: ${error.message}`));
  }

  /** Retries a lookup that failed for infrastructure reasons, so a command is never dropped over a blip; gives up only when stopping. */
  private async retrying<T>(step: () => Promise<T>, what: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (this.stopping) throw error;
        this.options.log?.(`twin agent: ${what} failed, retrying: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  private remember(key: string): void {
    this.answered.add(key);
    if (this.answered.size > MAX_ANSWERED) this.answered.delete(this.answered.values().next().value!);
  }

  /** Appends pending outcomes in order; the first that fails stops the pass and stays pending with those after it. */
  private async storePending(): Promise<void> {
    while (this.pending.length > 0) {
      await this.store.append(this.pending[0]!, { timeoutMs: this.options.appendTimeoutMs ?? 5_000 });
      this.pending.shift();
      this.counts.outcomesStored++;
    }
  }

  async restore(): Promise<number> {
    this.kv = await new Kvm(this.nc).create(this.options.bucket ?? "twin-agent", { history: 1, replicas: this.options.replicas ?? 1 });
    const answered = await this.kv.get(`${this.name}.answered`);
    if (answered?.operation === "PUT") for (const key of decodeCbor(answered.value) as string[]) this.answered.add(key);
    const checkpoint = await this.kv.get(`${this.name}.checkpoint`);
    return checkpoint?.operation === "PUT" ? Number(checkpoint.string()) : 0;
  }

  /** Every command up to `seq` is handled and its outcome stored before the sequence is recorded. */
  async checkpoint(seq: number): Promise<void> {
    await this.work;
    await this.storePending();
    await this.kv!.put(`${this.name}.answered`, encodeCbor([...this.answered]));
    await this.kv!.put(`${this.name}.checkpoint`, String(seq));
  }
}

/**
 * Connects a running MeshTwin to the control plane: consumes `heal.*.command` on HEAL (signature
 * verified against the producer registry; unknown keys and node keys go to QUARANTINE), carries
 * out each command for a node of this twin, and appends the node's signed outcome.
 */
export class TwinAgent {
  private constructor(
    private readonly projection: TwinCommandProjection,
    private readonly runner: ProjectionRunner,
    private readonly cleanup: () => Promise<void>,
  ) {}

  static async start(nc: NatsConnection, twin: MeshTwin, options: TwinAgentOptions = {}): Promise<TwinAgent> {
    const ownsRegistry = options.registry === undefined;
    const registry = options.registry ?? (await ProducerRegistry.open(nc, { follow: true, ...(options.replicas ? { replicas: options.replicas } : {}) }));
    const ownsPool = options.runner?.verifyPool === undefined;
    // Commands are few: one verification worker, not one per core beside the control plane's.
    const verifyPool = options.runner?.verifyPool ?? new VerifyPool({ workers: 1 });
    const projection = new TwinCommandProjection(options.name ?? `twin-agent-s${twin.seed}`, nc, twin, registry, new EventStore(nc), options);
    const runner = new ProjectionRunner(nc, projection, registry, { checkpointEvery: 1, ...options.runner, verifyPool });
    const cleanup = async () => {
      if (ownsPool) await verifyPool.close();
      if (ownsRegistry) registry.close();
    };
    try {
      await runner.start();
    } catch (error) {
      await cleanup();
      throw error;
    }
    return new TwinAgent(projection, runner, cleanup);
  }

  /** Durable consumer name. */
  get name(): string {
    return this.projection.name;
  }

  /** Last HEAL sequence whose commands are handled and whose outcomes are stored. */
  get durableSequence(): number {
    return this.runner.durableSequence;
  }

  get stats(): TwinAgentStats {
    return { ...this.projection.counts, outcomesPending: this.projection.outcomesPending };
  }

  /** Resolves once every HEAL event up to `seq` is handled and checkpointed. */
  waitFor(seq: number, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.runner.waitFor(seq, { durable: true, ...options });
  }

  /** Stops consuming; handles what was delivered, stores its outcomes and checkpoints (a few retries at most). */
  async stop(): Promise<void> {
    this.projection.stopping = true;
    try {
      await this.runner.stop();
    } finally {
      await this.cleanup();
    }
  }
}
