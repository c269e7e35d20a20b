import type { EventDefinition } from "../../domains/kernel/index.ts";
import { meshEvents } from "../../domains/mesh/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { decodeMessage, resolveProducerKey } from "../../streams/decode.ts";
import { canonicalHead, toHeaders, type EnvelopeMeta, type SealedEvent } from "../../streams/envelope.ts";
import { EventRejectedError, type QuarantineReason } from "../../streams/errors.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import type { VerifyPool, VerifyRequest } from "../../streams/verify-pool.ts";

/**
 * The control plane's intake of MESH events in a simulation, with the knowledge base runner's
 * checks (streams/projection-runner.ts) in its order: the envelope read from the header bytes
 * as they travel on the wire, known type and version, CBOR and schema (`decodeMessage`), the
 * producer's key by trust on first use (`resolveProducerKey`; a NodeAnnounced introduces it and
 * is bound only once it verified), Ed25519 on the verification pool's worker threads, then the
 * projection's own `authorize` (a node speaks only for itself). Only what passes reaches the
 * monitor, as the decoded payload; a refusal carries the runner's quarantine reason.
 *
 * Submitted events are verified in chunks while the caller keeps sealing (the pool's workers
 * run beside the main thread); `drain` returns every verdict in submission order.
 */

export type IntakeVerdict =
  | { readonly accepted: true; readonly meta: EnvelopeMeta; readonly payload: unknown; readonly atMs: number }
  | { readonly accepted: false; readonly reason: QuarantineReason; readonly producerId: string | undefined; readonly atMs: number };

export interface IntakeStats {
  readonly accepted: number;
  /** Refused events by quarantine reason. */
  readonly refused: Readonly<Record<string, number>>;
}

interface ProvisionalKey {
  readonly producerId: string;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  accepted?: boolean;
}

interface Pending {
  readonly atMs: number;
  readonly meta?: EnvelopeMeta;
  readonly payload?: unknown;
  readonly rejection?: EventRejectedError;
  /** Position in its chunk's requests. */
  readonly chunk?: number;
  readonly index?: number;
  readonly provisional?: ProvisionalKey;
  readonly introduces?: ProvisionalKey;
}

/** Events per verification request: large enough to amortise a worker message, small enough to overlap with sealing. */
const CHUNK = 64;

const definitions: ReadonlyMap<string, EventDefinition> = new Map(meshEvents.map((d) => [d.type, d as EventDefinition]));
const maxEventBytes = Math.max(...meshEvents.map((d) => d.maxPayloadBytes));

/** A received message as nats.js hands it to the runner: its raw header block in front of the payload. */
const onTheWire = (event: SealedEvent) => {
  // MsgHdrsImpl.encode: the header block nats.js writes on the wire (the public type omits it).
  const header = (toHeaders(event.meta) as unknown as { encode(): Uint8Array }).encode();
  return { subject: event.meta.subject, data: event.payload, headers: undefined, _rdata: header, _msg: { hdr: header.length } };
};

export class MeshIntake {
  private readonly registry = ProducerRegistry.inMemory();
  private readonly provisional = new Map<string, ProvisionalKey>();
  private readonly projection = new KnowledgeBaseProjection(undefined);
  private pending: Pending[] = [];
  private requests: VerifyRequest[] = [];
  private chunks: Promise<boolean[]>[] = [];
  private seq = 0;
  private counts = { accepted: 0, refused: {} as Record<string, number> };

  constructor(private readonly pool: VerifyPool) {}

  get stats(): IntakeStats {
    return { accepted: this.counts.accepted, refused: { ...this.counts.refused } };
  }

  /** Checks everything but the signature now and queues the signature for the pool. */
  submit(event: SealedEvent, atMs: number): void {
    const decoded = decodeMessage(onTheWire(event), definitions, maxEventBytes);
    if (decoded instanceof EventRejectedError) {
      this.pending.push({ atMs, rejection: decoded });
      return;
    }
    const { meta, payload } = decoded;
    const known = this.registry.get(meta.producerId);
    const waiting = known ? undefined : this.provisional.get(meta.producerId);
    const introduced = (this.projection.keyIntroductions as Readonly<Record<string, (payload: unknown) => Uint8Array>>)[meta.type]?.(payload);
    const key = resolveProducerKey(meta, introduced, known ?? waiting);
    if (key instanceof EventRejectedError) {
      this.pending.push({ atMs, meta, rejection: key });
      return;
    }
    let provisional = waiting;
    let introduces: ProvisionalKey | undefined;
    if (key.introduces) {
      introduces = provisional = { producerId: meta.producerId, publicKey: key.publicKey, keyId: key.keyId };
      this.provisional.set(meta.producerId, introduces);
    }
    this.requests.push({ keyIndex: this.pool.registerKey(key.publicKey), head: canonicalHead(meta), payload: event.payload, signature: meta.signature });
    this.pending.push({
      atMs,
      meta,
      payload,
      chunk: this.chunks.length,
      index: this.requests.length - 1,
      ...(provisional ? { provisional } : {}),
      ...(introduces ? { introduces } : {}),
    });
    if (this.requests.length >= CHUNK) this.flush();
  }

  private flush(): void {
    if (this.requests.length === 0) return;
    this.chunks.push(this.pool.verify(this.requests));
    this.requests = [];
  }

  /** Every verdict since the last drain, in submission order. */
  async drain(): Promise<IntakeVerdict[]> {
    this.flush();
    const pending = this.pending;
    const chunks = await Promise.all(this.chunks);
    this.pending = [];
    this.chunks = [];
    const out: IntakeVerdict[] = [];
    for (const p of pending) {
      let rejection = p.rejection;
      if (!rejection && p.meta) {
        if (p.provisional && !p.introduces && p.provisional.accepted !== true) {
          rejection = new EventRejectedError({ reason: "unknown-producer", message: `the announcement introducing ${p.meta.producerId}'s key was refused` });
        } else if (chunks[p.chunk!]![p.index!] !== true) {
          rejection = new EventRejectedError({ reason: "bad-signature", message: `signature does not verify with key ${p.meta.keyId} of ${p.meta.producerId}` });
        } else {
          const refusal = this.projection.authorize({ stream: "MESH", seq: ++this.seq, meta: p.meta, payload: p.payload });
          if (refusal) rejection = new EventRejectedError({ reason: "unauthorized", message: refusal });
        }
      }
      if (p.introduces) {
        p.introduces.accepted = rejection === undefined;
        if (this.provisional.get(p.introduces.producerId) === p.introduces) this.provisional.delete(p.introduces.producerId);
        if (p.introduces.accepted) this.registry.introduce(p.introduces.producerId, p.introduces.publicKey, { stream: "MESH", seq: this.seq });
      }
      if (rejection) {
        this.counts.refused[rejection.reason] = (this.counts.refused[rejection.reason] ?? 0) + 1;
        out.push({ accepted: false, reason: rejection.reason, producerId: p.meta?.producerId, atMs: p.atMs });
      } else {
        this.counts.accepted++;
        out.push({ accepted: true, meta: p.meta!, payload: p.payload, atMs: p.atMs });
      }
    }
    return out;
  }
}
