/**
 * The node's own healing commands, as a projection of HEAL: a durable consumer on
 * `heal.<nodeId>.command` only, fed by the ProjectionRunner (decode, schema, Ed25519 signature
 * against the producer registry: an unknown key or a bad signature goes to QUARANTINE and is
 * never carried out).
 *
 * Exactly once per command id, across NATS and agent restarts:
 * - the runner acknowledges and checkpoints a command's sequence only after its outcome is
 *   stored (`checkpoint` waits for the work and the outcome appends), so nothing is lost: a
 *   restart replays every command past the checkpoint;
 * - the local journal (`journal.ts`) says what a replayed command already did: an outcome the
 *   server acknowledged is not sent again, an outcome not yet acknowledged is republished
 *   byte for byte (the same event id, which the server's duplicate window drops), and a
 *   non-idempotent action interrupted mid-way is answered as failed, not repeated.
 */
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  CommandApplied,
  CommandFailed,
  healCommandSubject,
  HealingCommandIssued,
  healOutcomeSubject,
  MAX_STDERR,
} from "../../domains/healing/index.ts";
import { derivedId, type Clock } from "../../streams/clock.ts";
import type { SealedEvent } from "../../streams/envelope.ts";
import type { EventStore, Producer } from "../../streams/event-store.ts";
import type { Projection, VerifiedEvent } from "../../streams/projection-runner.ts";
import { isIdempotent, type NodeActuators } from "./actuators.ts";
import type { CommandJournal } from "./journal.ts";
import type { EnrolledRoles, Role } from "../../streams/enrolled-roles.ts";

/** EX_TEMPFAIL: a non-idempotent action was interrupted by an agent restart; it is not repeated. */
export const EX_TEMPFAIL = 75;

/**
 * The id of a node's outcome for a command, derived from both (UUID version 8 over SHA-256): a
 * command handled again after a crash yields the same id, which the server's duplicate window
 * drops and projections recognise.
 */
export const nodeOutcomeEventId = (nodeId: string, commandId: string): string => derivedId("x0tta6bl4/node/outcome/v1", nodeId, commandId);

export interface CommandCounts {
  /** Carried out with exit code 0 / a non-zero exit code, here and now. */
  applied: number;
  failed: number;
  /** Seen again after its outcome was stored: nothing done. */
  repeated: number;
  /** Replayed after a crash: the journaled outcome was published again, the action not repeated. */
  republished: number;
  /** Non-idempotent and interrupted by a restart: answered as failed (75), not repeated. */
  interrupted: number;
  /** From an enrolled producer whose role may not command this node (chaos, auditor). */
  refused: number;
  /** Outcomes the server acknowledged. */
  outcomesStored: number;
}

export interface NodeCommandsOptions {
  readonly nodeId: string;
  /** Durable consumer name; also the prefix of the checkpoint key. */
  readonly name: string;
  /** KV bucket holding the checkpoint. */
  readonly bucket: string;
  readonly replicas: number;
  readonly allowedRoles: ReadonlySet<Role>;
  readonly appendTimeoutMs: number;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Called when an outcome is stored (the server acknowledged it), before the command is checkpointed. */
  readonly onOutcomeStored?: ((commandId: string, seq: number) => void) | undefined;
}

const truncateTail = (text: string, max: number) => (text.length <= max ? text : `…${text.slice(-(max - 1))}`);
const truncateHead = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export class NodeCommandProjection implements Projection {
  readonly stream = "HEAL" as const;
  readonly filterSubject: string;
  readonly events = [HealingCommandIssued];
  readonly counts: CommandCounts = { applied: 0, failed: 0, repeated: 0, republished: 0, interrupted: 0, refused: 0, outcomesStored: 0 };
  private kv: KV | undefined;
  private work: Promise<void> = Promise.resolve();
  private pending: { commandId: string; event: SealedEvent }[] = [];
  stopping = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly producer: Producer,
    private readonly store: EventStore,
    private readonly roles: EnrolledRoles,
    private readonly journal: CommandJournal,
    private readonly actuators: NodeActuators,
    private readonly options: NodeCommandsOptions,
  ) {
    this.filterSubject = healCommandSubject(options.nodeId);
  }

  get name(): string {
    return this.options.name;
  }

  get outcomesPending(): number {
    return this.pending.length;
  }

  /** Only enrolled producers command (a node's key may not), and only this node, on its own subject. */
  authorize(event: VerifiedEvent): string | undefined {
    const { producerId, subject } = event.meta;
    if (!this.roles.isEnrolled(producerId)) return `${producerId} is not an enrolled producer (identity.ProducerEnrolled): it may not issue healing commands`;
    const target = (event.payload as HealingCommandIssued).targetNodeId;
    if (target !== this.options.nodeId) return `a command for ${target} reached ${this.options.nodeId}'s subject ${subject}`;
    if (subject !== healCommandSubject(target)) return `a command for ${target} belongs on ${healCommandSubject(target)}, not ${subject}`;
    return undefined;
  }

  apply(event: VerifiedEvent): void {
    const command = event.payload as HealingCommandIssued;
    // One at a time, in stream order; the checkpoint waits for all of them.
    this.work = this.work.then(() =>
      this.handle(event, command).catch((error: Error) => {
        // Stopping mid-way: fail the checkpoint, so the command comes again on the next start.
        if (this.stopping) throw error;
        this.options.log(`command ${command.commandId}: ${error.message}`);
      }),
    );
  }

  private async handle(event: VerifiedEvent, command: HealingCommandIssued): Promise<void> {
    const { commandId } = command;
    const role = await this.retrying(() => this.roles.roleOf(event.meta.producerId), "looking up the enrolment");
    if (role === undefined || !this.options.allowedRoles.has(role)) {
      this.counts.refused++;
      this.options.log(`refused command ${commandId} from ${event.meta.producerId} (role ${role ?? "none"}): only ${[...this.options.allowedRoles].join(" or ")} may command this node`);
      return;
    }
    const entry = this.journal.get(commandId);
    if (entry?.phase === "stored") {
      this.counts.repeated++;
      return;
    }
    if (entry?.phase === "done") {
      this.counts.republished++;
      this.pending.push({ commandId, event: entry.outcome });
    } else {
      let outcome: { exitCode: number; detail: string; stderr: string };
      if (entry?.phase === "begun") {
        this.counts.interrupted++;
        outcome = {
          exitCode: EX_TEMPFAIL,
          detail: "",
          stderr: `the agent stopped while carrying out ${command.action.kind}; it is not repeated (the interface may have been restarted once): issue it again to retry`,
        };
      } else {
        if (!isIdempotent(command.action)) await this.journal.begin(commandId, this.options.clock.now());
        outcome = await this.actuators.apply(command.action, command);
        if (outcome.exitCode === 0) this.counts.applied++;
        else this.counts.failed++;
      }
      const sealed = this.seal(event, command, outcome);
      // A journal that cannot be written (disk full) must not swallow the answer: the kernel already changed.
      await this.journal.done(commandId, sealed, this.options.clock.now()).catch((error: Error) => this.options.log(`journal: ${commandId} not recorded as done: ${error.message}`));
      this.pending.push({ commandId, event: sealed });
    }
    // Store at once so the control plane hears soon; what fails stays pending for the checkpoint to retry.
    await this.storePending().catch((error: Error) => this.options.log(`outcome of ${commandId} not stored yet: ${error.message}`));
  }

  private seal(event: VerifiedEvent, command: HealingCommandIssued, outcome: { exitCode: number; detail: string; stderr: string }): SealedEvent {
    const at = this.options.clock.now();
    const common = { commandId: command.commandId, ...(command.incidentId !== undefined ? { incidentId: command.incidentId } : {}), targetNodeId: this.options.nodeId };
    const subject = healOutcomeSubject(this.options.nodeId);
    const options = {
      correlationId: command.incidentId ?? command.commandId,
      causationId: event.meta.eventId,
      eventId: nodeOutcomeEventId(this.options.nodeId, command.commandId),
    };
    if (outcome.exitCode === 0) {
      return this.producer.seal(CommandApplied, { ...common, exitCode: 0, detail: truncateHead(outcome.detail, 1024), appliedAt: at }, subject, options);
    }
    const stderr = outcome.stderr.trim() || outcome.detail || `exit ${outcome.exitCode}`;
    return this.producer.seal(
      CommandFailed,
      { ...common, exitCode: Math.min(255, Math.max(1, outcome.exitCode)), stderr: truncateTail(stderr, MAX_STDERR), failedAt: at },
      subject,
      options,
    );
  }

  /** Retries a lookup that failed for infrastructure reasons, so a command is never dropped over a blip; gives up only when stopping. */
  private async retrying<T>(step: () => Promise<T>, what: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (this.stopping) throw error;
        this.options.log(`${what} failed, retrying: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  /** Appends pending outcomes in order; the first that fails stops the pass and stays pending with those after it. */
  private async storePending(): Promise<void> {
    while (this.pending.length > 0) {
      const { commandId, event } = this.pending[0]!;
      const { seq } = await this.store.append(event, { timeoutMs: this.options.appendTimeoutMs });
      this.pending.shift();
      this.counts.outcomesStored++;
      await this.journal.stored(commandId, seq, this.options.clock.now()).catch((error: Error) => this.options.log(`journal: ${commandId} not recorded as stored: ${error.message}`));
      this.options.onOutcomeStored?.(commandId, seq);
    }
  }

  async restore(): Promise<number> {
    this.kv = await new Kvm(this.nc).create(this.options.bucket, { history: 1, replicas: this.options.replicas });
    const checkpoint = await this.kv.get(`${this.options.name}.checkpoint`);
    return checkpoint?.operation === "PUT" ? Number(checkpoint.string()) : 0;
  }

  /** Every command up to `seq` is handled and its outcome stored before the sequence is recorded. */
  async checkpoint(seq: number): Promise<void> {
    await this.work;
    await this.storePending();
    await this.kv!.put(`${this.options.name}.checkpoint`, String(seq));
  }
}
