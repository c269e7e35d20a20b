import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AUDITED_STREAMS, type AuditedStream, type StreamRange } from "../../domains/audit/index.ts";
import type { LeafSink } from "./leaf-copies.ts";
import { LeafHasher, type HashedGroup } from "./leaf-hasher.ts";
import { deliveredWire, headerBlockOf, StreamCursor, type StreamBounds } from "./stream-cursor.ts";

/** Where each leaf of a window came from: stream number (AUDITED_STREAMS index) and sequence. */
export interface LeafOrigins {
  readonly count: number;
  readonly streams: Uint8Array;
  readonly seqs: Float64Array;
}

/** A window read from the streams: where its leaves came from now, their hashes (and the tree's root) when hashed. */
export interface WindowRead {
  readonly origins: LeafOrigins;
  readonly hashed: Promise<HashedGroup>;
}

export type Bounds = Readonly<Record<AuditedStream, StreamBounds>>;

export interface AuditedStreamsOptions {
  /** Hash leaves on a worker thread. Default true. */
  readonly hashWorker?: boolean;
  /** Called with every message read, in leaf order (verify --signatures looks at each). */
  readonly onMessage?: (stream: AuditedStream, msg: JsMsg) => void;
}

class Origins {
  count = 0;
  streams = new Uint8Array(1024);
  seqs = new Float64Array(1024);

  push(stream: number, seq: number): void {
    if (this.count === this.seqs.length) {
      const streams = new Uint8Array(this.count * 2);
      streams.set(this.streams);
      const seqs = new Float64Array(this.count * 2);
      seqs.set(this.seqs);
      this.streams = streams;
      this.seqs = seqs;
    }
    this.streams[this.count] = stream;
    this.seqs[this.count] = seq;
    this.count++;
  }
}

/**
 * The audited streams as the audit log reads them: one cursor per stream, so consecutive
 * windows continue the same consumers, and one leaf hasher. Used by the auditor (its own
 * windows and the ones other auditors signed) and by `verify`.
 */
export class AuditedStreams {
  private readonly cursors: Record<AuditedStream, StreamCursor>;
  private readonly hasher: LeafHasher;

  private constructor(
    readonly jsm: JetStreamManager,
    js: JetStreamClient,
    private readonly options: AuditedStreamsOptions,
  ) {
    this.cursors = Object.fromEntries(AUDITED_STREAMS.map((stream) => [stream, new StreamCursor(js, stream)])) as Record<AuditedStream, StreamCursor>;
    this.hasher = new LeafHasher({ worker: options.hashWorker ?? true });
  }

  static async open(nc: NatsConnection, options: AuditedStreamsOptions = {}): Promise<AuditedStreams> {
    return new AuditedStreams(await jetstreamManager(nc), jetstream(nc), options);
  }

  /** First and last stored sequence of every audited stream now (0, 0 for a missing stream). */
  async bounds(): Promise<Bounds> {
    const entries = await Promise.all(
      AUDITED_STREAMS.map(async (stream) => {
        try {
          const info = await this.jsm.streams.info(stream);
          return [stream, { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq }] as const;
        } catch (error) {
          if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return [stream, { firstSeq: 0, lastSeq: 0 }] as const;
          throw error;
        }
      }),
    );
    return Object.fromEntries(entries) as Record<AuditedStream, StreamBounds>;
  }

  /**
   * Reads one window: for each range in order, every stored message in it, also handed to
   * `sink` when given. Resolves once all are read and handed to the hasher; the hashes follow
   * (read the next window meanwhile).
   */
  async read(ranges: readonly StreamRange[], bounds: Bounds, sink?: LeafSink): Promise<WindowRead> {
    const origins = new Origins();
    const onMessage = this.options.onMessage;
    for (const range of ranges) {
      const streamIndex = AUDITED_STREAMS.indexOf(range.stream);
      for await (const msg of this.cursors[range.stream].range(range.first, range.last, bounds[range.stream])) {
        const seq = msg.seq;
        const wire = deliveredWire(msg);
        if (wire) {
          this.hasher.pushWire(streamIndex, seq, wire.subject, wire.bytes, wire.headerLength);
          sink?.add(streamIndex, seq, wire.subject, wire.bytes, wire.headerLength);
        } else {
          const header = headerBlockOf(msg);
          this.hasher.push(streamIndex, seq, msg.subject, header, msg.data);
          sink?.add(streamIndex, seq, Buffer.from(msg.subject, "utf8"), header ? Buffer.concat([header, msg.data]) : msg.data, header?.length ?? 0);
        }
        origins.push(streamIndex, seq);
        onMessage?.(range.stream, msg);
      }
    }
    return { origins, hashed: this.hasher.end() };
  }

  /** Appends the leaves of the windows read from now on to the tree of this frontier; each window reports its root. */
  startTree(frontier: { readonly size: number; readonly peaks: readonly Uint8Array[] }): void {
    this.hasher.startTree(frontier);
  }

  async close(): Promise<void> {
    await Promise.all(AUDITED_STREAMS.map((stream) => this.cursors[stream].close()));
    await this.hasher.close();
  }
}
