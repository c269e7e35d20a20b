import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { meshEvents, NodeAnnounced } from "../../domains/mesh/index.ts";
import type { EventDefinition } from "../../domains/kernel/index.ts";
import { KnowledgeBaseProjection, type KnowledgeBase } from "../knowledge-base/index.ts";
import { decodeMessage, resolveProducerKey, type DecodedMessage } from "../../streams/decode.ts";
import { canonicalHead } from "../../streams/envelope.ts";
import { EventRejectedError } from "../../streams/errors.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { VerifyPool } from "../../streams/verify-pool.ts";

export interface KnowledgeBaseAsOf {
  readonly kb: KnowledgeBase;
  readonly asOf: Date;
  /** MESH events stored at or before `asOf` that were read. */
  readonly events: number;
  /** Of those, the ones applied (verified and authorized, as the live projection would have). */
  readonly applied: number;
  /** The last MESH sequence at or before `asOf` (0: none). */
  readonly throughSeq: number;
  /** Where MESH history starts now (older events aged out): the knowledge base misses what came before. */
  readonly firstSeq: number;
}

export interface AsOfOptions {
  /**
   * Keys to verify with. Default: the platform's bound keys (KV `producers`) overlaid with what
   * the replay itself introduces, so nodes whose announcement aged out still verify.
   */
  readonly registry?: ProducerRegistry;
  /** Verification pool. Default: one owned by this call (one worker per core). */
  readonly verifyPool?: VerifyPool;
  /** Stops the replay; the call then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

const definitions: ReadonlyMap<string, EventDefinition> = new Map(meshEvents.map((d) => [d.type, d as EventDefinition]));
const maxBytes = Math.max(...meshEvents.map((d) => d.maxPayloadBytes));
const BATCH = 512;

interface Candidate {
  readonly msg: JsMsg;
  readonly decoded: DecodedMessage;
  readonly keyIndex: number;
  readonly introduces?: Uint8Array;
}

/**
 * The knowledge base as it was at `asOf`: MESH replayed into memory up to the last event the
 * server had stored by then, each event decoded, verified and authorized as the live projection
 * does, then applied with the same model. The live projection is not touched.
 */
export const knowledgeBaseAsOf = async (nc: NatsConnection, asOf: Date, options: AsOfOptions = {}): Promise<KnowledgeBaseAsOf> => {
  options.signal?.throwIfAborted();
  const projection = new KnowledgeBaseProjection(undefined, { name: "as-of" });
  const registry = options.registry ?? ProducerRegistry.overlay(await ProducerRegistry.open(nc));
  const pool = options.verifyPool ?? new VerifyPool();
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info("MESH");
  const result = { kb: projection.kb, asOf, events: 0, applied: 0, throughSeq: 0, firstSeq: info.state.first_seq };
  if (info.state.messages === 0 || info.state.first_seq === 0) {
    if (!options.verifyPool) await pool.close();
    return result;
  }
  const end = info.state.last_seq;
  const limit = asOf.getTime();
  const consumer = await jetstream(nc).consumers.get("MESH", { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 2048 });
  const onAbort = () => void messages.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let batch: Candidate[] = [];
  const flush = async () => {
    const candidates = batch;
    batch = [];
    const verdicts = await pool.verify(
      candidates.map((c) => ({ keyIndex: c.keyIndex, head: canonicalHead(c.decoded.meta), payload: c.msg.data, signature: c.decoded.meta.signature })),
    );
    candidates.forEach((c, i) => {
      if (!verdicts[i]) return;
      const { meta, payload } = c.decoded;
      const event = { stream: "MESH", seq: c.msg.seq, meta, payload };
      if (projection.authorize(event) !== undefined) return;
      if (c.introduces) registry.introduce(meta.producerId, c.introduces, { stream: "MESH", seq: c.msg.seq });
      projection.apply(event);
      result.applied++;
    });
  };
  // Keys introduced in the batch not yet verified: later events of the same producer verify against them.
  const provisional = new Map<string, { readonly publicKey: Uint8Array; readonly keyId: string }>();
  try {
    for await (const msg of messages) {
      if (msg.time.getTime() > limit) break;
      result.events++;
      result.throughSeq = msg.seq;
      const decoded = decodeMessage(msg, definitions, maxBytes);
      if (!(decoded instanceof EventRejectedError)) {
        const { meta, payload } = decoded;
        const introduced = meta.type === NodeAnnounced.type ? (payload as Announcement).publicKey : undefined;
        const key = resolveProducerKey(meta, introduced, registry.get(meta.producerId) ?? provisional.get(meta.producerId));
        if (!(key instanceof EventRejectedError)) {
          if (key.introduces) provisional.set(meta.producerId, { publicKey: key.publicKey, keyId: key.keyId });
          batch.push({ msg, decoded, keyIndex: pool.registerKey(key.publicKey), ...(key.introduces ? { introduces: key.publicKey } : {}) });
        }
      }
      if (batch.length >= BATCH) {
        await flush();
        provisional.clear();
      }
      if (msg.seq >= end || msg.info.pending === 0) break;
    }
    // An aborted replay ends early: what it built is not the knowledge base of that time.
    options.signal?.throwIfAborted();
    await flush();
  } catch (error) {
    options.signal?.throwIfAborted();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    void messages.close().catch(() => undefined);
    if (!options.verifyPool) await pool.close();
  }
  return result;
};

type Announcement = typeof NodeAnnounced.schema.Type;
