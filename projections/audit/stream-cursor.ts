import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { wireHeaderBytes } from "../../streams/wire-headers.ts";

/** What a range read needs to know of a stream now: where its stored messages start and end. */
export interface StreamBounds {
  readonly firstSeq: number;
  readonly lastSeq: number;
}

const encoder = new TextEncoder();

/**
 * The raw header block of a delivered message: the wire bytes (nats.js v3), else the block
 * re-encoded from the parsed headers (another client version), else undefined (no headers).
 */
export const headerBlockOf = (msg: JsMsg): Uint8Array | undefined => {
  const wire = wireHeaderBytes(msg);
  if (wire) return wire;
  if (!msg.headers) return undefined;
  const text = msg.headers.toString();
  return text ? encoder.encode(text) : undefined;
};

/** A delivered message's bytes as nats.js v3 received them. */
export interface DeliveredWire {
  readonly subject: Uint8Array;
  /** The header block (`headerLength` bytes) and the payload, back to back. */
  readonly bytes: Uint8Array;
  readonly headerLength: number;
}

interface DeliveredInternals {
  readonly msg?: { readonly _rdata?: unknown; readonly _msg?: { readonly subject?: unknown; readonly hdr?: unknown } };
}

const NO_BYTES = new Uint8Array(0);

/**
 * The subject, header block and payload of a delivered message as the client received them
 * (nats.js v3 `MsgImpl`: `_msg.subject`, `_rdata`, `_msg.hdr`), so a leaf is built without
 * decoding the subject to a string and encoding it back, and with one copy of the rest; or
 * undefined when that internal shape is not there (another client version: use the public
 * fields). audit.test.ts pins that it is there with the installed client.
 */
export const deliveredWire = (msg: JsMsg): DeliveredWire | undefined => {
  const inner = (msg as DeliveredInternals).msg;
  const subject = inner?._msg?.subject;
  const hdr = inner?._msg?.hdr;
  const bytes = inner?._rdata ?? NO_BYTES;
  if (!(subject instanceof Uint8Array) || typeof hdr !== "number" || !(bytes instanceof Uint8Array) || hdr > bytes.length) return undefined;
  return { subject, bytes, headerLength: Math.max(0, hdr) };
};

export interface StreamCursorOptions {
  /** Messages each pull asks for; two pulls are in flight while a range is read. Default 2,048. */
  readonly batch?: number;
  /** How long a pull waits for messages known to be stored before the read fails, ms. Default 30,000. */
  readonly stallMs?: number;
}

const NANOS_PER_MS = 1_000_000;

/**
 * Reads one stream's stored messages in sequence order, in consecutive ranges, through an
 * ephemeral consumer without acknowledgements (the server forgets it a minute after its last
 * use). Pulls ask for exactly what the range still needs, two at a time, so a cursor between
 * ranges holds nothing and receives nothing: the auditor and the verifier keep one per stream
 * open across checkpoint windows without buffering the streams they are not reading. A range
 * that starts where the previous one ended continues the same consumer.
 */
export class StreamCursor {
  private consumer: Consumer | undefined;
  private consumerName: string | undefined;
  private jsm: JetStreamManager | undefined;
  /** The sequence the next range must start at to continue the open consumer. */
  private position = 0;
  /** Delivery sequence of the last message received: a jump means messages were lost on the way. */
  private delivered = 0;
  /** A message read past the end of the previous range, kept for the next. */
  private pending: JsMsg | undefined;
  /** Messages requested but not yet received: a range that ends with some is not continued. */
  private requested = 0;

  constructor(
    private readonly js: JetStreamClient,
    readonly stream: string,
    private readonly options: StreamCursorOptions = {},
  ) {}

  private async open(seq: number): Promise<void> {
    await this.close();
    this.jsm ??= await this.js.jetstreamManager();
    const info = await this.jsm.consumers.add(this.stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, seq),
      // Between checkpoint windows a cursor may rest for minutes; the server drops it after ten.
      inactive_threshold: 600_000 * NANOS_PER_MS,
      mem_storage: true,
      num_replicas: 1,
    });
    this.consumerName = info.name;
    this.consumer = await this.js.consumers.get(this.stream, info.name);
    this.position = seq;
    this.delivered = info.delivered.consumer_seq;
    this.requested = 0;
    this.pending = undefined;
  }

  /**
   * Stored messages with `first <= seq <= last`, in order. `bounds` says what the stream holds
   * now, so a read never waits for a message that is not there (aged out, or missing from a
   * rebuilt stream).
   */
  async *range(first: number, last: number, bounds: StreamBounds): AsyncGenerator<JsMsg> {
    const stop = Math.min(last, bounds.lastSeq);
    if (stop < first || bounds.firstSeq > stop || bounds.lastSeq === 0) return;
    if (!this.consumer || first !== this.position || this.requested > 0) await this.open(first);
    if (this.pending) {
      const msg = this.pending;
      this.pending = undefined;
      if (msg.seq > last) {
        this.pending = msg;
        this.position = last + 1;
        return;
      }
      this.position = msg.seq + 1;
      yield msg;
      if (msg.seq >= stop) {
        this.position = last + 1;
        return;
      }
    }
    const batch = this.options.batch ?? 2048;
    const expires = Math.max(1_000, this.options.stallMs ?? 30_000);
    // Each message in the range is at most one message of the stream: never ask for more.
    let toRequest = Math.max(0, stop - Math.max(first, this.position) + 1);
    const pulls: { readonly messages: ConsumerMessages; readonly size: number }[] = [];
    const pull = async () => {
      const size = Math.min(batch, toRequest);
      if (size <= 0) return;
      toRequest -= size;
      this.requested += size;
      pulls.push({ messages: await this.consumer!.fetch({ max_messages: size, expires }), size });
    };
    let completed = false;
    try {
      await pull();
      await pull();
      while (pulls.length > 0) {
        const { messages, size } = pulls[0]!;
        let received = 0;
        for await (const msg of messages) {
          received++;
          this.requested--;
          if (msg.info.deliverySequence !== this.delivered + 1) {
            throw new Error(`stream ${this.stream}: messages were lost on the way (delivery ${msg.info.deliverySequence} after ${this.delivered})`);
          }
          this.delivered = msg.info.deliverySequence;
          if (msg.seq < first) continue;
          if (msg.seq > last) {
            this.pending = msg;
            this.position = last + 1;
            return;
          }
          this.position = msg.seq + 1;
          yield msg;
          if (msg.seq >= stop) {
            this.position = stop < last ? msg.seq + 1 : last + 1;
            completed = true;
            return;
          }
        }
        pulls.shift();
        // A pull that ended short expired: the messages the range still needs are not coming.
        if (received < size) throw new Error(`stream ${this.stream}: no message after sequence ${this.position - 1} within ${expires} ms`);
        await pull();
      }
    } finally {
      for (const { messages } of pulls) messages.stop();
      // A read that failed or was abandoned leaves the consumer somewhere unknown (or gone): the next range starts afresh.
      if (!completed && this.pending === undefined) void this.close();
    }
  }

  async close(): Promise<void> {
    const name = this.consumerName;
    this.consumer = undefined;
    this.consumerName = undefined;
    this.pending = undefined;
    this.requested = 0;
    // The server would drop it after a minute unused anyway; deleting it now is tidier.
    if (name && this.jsm) await this.jsm.consumers.delete(this.stream, name).catch(() => undefined);
  }
}
