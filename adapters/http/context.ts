import type { IncomingMessage, ServerResponse } from "node:http";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NodeLiveness } from "../../domains/healing/index.ts";
import type { AuditProofs, KnowledgeBaseAsOf } from "../../projections/audit/index.ts";
import type { IncidentLog } from "../../projections/incidents/index.ts";
import type { KnowledgeBase } from "../../projections/knowledge-base/index.ts";
import type { ProducerRegistry } from "../../streams/producer-registry.ts";

/** State of the control plane's NATS connection, as the status events last reported it. */
export type NatsState = "connected" | "disconnected" | "closed";

/** A node as the healing loop's failure detector sees it now (phi, suspected, last heartbeat). */
export type { NodeLiveness } from "../../domains/healing/index.ts";

/** A live failure detector (the healing loop's), asked per node; undefined for a node it has not heard of. */
export interface LivenessSource {
  nodeLiveness(nodeId: string): NodeLiveness | undefined;
}

/** What every route handler may use: the read model, NATS and the server's own bookkeeping. */
export interface ApiContext {
  readonly kb: KnowledgeBase;
  readonly nc: NatsConnection;
  readonly ready: () => boolean;
  readonly log: (line: string) => void;
  readonly natsState: () => NatsState;
  /** One JetStream manager per server, created on first use. */
  readonly jetstreamManager: () => Promise<JetStreamManager>;
  readonly eventStreams: EventStreamRegistry;
  readonly keepAliveMs: number;
  readonly maxEventStreams: number;
  /** The incident log (incidents, operator commands, faults), when the control plane runs the incident projection. */
  readonly incidents?: IncidentLog;
  /** The live failure detector, when one runs. */
  readonly liveness?: LivenessSource;
  /** Live producer keys of the control plane, when it shares them. */
  readonly producers?: ProducerRegistry;
  /** Checkpoints and proofs of the auditor running in this process, when one runs. */
  readonly audit?: AuditProofs;
  /** Past knowledge bases rebuilt for GET /nodes?asOf= (one replay at a time, the last few kept). */
  readonly pastKnowledgeBases: PastKnowledgeBases;
  /** The OpenAPI document of this server, built once. */
  readonly openApi: () => unknown;
}

/** The knowledge base as of a past time, rebuilt by replay and shared by the requests that ask for the same time. */
export interface PastKnowledgeBases {
  /** The rebuild for `asOf`; `abandoned` fires when the asking request goes away (the replay stops once no request waits for it). */
  get(asOf: Date, abandoned: AbortSignal): Promise<KnowledgeBaseAsOf>;
}

/** Open Server-Sent Event streams, so close() can end them and new ones can be limited. */
export interface EventStreamRegistry {
  readonly size: number;
  /** Registers a stream; `stop` ends it, and the returned promise settles when it has ended. */
  add(stop: () => void, ended: Promise<void>): void;
}

/** One request being answered. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly api: ApiContext;
  /** Query parameters; a repeated one becomes an array (and is refused by its Schema). */
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  /** Path segments captured by the route's pattern, still percent-encoded. */
  readonly params: readonly string[];
}

export interface Route {
  /** Path template as in the OpenAPI document; also the `route` label of the request counter. */
  readonly path: string;
  readonly pattern: RegExp;
  readonly handle: (exchange: Exchange) => void | Promise<void>;
}
