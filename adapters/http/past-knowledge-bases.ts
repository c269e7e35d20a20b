import type { NatsConnection } from "@nats-io/transport-node";
import { knowledgeBaseAsOf, type AsOfOptions, type KnowledgeBaseAsOf } from "../../projections/audit/index.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import type { PastKnowledgeBases } from "./context.ts";

export interface PastKnowledgeBasesOptions {
  /** The control plane's live keys, read through an overlay (what a replay introduces stays its own). Default: the `producers` KV bucket. */
  readonly producers?: ProducerRegistry;
  /** Rebuilt knowledge bases kept for repeated requests. Default 4. */
  readonly entries?: number;
  readonly now?: () => number;
  /** The replay. Default `knowledgeBaseAsOf` (tests count and hold replays). */
  readonly replay?: (nc: NatsConnection, asOf: Date, options: AsOfOptions) => Promise<KnowledgeBaseAsOf>;
}

interface Rebuild {
  readonly result: Promise<KnowledgeBaseAsOf>;
  readonly stop: AbortController;
  /** Requests waiting for it; when the last one goes away before it is done, it stops. */
  waiting: number;
  settled: boolean;
}

/**
 * GET /nodes?asOf= rebuilds: each is a replay of MESH up to that time (knowledgeBaseAsOf, the
 * same one `x0 kb --as-of` runs), so they run one at a time, requests for the same time share
 * one, a rebuild nobody waits for any more stops, and the last few results of times already
 * past are kept (a past time's knowledge base never changes).
 */
export class ReplayedKnowledgeBases implements PastKnowledgeBases {
  private readonly rebuilds = new Map<number, Rebuild>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly entries: number;
  private readonly now: () => number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: PastKnowledgeBasesOptions = {},
  ) {
    this.entries = Math.max(1, options.entries ?? 4);
    this.now = options.now ?? Date.now;
  }

  get(asOf: Date, abandoned: AbortSignal): Promise<KnowledgeBaseAsOf> {
    const key = asOf.getTime();
    let rebuild = this.rebuilds.get(key);
    if (rebuild) {
      // Most recently used last: the first settled entries are the ones dropped.
      this.rebuilds.delete(key);
      this.rebuilds.set(key, rebuild);
    } else {
      rebuild = this.start(asOf);
    }
    const own = rebuild;
    own.waiting++;
    const leave = () => {
      own.waiting--;
      if (own.waiting === 0 && !own.settled) own.stop.abort(new Error("no request waits for this replay any more"));
    };
    if (abandoned.aborted) leave();
    else abandoned.addEventListener("abort", leave, { once: true });
    return own.result.finally(() => abandoned.removeEventListener("abort", leave));
  }

  private start(asOf: Date): Rebuild {
    const key = asOf.getTime();
    // Events stored later than a time already past cannot belong to it; a time not yet past can still gain some.
    const keep = key < this.now() - 1_000;
    const stop = new AbortController();
    const registry = this.options.producers ? { registry: ProducerRegistry.overlay(this.options.producers) } : {};
    const result = this.queue
      .catch(() => undefined)
      .then(() => {
        stop.signal.throwIfAborted();
        return (this.options.replay ?? knowledgeBaseAsOf)(this.nc, asOf, { ...registry, signal: stop.signal });
      });
    this.queue = result;
    const rebuild: Rebuild = { result, stop, waiting: 0, settled: false };
    this.rebuilds.set(key, rebuild);
    const settle = (kept: boolean) => {
      rebuild.settled = true;
      if (!kept && this.rebuilds.get(key) === rebuild) this.rebuilds.delete(key);
      this.trim();
    };
    result.then(
      () => settle(keep),
      () => settle(false),
    );
    return rebuild;
  }

  /** Drops the least recently used settled results beyond the limit (rebuilds in flight stay). */
  private trim(): void {
    let settled = [...this.rebuilds].filter(([, r]) => r.settled);
    while (settled.length > this.entries) {
      this.rebuilds.delete(settled[0]![0]);
      settled = settled.slice(1);
    }
  }

  /** Stops every rebuild in flight (the server is closing). */
  close(): void {
    for (const rebuild of this.rebuilds.values()) if (!rebuild.settled) rebuild.stop.abort(new Error("the query API is closing"));
  }
}
