import { enrolmentSubject, type ProducerEnrolled } from "../../domains/identity/index.ts";

export type ProducerRole = ProducerEnrolled["role"];

/** A producer that enrolled its key on IDENTITY: who it is, what it may do, with which key. */
export interface EnrolledProducer {
  readonly producerId: string;
  readonly role: ProducerRole;
  readonly keyId: string;
  readonly description?: string;
  /** occurredAt of the enrolment, ms since epoch. */
  readonly enrolledAt: number;
  /** IDENTITY stream sequence of the enrolment. */
  readonly seq: number;
}

/** What the enrolment check reads of an event's envelope. */
export interface EnrolmentEnvelope {
  readonly producerId: string;
  readonly subject: string;
}

/** Who may act in which role: what HEAL authorization asks of the identity read model. */
export interface RoleSource {
  roleOf(producerId: string): ProducerRole | undefined;
}

/**
 * The enrolled producers (non-node identities: control plane, operators, chaos runs). Like the
 * key, the role is bound on first use: a later enrolment with the same key and another role is
 * refused, or an operator could promote itself to control plane by enrolling again.
 */
export class EnrolledProducers implements RoleSource {
  private readonly byId = new Map<string, EnrolledProducer>();

  /**
   * Why this enrolment may not be applied, or undefined. `boundBy` says which stream bound the
   * producer's key when one did: an id whose key came from elsewhere (a mesh node's
   * announcement) is not an enrolled producer and may not take a role.
   */
  refusal(envelope: EnrolmentEnvelope, enrolment: ProducerEnrolled, boundBy?: string): string | undefined {
    const { producerId } = enrolment;
    if (envelope.producerId !== producerId) return `${envelope.producerId} may not enrol ${producerId}`;
    if (envelope.subject !== enrolmentSubject(producerId)) return `an enrolment of ${producerId} belongs on ${enrolmentSubject(producerId)}, not ${envelope.subject}`;
    if (boundBy !== undefined && boundBy !== "IDENTITY") return `${producerId} is a producer of ${boundBy} (its key was bound there); it cannot enrol`;
    const existing = this.byId.get(producerId);
    if (existing && existing.role !== enrolment.role) return `${producerId} is enrolled as ${existing.role}; a role is bound once`;
    return undefined;
  }

  /** Records a first enrolment; a repeat (same key, same role) changes nothing and returns undefined. */
  apply(enrolment: ProducerEnrolled, context: { readonly seq: number; readonly keyId: string; readonly occurredAt: number }): EnrolledProducer | undefined {
    if (this.byId.has(enrolment.producerId)) return undefined;
    const producer: EnrolledProducer = {
      producerId: enrolment.producerId,
      role: enrolment.role,
      keyId: context.keyId,
      ...(enrolment.description !== undefined ? { description: enrolment.description } : {}),
      enrolledAt: context.occurredAt,
      seq: context.seq,
    };
    this.byId.set(producer.producerId, producer);
    return producer;
  }

  /** Restores a persisted producer (from KV) without replaying its enrolment. */
  load(producer: EnrolledProducer): void {
    this.byId.set(producer.producerId, producer);
  }

  get(producerId: string): EnrolledProducer | undefined {
    return this.byId.get(producerId);
  }

  roleOf(producerId: string): ProducerRole | undefined {
    return this.byId.get(producerId)?.role;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Every enrolled producer, by producer id. */
  list(): EnrolledProducer[] {
    return [...this.byId.values()].sort((a, b) => (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0));
  }
}
