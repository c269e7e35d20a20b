import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import type { EventDefinition } from "../domains/kernel/index.ts";
import { decodeMessage, resolveProducerKey } from "./decode.ts";
import { canonicalHead, Header, type EnvelopeMeta } from "./envelope.ts";
import { EventRejectedError, type QuarantineReason } from "./errors.ts";
import { checkpointSeconds, eventsApplied, eventsQuarantined, projectionSequence } from "./metrics.ts";
import { log } from "./log.ts";
import type { ProducerRegistry } from "./producer-registry.ts";
import type { StreamName } from "./topology.ts";
import { VerifyPool } from "./verify-pool.ts";
import { wireHeaderBytes } from "./wire-headers.ts";

/** An event that decoded, validated and verified: what projections apply. */
export interface VerifiedEvent<T = unknown> {
  readonly stream: string;
  readonly seq: number;
  readonly meta: EnvelopeMeta;
  readonly payload: T;
}

/** A read model fed by the runner. */
export interface Projection {
  /** Durable consumer name; also the metric label. */
  readonly name: string;
  readonly stream: StreamName;
  /** One subject filter (nats-server 2.9 takes one per consumer). Default: the whole stream. */
  readonly filterSubject?: string;
  /** Event types this projection accepts; any other type on its subjects is quarantined. */
  readonly events: readonly EventDefinition[];
  /**
   * Event types that introduce their producer's key (trust on first use); returns the key
   * carried in the payload. The event must verify with that key.
   */
  readonly keyIntroductions?: Readonly<Record<string, (payload: unknown) => Uint8Array>>;
  /** Refuses a verified event that its producer may not send (e.g. a node speaking for another). */
  authorize?(event: VerifiedEvent): string | undefined;
  /** Applies one event to memory. Synchronous, and idempotent by `event.seq`. */
  apply(event: VerifiedEvent): void;
  /** Loads persisted state; returns the last stream sequence applied (0 for none). */
  restore(): Promise<number>;
  /** Persists state through `seq` durably; the runner acknowledges only after it returns. */
  checkpoint(seq: number): Promise<void>;
}

export interface ProjectionRunnerOptions {
  /** Shared verification pool. Default: a pool owned by this runner, one worker per core. */
  readonly verifyPool?: VerifyPool;
  /** Messages per verification batch. Default 256. */
  readonly batchSize?: number;
  /** Checkpoint after this many events. Default 10 000. */
  readonly checkpointEvery?: number;
  /** ...or after this long with unpersisted events, in ms. Default 1 000. */
  readonly checkpointIntervalMs?: number;
  /** Unacknowledged messages the server lets the consumer hold. Default 50 000. */
  readonly maxAckPending?: number;
  /** Event ids remembered to catch duplicates beyond the server's dedup window. Default 100 000. */
  readonly recentEventIds?: number;
  /** Called after each checkpoint with the sequence now durable. */
  readonly onCheckpoint?: (seq: number) => void;
  /**
   * Called with each event right after the projection applied it: a live observer (the
   * healing loop watches MESH through the knowledge base's runner, verified once). Also
   * called for events replayed after a restart; an observer judges their age itself.
   */
  readonly onApplied?: (event: VerifiedEvent) => void;
}

interface Prepared {
  readonly msg: JsMsg;
  readonly rejection?: EventRejectedError;
  readonly meta?: EnvelopeMeta;
  readonly payload?: unknown;
  readonly definition?: EventDefinition;
  /** Index into the batch's verification requests. */
  readonly verifyIndex?: number;
  /** The key this event verifies with was introduced by a not yet applied announcement. */
  readonly provisional?: ProvisionalKey;
  readonly introduces?: ProvisionalKey;
}

interface PendingQuarantine {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
  /** The first publish attempt, made as soon as the event was refused. */
  readonly sent: Promise<unknown> | undefined;
}

interface ProvisionalKey {
  readonly producerId: string;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  /** Set when the introducing event has been applied (true) or refused (false). */
  accepted?: boolean;
}

const reject = (reason: QuarantineReason, message: string) => new EventRejectedError({ reason, message });

/** One line, bounded: quarantine details travel in headers. */
const headerSafe = (text: string) => text.replace(/[\r\n]+/g, " ").slice(0, 1000);

/**
 * Drives one projection from a durable pull consumer: decode → validate → verify (on all
 * cores) → apply in stream order → checkpoint → acknowledge. Bad events go to QUARANTINE
 * with their reason, original bytes and headers; nothing stops the consumer.
 */
export class ProjectionRunner {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private readonly ownsPool: boolean;
  private readonly pool: VerifyPool;
  private readonly definitions = new Map<string, EventDefinition>();
  private readonly maxEventBytes: number;
  private readonly provisional = new Map<string, ProvisionalKey>();
  private readonly recentIds = new Set<string>();
  private messages: ConsumerMessages | undefined;
  private chain: Promise<void> = Promise.resolve();
  private batch: JsMsg[] = [];
  private batchScheduled = false;
  private applied = 0;
  private durable = 0;
  private lastUnacked: JsMsg | undefined;
  private sinceCheckpoint = 0;
  private quarantines: PendingQuarantine[] = [];
  private stopping = false;
  /** Running index of verification requests; a batch's requests are contiguous. */
  private verifyCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private readonly options: Required<Omit<ProjectionRunnerOptions, "verifyPool" | "onCheckpoint" | "onApplied">>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly projection: Projection,
    private readonly registry: ProducerRegistry,
    private readonly runnerOptions: ProjectionRunnerOptions = {},
  ) {
    this.js = jetstream(nc);
    this.ownsPool = runnerOptions.verifyPool === undefined;
    this.pool = runnerOptions.verifyPool ?? new VerifyPool();
    for (const d of projection.events) this.definitions.set(d.type, d);
    this.maxEventBytes = Math.max(...projection.events.map((d) => d.maxPayloadBytes));
    this.options = {
      batchSize: runnerOptions.batchSize ?? 256,
      checkpointEvery: runnerOptions.checkpointEvery ?? 10_000,
      checkpointIntervalMs: runnerOptions.checkpointIntervalMs ?? 1_000,
      maxAckPending: runnerOptions.maxAckPending ?? 50_000,
      recentEventIds: runnerOptions.recentEventIds ?? 100_000,
    };
  }

  /** Last stream sequence applied to memory. */
  get appliedSequence(): number {
    return this.applied;
  }

  /** Last stream sequence persisted by a checkpoint. */
  get durableSequence(): number {
    return this.durable;
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    this.applied = this.durable = await this.projection.restore();
    projectionSequence.set({ projection: this.projection.name, stream: this.projection.stream }, this.durable);
    await this.ensureConsumer();
    const consumer = await this.js.consumers.get(this.projection.stream, this.projection.name);
    this.messages = await consumer.consume({
      max_messages: Math.min(this.options.maxAckPending, 4 * this.options.batchSize),
      callback: (msg) => this.receive(msg),
    });
    this.timer = setInterval(() => {
      if (this.sinceCheckpoint > 0) this.enqueue(() => this.checkpoint());
    }, this.options.checkpointIntervalMs);
  }

  /**
   * Starts the durable consumer right after the last checkpoint. A consumer that already
   * delivered past it (events applied in memory but never checkpointed) is recreated, so
   * those events come again at once instead of after the ack wait.
   */
  private async ensureConsumer(): Promise<void> {
    const jsm = this.jsm!;
    const { stream, name, filterSubject } = this.projection;
    try {
      const info = await jsm.consumers.info(stream, name);
      if (info.delivered.stream_seq === this.durable && info.ack_floor.stream_seq <= this.durable) return;
      await jsm.consumers.delete(stream, name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
    const config: Partial<ConsumerConfig> = {
      durable_name: name,
      ack_policy: AckPolicy.All,
      max_ack_pending: this.options.maxAckPending,
      ack_wait: 60 * 1e9,
      ...(filterSubject ? { filter_subject: filterSubject } : {}),
      ...(this.durable > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.durable + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    };
    await jsm.consumers.add(stream, config);
  }

  /** Resolves once every event up to `seq` has been applied (and checkpointed when `durable`). */
  async waitFor(seq: number, options: { durable?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while ((options.durable ? this.durable : this.applied) < seq) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`${this.projection.name}: sequence ${seq} not reached (at ${this.applied})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.messages?.close();
    this.flushBatch();
    await this.chain;
    if (this.sinceCheckpoint > 0) await this.checkpoint();
    if (this.ownsPool) await this.pool.close();
  }

  private receive(msg: JsMsg): void {
    this.batch.push(msg);
    if (this.batch.length >= this.options.batchSize) this.flushBatch();
    else if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(() => this.flushBatch());
    }
  }

  private flushBatch(): void {
    this.batchScheduled = false;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    // Preparation and verification start now; applying waits for earlier batches.
    const prepared = batch.map((msg) => this.prepare(msg));
    const requests = [];
    for (const p of prepared) {
      if (p.verifyIndex === undefined || !p.meta) continue;
      requests.push({
        keyIndex: this.pool.registerKey(p.provisional?.publicKey ?? this.registry.get(p.meta.producerId)!.publicKey),
        head: canonicalHead(p.meta),
        payload: p.msg.data,
        signature: p.meta.signature,
      });
    }
    const verdicts = this.pool.verify(requests);
    this.enqueue(async () => this.applyBatch(prepared, await verdicts));
  }

  private enqueue(step: () => Promise<void> | void): void {
    this.chain = this.chain.then(step).catch((error: Error) => {
      // Only infrastructure failures land here (KV or quarantine writes); events are never lost
      // because nothing was acknowledged past the last checkpoint.
      this.failure = error;
      log.error("projection step failed; it resumes from its last checkpoint on restart", { projection: this.projection.name, error: error.message });
    });
  }

  /** Everything that can be decided before the signature check, in the main thread. */
  private prepare(msg: JsMsg): Prepared {
    if (msg.seq <= this.applied) return { msg };
    const decoded = decodeMessage(msg, this.definitions, this.maxEventBytes);
    if (decoded instanceof EventRejectedError) return { msg, rejection: decoded };
    const { meta, payload, definition } = decoded;
    const known = this.registry.get(meta.producerId);
    const pending = known ? undefined : this.provisional.get(meta.producerId);
    const introduced = this.projection.keyIntroductions?.[meta.type]?.(payload);
    const key = resolveProducerKey(meta, introduced, known ?? pending);
    if (key instanceof EventRejectedError) return { msg, meta, rejection: key };
    if (key.introduces) {
      const provisional: ProvisionalKey = { producerId: meta.producerId, publicKey: key.publicKey, keyId: key.keyId };
      this.provisional.set(meta.producerId, provisional);
      return { msg, meta, payload, definition, verifyIndex: this.verifyCount++, provisional, introduces: provisional };
    }
    return { msg, meta, payload, definition, verifyIndex: this.verifyCount++, ...(pending ? { provisional: pending } : {}) };
  }

  private applyBatch(prepared: readonly Prepared[], verdicts: readonly boolean[]): void {
    const base = prepared.find((p) => p.verifyIndex !== undefined)?.verifyIndex ?? 0;
    const { name, stream } = this.projection;
    const appliedByType = new Map<string, number>();
    for (const p of prepared) {
      const { msg } = p;
      if (msg.seq <= this.applied) continue;
      let rejection = p.rejection;
      if (!rejection && p.meta && p.verifyIndex !== undefined) {
        if (p.provisional && !p.introduces && p.provisional.accepted !== true) {
          rejection = reject("unknown-producer", `the announcement introducing ${p.meta.producerId}'s key was refused`);
        } else if (!verdicts[p.verifyIndex - base]) {
          rejection = reject("bad-signature", `signature does not verify with key ${p.meta.keyId} of ${p.meta.producerId}`);
        } else if (this.recentIds.has(p.meta.eventId)) {
          rejection = reject("duplicate", `event id ${p.meta.eventId} was already applied`);
        }
      }
      let event: VerifiedEvent | undefined;
      if (!rejection && p.meta) {
        event = { stream: stream, seq: msg.seq, meta: p.meta, payload: p.payload };
        const refusal = this.projection.authorize?.(event);
        if (refusal) rejection = reject("unauthorized", refusal);
      }
      if (p.introduces) {
        p.introduces.accepted = rejection === undefined;
        if (this.provisional.get(p.introduces.producerId) === p.introduces) this.provisional.delete(p.introduces.producerId);
        if (p.introduces.accepted) {
          this.registry.introduce(p.introduces.producerId, p.introduces.publicKey, { stream, seq: msg.seq });
        }
      }
      if (rejection || !event) {
        if (rejection) this.quarantine(msg, rejection);
      } else {
        this.projection.apply(event);
        this.runnerOptions.onApplied?.(event);
        this.rememberId(event.meta.eventId);
        appliedByType.set(event.meta.type, (appliedByType.get(event.meta.type) ?? 0) + 1);
      }
      this.applied = msg.seq;
      this.lastUnacked = msg;
      this.sinceCheckpoint++;
    }
    for (const [type, count] of appliedByType) eventsApplied.inc({ projection: name, type }, count);
    if (this.sinceCheckpoint >= this.options.checkpointEvery) this.enqueue(() => this.checkpoint());
  }

  private rememberId(id: string): void {
    this.recentIds.add(id);
    if (this.recentIds.size > this.options.recentEventIds) {
      const oldest = this.recentIds.values().next().value;
      if (oldest !== undefined) this.recentIds.delete(oldest);
    }
  }

  private quarantine(msg: JsMsg, rejection: EventRejectedError): void {
    const { name, stream } = this.projection;
    eventsQuarantined.inc({ projection: name, stream, reason: rejection.reason });
    const h: MsgHdrs = natsHeaders();
    let originalId = "";
    try {
      // nats.js throws on a header name it does not accept (a raw-protocol publisher can send one).
      if (msg.headers) {
        for (const [key, values] of msg.headers) {
          if (key === Header.eventId) {
            originalId = values[0] ?? "";
            continue;
          }
          for (const value of values) h.append(key, value);
        }
      }
    } catch {
      for (const key of h.keys()) h.delete(key);
      const raw = wireHeaderBytes(msg);
      h.set("X0-Original-Headers-Base64", raw ? Buffer.from(raw).toString("base64") : "");
    }
    h.set("X0-Quarantine-Reason", rejection.reason);
    h.set("X0-Quarantine-Detail", headerSafe(rejection.message));
    h.set("X0-Original-Stream", stream);
    h.set("X0-Original-Subject", msg.subject);
    h.set("X0-Original-Seq", String(msg.seq));
    h.set("X0-Original-Msg-Id", headerSafe(originalId));
    h.set("X0-Quarantined-By", name);
    // One quarantine record per (stream, sequence, projection), even if this batch is replayed after a crash.
    h.set(Header.eventId, `q-${stream}-${msg.seq}-${name}`);
    const subject = `quarantine.${stream}.${rejection.reason}`;
    const sent = this.js.publish(subject, msg.data, { headers: h });
    sent.catch(() => undefined); // retried at the checkpoint
    this.quarantines.push({ subject, data: msg.data, headers: h, sent });
  }

  private async checkpoint(): Promise<void> {
    if (this.sinceCheckpoint === 0) return;
    const seq = this.applied;
    const last = this.lastUnacked;
    const end = checkpointSeconds.startTimer({ projection: this.projection.name });
    // Infrastructure failures (server down, timeouts) are retried with backoff: the chain waits,
    // which is the backpressure we want, and nothing is acknowledged past what is durable.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publishQuarantined();
        await this.registry.flush();
        await this.projection.checkpoint(seq);
        break;
      } catch (error) {
        if (this.stopping && attempt >= 3) throw error;
        const delay = Math.min(5_000, 250 * 2 ** attempt);
        log.warn("checkpoint failed; retrying", { projection: this.projection.name, seq, delayMs: delay, error: (error as Error).message });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    end();
    this.sinceCheckpoint = 0;
    this.durable = seq;
    // AckPolicy.All: acknowledging the last message acknowledges everything before it.
    last?.ack();
    projectionSequence.set({ projection: this.projection.name, stream: this.projection.stream }, seq);
    this.runnerOptions.onCheckpoint?.(seq);
  }

  /** Publishes pending quarantine records; those that fail stay pending for the next attempt. */
  private async publishQuarantined(): Promise<void> {
    const pending = this.quarantines;
    this.quarantines = [];
    const results = await Promise.allSettled(pending.map((q) => q.sent ?? this.js.publish(q.subject, q.data, { headers: q.headers })));
    const failed = pending.filter((_, i) => results[i]!.status === "rejected").map((q) => ({ ...q, sent: undefined }));
    if (failed.length > 0) {
      this.quarantines = [...failed, ...this.quarantines];
      throw new Error(`${failed.length} quarantine record(s) not stored`);
    }
  }
}
