/**
 * Who may command a node (the edge agent's and the twin's): producers whose key an enrolment on IDENTITY bound (the control
 * plane, an operator), looked up from that enrolment itself. The producer registry says which
 * IDENTITY event bound a key; that event carries the role, and it must have enrolled that very
 * key. A node's key (bound by its MESH announcement) has no role and may not command.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Schema from "effect/Schema";
import { ProducerEnrolled } from "../domains/identity/index.ts";
import { decodeCbor, Header } from "./envelope.ts";
import { keyIdOf } from "./keys.ts";
import type { ProducerRegistry } from "./producer-registry.ts";

export type Role = ProducerEnrolled["role"];

const decodeEnrolment = Schema.decodeUnknownSync(ProducerEnrolled.schema as unknown as Schema.Decoder<unknown>);

export class EnrolledRoles {
  private jsm: JetStreamManager | undefined;
  private readonly cache = new Map<string, { keyId: string; role: Role | undefined }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly registry: ProducerRegistry,
  ) {}

  /** Whether the registry bound this producer's key through an enrolment (not a node announcement). */
  isEnrolled(producerId: string): boolean {
    return this.registry.get(producerId)?.introducedAt.stream === "IDENTITY";
  }

  /** The role the producer enrolled its current key with; undefined when it did not enrol. Throws on infrastructure trouble (retry). */
  async roleOf(producerId: string): Promise<Role | undefined> {
    const key = this.registry.get(producerId);
    if (!key || key.introducedAt.stream !== "IDENTITY") return undefined;
    const cached = this.cache.get(producerId);
    if (cached && cached.keyId === key.keyId) return cached.role;
    this.jsm ??= await jetstreamManager(this.nc);
    let role: Role | undefined;
    try {
      const msg = await this.jsm.streams.getMessage("IDENTITY", { seq: key.introducedAt.seq });
      if (msg && msg.header.get(Header.type) === ProducerEnrolled.type) {
        const enrolment = decodeEnrolment(decodeCbor(msg.data)) as ProducerEnrolled;
        if (enrolment.producerId === producerId && keyIdOf(enrolment.publicKey) === key.keyId) role = enrolment.role;
      }
    } catch (error) {
      if (!(error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.NoMessageFound))) throw error;
    }
    this.cache.set(producerId, { keyId: key.keyId, role });
    return role;
  }
}
