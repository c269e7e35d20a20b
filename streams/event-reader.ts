import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { eventCatalog, keyIntroductions } from "../domains/catalog.ts";
import { decodeMessage, resolveProducerKey } from "./decode.ts";
import { canonicalBytes, type EnvelopeMeta } from "./envelope.ts";
import { EventRejectedError, type QuarantineReason } from "./errors.ts";
import { publicKeyObject, verifyBytes } from "./keys.ts";
import { ProducerRegistry } from "./producer-registry.ts";
import { streams, type StreamName } from "./topology.ts";

/** One stored event as a reader sees it: verified, or with the reason it is not. */
export interface ReadEvent {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  /** When the server stored it. */
  readonly storedAt: Date;
  readonly meta?: EnvelopeMeta;
  readonly payload?: unknown;
  /** `verified`, or why the event would be quarantined. */
  readonly status: "verified" | QuarantineReason;
  readonly detail?: string;
}

export type ReadStart = { readonly seq: number } | { readonly time: Date } | "all" | "new";

export interface ReadOptions {
  /** Subject filter, e.g. `mesh.>` or `mesh.node-001.*`; its first token selects the stream. */
  readonly subject: string;
  /** Where to start. Default `all`. */
  readonly start?: ReadStart;
  /** Stop after this sequence or this time (inclusive). Default: no bound. */
  readonly until?: { readonly seq: number } | { readonly time: Date };
  /** Keep waiting for new events (tail) instead of ending at the current end (replay). Default false. */
  readonly follow?: boolean;
  /**
   * Producer keys to verify with. Default: the `producers` KV bucket when it exists, plus keys
   * the read itself encounters in announcements (trust on first use, as the projections do).
   */
  readonly registry?: ProducerRegistry;
  readonly signal?: AbortSignal;
}

/** The stream that holds a subject filter, from its first token. */
export const streamForSubject = (subject: string): StreamName => {
  const token = subject.split(".")[0] ?? "";
  const found = streams.find((s) => s.subjects.some((pattern) => pattern.split(".")[0] === token));
  if (!found || token === "*" || token === ">") {
    throw new RangeError(`subject ${subject} is in no stream; subjects start with ${streams.map((s) => s.subjects[0]!.split(".")[0]).join(", ")}`);
  }
  return found.name;
};

const maxBytes = Math.max(...[...eventCatalog.values()].map((d) => d.maxPayloadBytes));

/** Decodes and verifies one stored message against what the reader knows. */
export const inspect = (msg: { subject: string; seq: number; headers: JsMsg["headers"]; data: Uint8Array; time: Date }, stream: string, registry: ProducerRegistry): ReadEvent => {
  const base = { stream, seq: msg.seq, subject: msg.subject, storedAt: msg.time };
  const decoded = decodeMessage(msg, eventCatalog, maxBytes);
  if (decoded instanceof EventRejectedError) return { ...base, status: decoded.reason, detail: decoded.message };
  const { meta, payload } = decoded;
  const key = resolveProducerKey(meta, keyIntroductions[meta.type]?.(payload), registry.get(meta.producerId));
  if (key instanceof EventRejectedError) return { ...base, meta, payload, status: key.reason, detail: key.message };
  if (!verifyBytes(publicKeyObject(key.publicKey), canonicalBytes(meta, msg.data), meta.signature)) {
    return { ...base, meta, payload, status: "bad-signature", detail: `signature does not verify with key ${meta.keyId}` };
  }
  if (key.introduces) registry.introduce(meta.producerId, key.publicKey, { stream, seq: msg.seq });
  return { ...base, meta, payload, status: "verified" };
};

const startConfig = (start: ReadStart) => {
  if (start === "all") return { deliver_policy: DeliverPolicy.All };
  if (start === "new") return { deliver_policy: DeliverPolicy.New };
  if ("seq" in start) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.seq) };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time.toISOString() };
};

const pastEnd = (event: { seq: number; time: Date }, until: ReadOptions["until"]) =>
  until !== undefined && ("seq" in until ? event.seq > until.seq : event.time.getTime() > until.time.getTime());

/**
 * Reads events in stream order through an ordered consumer (nothing stored server-side),
 * verifying each. Used by replay, tail and the API's event stream.
 */
export async function* readEvents(nc: NatsConnection, options: ReadOptions): AsyncGenerator<ReadEvent> {
  const stream = streamForSubject(options.subject);
  const registry = options.registry ?? (await ProducerRegistry.open(nc));
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const consumer = await js.consumers.get(stream, { filter_subjects: options.subject, ...startConfig(options.start ?? "all") });
  if (!options.follow) {
    // A replay ends at the stream's end as it was when the read started.
    const info = await jsm.streams.info(stream);
    const end = info.state.last_seq;
    if (info.state.messages === 0) return;
    while (!options.signal?.aborted) {
      const batch = await consumer.fetch({ max_messages: 256, expires: 2_000 });
      let received = 0;
      for await (const msg of batch) {
        received++;
        if (pastEnd(msg, options.until)) return;
        yield inspect(msg, stream, registry);
        if (msg.seq >= end || msg.info.pending === 0) return;
      }
      if (received === 0) return;
    }
    return;
  }
  const messages = await consumer.consume({ max_messages: 256 });
  options.signal?.addEventListener("abort", () => void messages.close(), { once: true });
  if (options.signal?.aborted) await messages.close(); // aborted while the consumer was being set up
  try {
    for await (const msg of messages) {
      if (pastEnd(msg, options.until)) return;
      yield inspect(msg, stream, registry);
    }
  } finally {
    await messages.close();
  }
}

/** A read event as JSON: bytes as base64, for JSON lines and Server-Sent Events. */
export const toJson = (event: ReadEvent): Record<string, unknown> => ({
  stream: event.stream,
  seq: event.seq,
  subject: event.subject,
  storedAt: event.storedAt.toISOString(),
  status: event.status,
  ...(event.detail ? { detail: event.detail } : {}),
  ...(event.meta
    ? {
        type: event.meta.type,
        version: event.meta.version,
        eventId: event.meta.eventId,
        producerId: event.meta.producerId,
        keyId: event.meta.keyId,
        occurredAt: event.meta.occurredAt,
        correlationId: event.meta.correlationId,
        causationId: event.meta.causationId,
        traceparent: event.meta.traceparent,
      }
    : {}),
  ...(event.payload !== undefined ? { payload: event.payload } : {}),
});

/** JSON.stringify with byte arrays as base64. */
export const stringifyEvent = (event: ReadEvent): string =>
  JSON.stringify(toJson(event), (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value));
