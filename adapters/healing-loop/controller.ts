import type { NatsConnection } from "@nats-io/transport-node";
import { chaosEvents } from "../../domains/chaos/index.ts";
import { HealingLoop, MeshMonitor, observeMeshEvent, type HealingLoopOptions, type MonitorOptions, type NodeLiveness } from "../../domains/healing/index.ts";
import { healEvents, healSubjectOf, type HealEvent } from "../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { uuidv7 } from "../../streams/clock.ts";
import { EventStore, type Producer } from "../../streams/event-store.ts";
import type { SealedEvent } from "../../streams/envelope.ts";
import { log as defaultLog } from "../../streams/log.ts";
import type { ProducerRegistry } from "../../streams/producer-registry.ts";
import { ProjectionRunner, type Projection, type VerifiedEvent } from "../../streams/projection-runner.ts";
import { watchQuarantine, type QuarantinedEvent } from "../../streams/quarantine-watch.ts";

export interface HealingControllerOptions {
  readonly nc: NatsConnection;
  /** The loop's identity: producer id and key (kept on disk by the caller). */
  readonly producer: Producer;
  readonly producers: ProducerRegistry;
  readonly monitor?: MonitorOptions;
  readonly loop?: HealingLoopOptions;
  /** How often the loop runs a cycle, ms. Default 100. */
  readonly tickMs?: number;
  /**
   * With no MESH event for this long the loop stops judging silence: it cannot tell a dead
   * mesh from a dead uplink, and would otherwise open an incident for every node. Default 3 000.
   */
  readonly blindAfterMs?: number;
  /** MESH events older than this when they arrive (a replay after restart) are not live evidence. Default 10 000. */
  readonly staleAfterMs?: number;
  /** Called with each HEAL event the loop stored (tests, metrics). */
  readonly onAppended?: (event: HealEvent, seq: number) => void;
  readonly log?: Pick<typeof defaultLog, "info" | "warn">;
}

const heal = new Map([...healEvents, ...chaosEvents].map((d) => [d.type, d]));

/**
 * The MAPE-K loop on the backbone: MESH events arrive verified from the knowledge base's
 * runner (`observe`), refused signatures from the quarantine stream, the nodes' answers
 * from its own durable consumer on HEAL; every `tickMs` the pure `HealingLoop` decides, and
 * its events are signed with the loop's key and appended in order, each retried until
 * stored (its event id makes a retry a no-op on the server).
 *
 * Time: events are judged on their `occurredAt`, and silence at the event-time watermark (the
 * newest `occurredAt` seen, never ahead of the wall clock): when ingest stalls (a busy
 * machine, a checkpoint), the watermark stalls with it, so nobody looks silent for it.
 */
export class HealingController {
  readonly monitor: MeshMonitor;
  readonly loop: HealingLoop;
  private readonly store: EventStore;
  private readonly log: Pick<typeof defaultLog, "info" | "warn">;
  private runner: ProjectionRunner | undefined;
  private stopQuarantine: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watermark = 0;
  private lastArrival = 0;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Last event id of each incident's chain: the causation of the next one. */
  private readonly lastOfIncident = new Map<string, string>();
  private readonly tickMs: number;
  private readonly blindAfterMs: number;
  private readonly staleAfterMs: number;

  constructor(private readonly options: HealingControllerOptions) {
    this.monitor = new MeshMonitor(options.monitor);
    this.loop = new HealingLoop(this.monitor, () => uuidv7(), options.loop);
    this.store = new EventStore(options.nc);
    this.log = options.log ?? defaultLog;
    this.tickMs = options.tickMs ?? 100;
    this.blindAfterMs = options.blindAfterMs ?? 3_000;
    this.staleAfterMs = options.staleAfterMs ?? 10_000;
  }

  get producerId(): string {
    return this.options.producer.producerId;
  }

  /** The time the loop judges silence at: the newest event time seen, never ahead of now. */
  judgeAt(): number {
    return Math.round(Math.min(Date.now(), this.watermark));
  }

  liveness(nodeId: string): NodeLiveness | undefined {
    return this.monitor.liveness(nodeId, this.judgeAt());
  }

  /**
   * Enrols the loop's key (once per key), rebuilds the loop from the HEAL history, and starts
   * the cycle. Resolves when the loop runs.
   */
  async start(): Promise<void> {
    await this.enrol();
    const projection: Projection = {
      name: "healing-loop",
      stream: "HEAL",
      events: [...heal.values()],
      authorize: (event) => this.authorize(event),
      apply: (event) => this.applyHeal(event),
      // The loop keeps no state of its own: it replays HEAL from the start on every run.
      restore: async () => 0,
      checkpoint: async () => undefined,
    };
    this.runner = new ProjectionRunner(this.options.nc, projection, this.options.producers, { checkpointIntervalMs: 500 });
    await this.runner.start();
    this.stopQuarantine = await watchQuarantine(this.options.nc, "quarantine.MESH.bad-signature", (q) => this.onQuarantined(q));
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.cycle()).catch((error: Error) => this.log.warn("healing cycle failed", { error: error.message }));
    }, this.tickMs);
    this.log.info("healing loop started", { producer: this.producerId, tickMs: this.tickMs });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.stopQuarantine?.();
    await this.ticking;
    await this.runner?.stop();
  }

  private async enrol(): Promise<void> {
    const { producer, producers } = this.options;
    const bound = producers.get(producer.producerId);
    if (bound && bound.keyId === producer.key.keyId) return;
    if (bound) throw new Error(`producer id ${producer.producerId} is bound to key ${bound.keyId}, not this loop's key ${producer.key.keyId}: use another --heal-id or the original key`);
    const event = producer.seal(
      ProducerEnrolled,
      { producerId: producer.producerId, publicKey: producer.key.publicKey, role: "control-plane", description: "x0 healing loop" },
      enrolmentSubject(producer.producerId),
    );
    await this.store.append(event);
    // The identity projection binds it; commands verify against it from then on.
    for (let waited = 0; !producers.get(producer.producerId); waited += 100) {
      if (waited >= 15_000) {
        this.log.warn("the loop's key is not bound yet: is the identity projection running?", { producer: producer.producerId });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Nodes answer only for themselves; the loop trusts its own incident history and anyone's operator commands. */
  private authorize(event: VerifiedEvent): string | undefined {
    const p = event.payload as { targetNodeId?: string; issuedBy?: string };
    switch (event.meta.type) {
      case "heal.CommandApplied":
      case "heal.CommandFailed":
        return event.meta.producerId === p.targetNodeId ? undefined : `${event.meta.producerId} answered for ${p.targetNodeId}`;
      case "heal.HealingCommandIssued":
        return p.issuedBy === "operator" || event.meta.producerId === this.producerId ? undefined : `loop command from ${event.meta.producerId}, not ${this.producerId}`;
      default:
        return event.meta.type.startsWith("chaos.") || event.meta.producerId === this.producerId ? undefined : `incident event from ${event.meta.producerId}, not ${this.producerId}`;
    }
  }

  private applyHeal(event: VerifiedEvent): void {
    if (event.meta.type.startsWith("chaos.")) return;
    const e = { type: event.meta.type, data: event.payload } as HealEvent;
    const incidentId = (e.data as { incidentId?: string }).incidentId;
    if (incidentId !== undefined) this.lastOfIncident.set(incidentId, event.meta.eventId);
    this.loop.apply(e);
  }

  /** A MESH event verified by the knowledge base's runner. */
  observe(event: VerifiedEvent): void {
    const now = Date.now();
    const at = Date.parse(event.meta.occurredAt);
    if (!Number.isFinite(at) || now - at > this.staleAfterMs) return;
    this.lastArrival = now;
    if (at > this.watermark) this.watermark = at;
    observeMeshEvent(this.monitor, event.meta.type, event.meta.producerId, event.payload, at);
  }

  private onQuarantined(q: QuarantinedEvent): void {
    if (q.producerId !== undefined) this.monitor.badSignature(q.producerId, q.occurredAt ?? Date.now());
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    // Blind: no MESH event lately. Judging now would call every node silent.
    if (Date.now() - this.lastArrival > this.blindAfterMs) return;
    const events = this.loop.tick(this.judgeAt());
    for (const event of events) await this.append(event);
  }

  private async append(event: HealEvent): Promise<void> {
    const definition = heal.get(event.type)!;
    const incidentId = (event.data as { incidentId?: string }).incidentId;
    const correlationId = incidentId ?? (event.data as { commandId?: string }).commandId;
    const causationId = incidentId !== undefined ? this.lastOfIncident.get(incidentId) : undefined;
    const sealed: SealedEvent = this.options.producer.seal(definition, event.data as never, healSubjectOf(event), {
      ...(correlationId !== undefined ? { correlationId } : {}),
      ...(causationId !== undefined ? { causationId } : {}),
    });
    if (incidentId !== undefined) this.lastOfIncident.set(incidentId, sealed.meta.eventId);
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.store.append(sealed);
        this.options.onAppended?.(event, ack.seq);
        return;
      } catch (error) {
        if (this.stopped) throw error;
        if (attempt % 10 === 0) this.log.warn("healing event not stored yet; retrying", { type: event.type, error: (error as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
      }
    }
  }
}

