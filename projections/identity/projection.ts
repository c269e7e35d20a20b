import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { keyIntroductions } from "../../domains/catalog.ts";
import { identityEvents, type ProducerEnrolled } from "../../domains/identity/index.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";
import type { ProducerRegistry } from "../../streams/producer-registry.ts";
import type { Projection, VerifiedEvent } from "../../streams/projection-runner.ts";
import { EnrolledProducers, type EnrolledProducer } from "./model.ts";

const CHECKPOINT_KEY = "checkpoint";
const producerKey = (producerId: string) => `producer.${producerId}`;

export interface IdentityProjectionOptions {
  /** Durable consumer name. Default `identity`. */
  readonly name?: string;
  /** KV bucket name. Default `identity`. */
  readonly bucket?: string;
  /** Replicas of the bucket: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
  /**
   * The registry the runner binds keys in, so an id whose key a mesh announcement bound cannot
   * enrol and take a role. Default: none (that check is skipped).
   */
  readonly registry?: ProducerRegistry;
}

/**
 * The enrolled producers as a projection of the IDENTITY stream. Its runner binds each
 * enrolment's key in the shared ProducerRegistry (trust on first use; a second key for the same
 * id is quarantined as key-mismatch), so the keys of the healing loop, operators and chaos runs
 * are trusted by every other projection; this read model keeps who enrolled, in which role.
 * State in the KV bucket `identity` (one key per producer, plus the checkpoint).
 */
export class IdentityProjection implements Projection {
  readonly name: string;
  readonly stream = "IDENTITY" as const;
  readonly filterSubject = "identity.>";
  readonly events = identityEvents;
  readonly keyIntroductions = keyIntroductions;
  readonly producers = new EnrolledProducers();
  private readonly dirty = new Set<string>();
  private kv: KV | undefined;

  constructor(
    private readonly nc: NatsConnection | undefined,
    private readonly options: IdentityProjectionOptions = {},
  ) {
    this.name = options.name ?? "identity";
  }

  authorize(event: VerifiedEvent): string | undefined {
    const enrolment = event.payload as ProducerEnrolled;
    return this.producers.refusal(event.meta, enrolment, this.options.registry?.get(enrolment.producerId)?.introducedAt.stream);
  }

  apply(event: VerifiedEvent): void {
    const enrolled = this.producers.apply(event.payload as ProducerEnrolled, {
      seq: event.seq,
      keyId: event.meta.keyId,
      occurredAt: Date.parse(event.meta.occurredAt),
    });
    if (enrolled) this.dirty.add(enrolled.producerId);
  }

  async restore(): Promise<number> {
    if (!this.nc) return 0;
    this.kv = await new Kvm(this.nc).create(this.options.bucket ?? "identity", { history: 1, replicas: this.options.replicas ?? 1 });
    const keys: string[] = [];
    for await (const key of await this.kv.keys("producer.>")) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === "PUT") this.producers.load(decodeCbor(entry.value) as EnrolledProducer);
    }
    const checkpoint = await this.kv.get(CHECKPOINT_KEY);
    return checkpoint?.operation === "PUT" ? Number(checkpoint.string()) : 0;
  }

  async checkpoint(seq: number): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    try {
      // Producers first, the checkpoint last: a replay after a crash in between finds them enrolled.
      await Promise.all(ids.map((id) => kv.put(producerKey(id), encodeCbor(this.producers.get(id)))));
      await kv.put(CHECKPOINT_KEY, String(seq));
    } catch (error) {
      for (const id of ids) this.dirty.add(id); // written again on the retry
      throw error;
    }
  }
}
