import * as Schema from "effect/Schema";
import { eventCatalog } from "../../domains/catalog.ts";
import { MacAddress, NonNegativeInt, ProducerId } from "../../domains/kernel/index.ts";
import { HeartbeatSent, LinkSample, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { QuarantineReason } from "../../streams/errors.ts";
import { streamForSubject } from "../../streams/event-reader.ts";

/*
 * Every shape the query API reads or writes, as effect Schemas. The same Schema validates a
 * request's input, types the handler's output and generates the OpenAPI document, so the
 * document cannot drift from what the server does.
 */

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** A node id in a path: the same rule as a producer id, since it is one NATS subject token. */
export const NodeId = ProducerId.annotate({ description: "Node id: 1-64 of A-Z a-z 0-9 _ -", expected: "a node id (1-64 of A-Z a-z 0-9 _ -)" });

/** `GET /nodes/{id}` path parameters. */
export const NodePath = Schema.Struct({ id: NodeId });

/** A JetStream stream sequence; the first stored message has sequence 1. */
export const StreamSequence = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))).annotate({
  expected: "a stream sequence (an integer >= 1)",
});

/**
 * Marks a check that JSON Schema cannot express: it is left out of the document (the server
 * still enforces it), and annotations added after it stay on the schema itself.
 */
const looser = () => [{}, true] as const;

/**
 * A time as RFC 3339 requires it (date, `T`, time, zone). Looser forms such as `2024-05-01` are
 * refused rather than guessed: a resume point in the wrong zone replays the wrong history.
 */
export const Rfc3339Time = Schema.String.annotate({ format: "date-time" }).pipe(
  Schema.check(
    Schema.isPattern(/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/u, {
      expected: "an RFC 3339 time such as 2024-05-01T12:00:00Z",
    }),
    Schema.makeFilter((time: string) => Number.isFinite(Date.parse(time)), {
      expected: "a time that exists on the calendar",
      toJsonSchema: looser,
    }),
  ),
);

/** Echoes a client's value in a message, shortened. */
const quoteInput = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);

/** Tokens are non-empty, contain no whitespace, `*` stands alone and `>` stands alone at the end. */
const isSubjectFilter = (subject: string): boolean =>
  subject.split(".").every(
    (token, index, tokens) =>
      token.length > 0 &&
      !/\s/u.test(token) &&
      (token === "*" || !token.includes("*")) &&
      (token === ">" ? index === tokens.length - 1 : !token.includes(">")),
  );

/** A NATS subject filter inside one of x0's streams, e.g. `mesh.>` or `mesh.*.heartbeat`. */
export const SubjectFilter = Schema.String.pipe(
  Schema.check(
    Schema.isMaxLength(256),
    Schema.makeFilter((subject: string) => isSubjectFilter(subject) || `${quoteInput(subject)} is not a NATS subject filter`, {
      expected: "a NATS subject filter",
      toJsonSchema: looser,
    }),
    Schema.makeFilter(
      (subject: string) => {
        try {
          streamForSubject(subject);
          return true;
        } catch (error) {
          return (error as Error).message;
        }
      },
      { toJsonSchema: looser },
    ),
  ),
).annotate({ description: "NATS subject filter; its first token selects the stream (mesh, heal, fl, gov, identity, audit, quarantine)" });

/** `GET /nodes` query. Both bounds are optional: without them the whole list is returned. */
export const NodesQuery = Schema.Struct({
  limit: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 10_000 }))).annotate({
      description: "Largest number of nodes to return (1-10000). Default: all.",
      expected: "an integer from 1 to 10000",
    }),
  ),
  offset: Schema.optionalKey(
    NonNegativeInt.annotate({ description: "Nodes to skip, in node id order. Default 0.", expected: "an integer >= 0" }),
  ),
});
export type NodesQuery = typeof NodesQuery.Type;

/** `GET /events` query. */
export const EventsQuery = Schema.Struct({
  subject: Schema.optionalKey(SubjectFilter.annotate({ default: "mesh.>", examples: ["mesh.>", "mesh.*.heartbeat", "mesh.node-7.*"] })),
  from_seq: Schema.optionalKey(StreamSequence.annotate({ description: "Start at this stream sequence (inclusive)." })),
  since: Schema.optionalKey(Rfc3339Time.annotate({ description: "Start at the first event stored at or after this RFC 3339 time." })),
}).pipe(
  Schema.check(
    Schema.makeFilter((query: { readonly from_seq?: number; readonly since?: string }) =>
      query.from_seq === undefined || query.since === undefined ? true : "give from_seq or since, not both",
    ),
  ),
);
export type EventsQuery = typeof EventsQuery.Type;

/** The SSE `Last-Event-ID` header: the sequence of the last event the client received. */
export const LastEventId = NonNegativeInt.annotate({
  description: "Sequence of the last event received; the stream resumes after it. Takes precedence over from_seq and since, as a reconnecting EventSource sends both.",
  expected: "a stream sequence (an integer >= 0)",
});

// Query strings and headers arrive as strings: these codecs turn them into the types above.
export const NodesQueryFromStrings = Schema.toCodecStringTree(NodesQuery);
export const EventsQueryFromStrings = Schema.toCodecStringTree(EventsQuery);
export const LastEventIdFromString = Schema.toCodecStringTree(LastEventId);

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

const IsoTime = Schema.String.annotate({ format: "date-time", description: "RFC 3339 UTC time" });

export const ApiError = Schema.Struct({
  error: Schema.String.annotate({ description: "What went wrong, in one sentence" }),
  detail: Schema.optionalKey(Schema.String.annotate({ description: "Which input and why, when there is more to say" })),
}).annotate({ identifier: "ApiError", description: "Every non-2xx JSON response" });
export type ApiError = typeof ApiError.Type;

export const Heartbeat = Schema.Struct({
  uptime: HeartbeatSent.schema.fields.uptime,
  at: IsoTime,
}).annotate({ identifier: "Heartbeat", description: "The node's latest heartbeat (uptime in seconds)" });

const { nodeId: _metricsNodeId, ...nodeMetricsFields } = NodeMetricsReported.schema.fields;
export const NodeMetrics = Schema.Struct({ ...nodeMetricsFields, at: IsoTime }).annotate({
  identifier: "NodeMetrics",
  description: "The node's latest resource and traffic counters (mesh.NodeMetricsReported)",
});

// The public key stays out of the read model's view: key ids identify it, and the producers
// registry is where keys are looked up.
const { nodeId: _announcedNodeId, publicKey: _publicKey, ...announcementFields } = NodeAnnounced.schema.fields;
export const NodeAnnouncement = Schema.Struct({
  ...announcementFields,
  keyId: Schema.String.annotate({ description: "Id of the key the node signs with" }),
  at: IsoTime,
}).annotate({ identifier: "NodeAnnouncement", description: "The node's latest announcement (mesh.NodeAnnounced), without its key" });

export const Link = Schema.Struct({
  source: NodeId.annotate({ description: "Node that reported the link" }),
  target: Schema.NullOr(NodeId).annotate({ description: "Node owning neigh_address, or null while no announcement names that MAC" }),
  ...LinkSample.fields,
  at: IsoTime.annotate({ description: "When the source reported its link table" }),
}).annotate({ identifier: "Link", description: "One direction of a link, as its source node last reported it (batctl neighbour fields)" });
export type Link = typeof Link.Type;

const nodeIdentity = {
  nodeId: NodeId,
  seq: StreamSequence.annotate({ description: "MESH stream sequence of the last event applied to this node" }),
  lastSeen: IsoTime.annotate({ description: "When the node's newest event occurred" }),
};

export const NodeSummary = Schema.Struct({
  ...nodeIdentity,
  hostname: Schema.optionalKey(Schema.String),
  primaryMac: Schema.optionalKey(MacAddress),
  heartbeat: Schema.optionalKey(Heartbeat),
  metrics: Schema.optionalKey(NodeMetrics),
  neighbourCount: NonNegativeInt.annotate({ description: "Neighbours in the node's latest link table" }),
}).annotate({ identifier: "NodeSummary", description: "One node in the GET /nodes list" });
export type NodeSummary = typeof NodeSummary.Type;

export const NodeDetail = Schema.Struct({
  ...nodeIdentity,
  announced: Schema.optionalKey(NodeAnnouncement),
  heartbeat: Schema.optionalKey(Heartbeat),
  metrics: Schema.optionalKey(NodeMetrics),
  linksReportedAt: Schema.optionalKey(IsoTime.annotate({ description: "When the node last reported its link table" })),
  neighbours: Schema.Array(Link).annotate({ description: "The node's latest link table, neighbour MACs resolved to node ids" }),
}).annotate({ identifier: "NodeDetail", description: "Everything the knowledge base knows about one node" });
export type NodeDetail = typeof NodeDetail.Type;

export const TopologyNode = Schema.Struct({
  nodeId: NodeId,
  lastSeen: IsoTime,
  hostname: Schema.optionalKey(Schema.String),
  primaryMac: Schema.optionalKey(MacAddress),
  location: announcementFields.location,
}).annotate({ identifier: "TopologyNode", description: "A vertex of the link graph" });

export const Topology = Schema.Struct({
  nodes: Schema.Array(TopologyNode).annotate({ description: "Every known node, by node id" }),
  links: Schema.Array(Link).annotate({ description: "Every directed link, by source then neigh_address" }),
}).annotate({ identifier: "Topology", description: "The mesh link graph as the knowledge base holds it" });
export type Topology = typeof Topology.Type;

export const Health = Schema.Struct({
  status: Schema.Literals(["ok", "unavailable"]),
  nats: Schema.Literals(["connected", "disconnected", "closed"]).annotate({ description: "State of the control plane's NATS connection" }),
  ready: Schema.Boolean.annotate({ description: "Whether the control plane reports itself ready (projections restored)" }),
}).annotate({ identifier: "Health", description: "ok only when NATS is connected and the control plane is ready" });
export type Health = typeof Health.Type;

/** Every event payload the platform knows, named by its wire type (e.g. `mesh.NodeAnnounced`). */
export const eventPayloads: readonly Schema.Top[] = [...eventCatalog.values()].map((definition) =>
  definition.schema.annotate({ identifier: definition.type, description: `Payload of ${definition.type} (schema version ${definition.version})` }),
);

/** The `data:` of one Server-Sent Event: the stored event as `stringifyEvent` renders it. */
export const StreamedEvent = Schema.Struct({
  stream: Schema.String,
  seq: StreamSequence,
  subject: Schema.String,
  storedAt: IsoTime.annotate({ description: "When the server stored the event" }),
  status: Schema.Union([Schema.Literal("verified"), QuarantineReason]).annotate({
    description: "verified, or why the event would be quarantined; unverified events are streamed too, never dropped",
  }),
  detail: Schema.optionalKey(Schema.String),
  type: Schema.optionalKey(Schema.String.annotate({ description: "Event type, e.g. mesh.HeartbeatSent" })),
  version: Schema.optionalKey(Schema.Int),
  eventId: Schema.optionalKey(Schema.String),
  producerId: Schema.optionalKey(Schema.String),
  keyId: Schema.optionalKey(Schema.String),
  occurredAt: Schema.optionalKey(IsoTime),
  correlationId: Schema.optionalKey(Schema.String),
  causationId: Schema.optionalKey(Schema.String),
  traceparent: Schema.optionalKey(Schema.String),
  payload: Schema.optionalKey(
    Schema.Union(eventPayloads).annotate({ description: "The decoded payload of `type`; byte strings as base64. Absent when it could not be decoded." }),
  ),
}).annotate({ identifier: "StreamedEvent", description: "The data of each message on GET /events" });
