import * as Schema from "effect/Schema";
import { AUDITED_STREAMS } from "../../domains/audit/index.ts";
import { eventCatalog } from "../../domains/catalog.ts";
import { FaultCleared, FaultInjected } from "../../domains/chaos/index.ts";
import {
  ActionPlanned,
  CommandApplied,
  CommandFailed,
  EpochMs,
  Escalated,
  FindingKindSchema,
  HealingAction,
  HealingCommandIssued,
  IncidentDetected,
  IncidentId,
  IncidentStatus,
  Recovered,
} from "../../domains/healing/index.ts";
import type { EventDefinition } from "../../domains/kernel/index.ts";
import { MacAddress, NonNegative, NonNegativeInt, ProducerId } from "../../domains/kernel/index.ts";
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
  asOf: Schema.optionalKey(
    Rfc3339Time.annotate({
      description:
        "The knowledge base as it was at this RFC 3339 time, rebuilt by replaying MESH up to the last event stored by then (each event verified and authorized as the live projection does); the live knowledge base is not touched. Default: now (the live knowledge base).",
    }),
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

const Limit = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 10_000 }))).annotate({
  expected: "an integer from 1 to 10000",
});

/** `GET /incidents` query. */
export const IncidentsQuery = Schema.Struct({
  status: Schema.optionalKey(
    Schema.Literals(["open", "recovered", "escalated"]).annotate({
      description: "open: detected and not yet recovered or escalated. Default: every incident.",
      expected: "open, recovered or escalated",
    }),
  ),
  kind: Schema.optionalKey(FindingKindSchema.annotate({ description: "Only incidents of this finding kind. Default: every kind." })),
  limit: Schema.optionalKey(Limit.annotate({ description: "Largest number of incidents to return, newest first (1-10000). Default: all." })),
});
export type IncidentsQuery = typeof IncidentsQuery.Type;

/** `GET /incidents/{id}` path parameters. */
export const IncidentPath = Schema.Struct({
  id: IncidentId.annotate({ description: "Incident id: 1-64 of A-Z a-z 0-9 _ -", expected: "an incident id (1-64 of A-Z a-z 0-9 _ -)" }),
});

/** `GET /commands` query. */
export const CommandsQuery = Schema.Struct({
  node: Schema.optionalKey(NodeId.annotate({ description: "Only commands addressed to this node. Default: every node." })),
  limit: Schema.optionalKey(Limit.annotate({ description: "Largest number of commands to return, newest first (1-10000). Default: all." })),
});
export type CommandsQuery = typeof CommandsQuery.Type;

/** `GET /faults` query. */
export const FaultsQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit.annotate({ description: "Largest number of faults to return, newest first (1-10000). Default: all." })),
});
export type FaultsQuery = typeof FaultsQuery.Type;

/** An audit checkpoint number: its sequence in the AUDIT stream. */
const CheckpointNumber = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))).annotate({
  description: "A checkpoint number: its sequence in the AUDIT stream",
  expected: "a checkpoint number (an integer >= 1)",
});

/** `GET /audit/checkpoints` query. */
export const AuditCheckpointsQuery = Schema.Struct({
  limit: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 100 }))).annotate({
      description: "Largest number of checkpoints to return, newest first (1-100). Default 20.",
      expected: "an integer from 1 to 100",
    }),
  ),
  before: Schema.optionalKey(CheckpointNumber.annotate({ description: "Only checkpoints numbered below this one (the next page). Default: from the newest." })),
});

/** `GET /audit/checkpoints/{n}` path parameters. */
export const AuditCheckpointPath = Schema.Struct({ n: CheckpointNumber });

/** `GET /audit/proof/inclusion` query. */
export const AuditInclusionQuery = Schema.Struct({
  stream: Schema.Literals(AUDITED_STREAMS).annotate({ description: "The audited stream that holds the event", expected: AUDITED_STREAMS.join(", ") }),
  seq: StreamSequence.annotate({ description: "The event's stream sequence" }),
  checkpoint: Schema.optionalKey(CheckpointNumber.annotate({ description: "Prove against this checkpoint. Default: the auditor's latest." })),
});

/** `GET /audit/proof/consistency` query. */
export const AuditConsistencyQuery = Schema.Struct({
  from: CheckpointNumber.annotate({ description: "The older checkpoint" }),
  to: CheckpointNumber.annotate({ description: "The newer checkpoint" }),
});

// Query strings and headers arrive as strings: these codecs turn them into the types above.
export const IncidentsQueryFromStrings = Schema.toCodecStringTree(IncidentsQuery);
export const CommandsQueryFromStrings = Schema.toCodecStringTree(CommandsQuery);
export const FaultsQueryFromStrings = Schema.toCodecStringTree(FaultsQuery);
export const NodesQueryFromStrings = Schema.toCodecStringTree(NodesQuery);
export const EventsQueryFromStrings = Schema.toCodecStringTree(EventsQuery);
export const LastEventIdFromString = Schema.toCodecStringTree(LastEventId);
export const AuditCheckpointsQueryFromStrings = Schema.toCodecStringTree(AuditCheckpointsQuery);
export const AuditCheckpointPathFromStrings = Schema.toCodecStringTree(AuditCheckpointPath);
export const AuditInclusionQueryFromStrings = Schema.toCodecStringTree(AuditInclusionQuery);
export const AuditConsistencyQueryFromStrings = Schema.toCodecStringTree(AuditConsistencyQuery);

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

/** An event's payload schema named by its wire type, so responses that embed it reference one definition. */
const payloadSchema = <S extends Schema.Top>(definition: EventDefinition<string, S>): S =>
  definition.schema.annotate({ identifier: definition.type, description: `Payload of ${definition.type} (schema version ${definition.version})` }) as S;

export const IncidentDetectedPayload = payloadSchema(IncidentDetected);
export const ActionPlannedPayload = payloadSchema(ActionPlanned);
export const HealingCommandIssuedPayload = payloadSchema(HealingCommandIssued);
export const CommandAppliedPayload = payloadSchema(CommandApplied);
export const CommandFailedPayload = payloadSchema(CommandFailed);
export const RecoveredPayload = payloadSchema(Recovered);
export const EscalatedPayload = payloadSchema(Escalated);
const FaultInjectedPayload = payloadSchema(FaultInjected);
const FaultClearedPayload = payloadSchema(FaultCleared);
const namedPayloads: ReadonlyMap<string, Schema.Top> = new Map<string, Schema.Top>([
  [IncidentDetected.type, IncidentDetectedPayload],
  [ActionPlanned.type, ActionPlannedPayload],
  [HealingCommandIssued.type, HealingCommandIssuedPayload],
  [CommandApplied.type, CommandAppliedPayload],
  [CommandFailed.type, CommandFailedPayload],
  [Recovered.type, RecoveredPayload],
  [Escalated.type, EscalatedPayload],
  [FaultInjected.type, FaultInjectedPayload],
  [FaultCleared.type, FaultClearedPayload],
]);

/** Every event payload the platform knows, named by its wire type (e.g. `mesh.NodeAnnounced`). */
export const eventPayloads: readonly Schema.Top[] = [...eventCatalog.values()].map((definition) => namedPayloads.get(definition.type) ?? payloadSchema(definition));

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

// ---------------------------------------------------------------------------------------------
// Healing: incidents, operator commands, faults, node health
// ---------------------------------------------------------------------------------------------

const sequence = (what: string) => StreamSequence.annotate({ description: `HEAL stream sequence of ${what}` });

export const ChainLink = Schema.Struct({
  seq: StreamSequence.annotate({ description: "HEAL stream sequence" }),
  subject: Schema.String,
  type: Schema.String.annotate({ description: "Event type, e.g. heal.ActionPlanned" }),
  eventId: Schema.String,
  producerId: Schema.String.annotate({ description: "Who signed it" }),
  correlationId: Schema.String.annotate({ description: "The chain it belongs to: the incident id (or an operator command's id)" }),
  causationId: Schema.String.annotate({ description: "The event that caused it" }),
  occurredAt: IsoTime,
  ignored: Schema.optionalKey(
    Schema.Literal(true).annotate({ description: "The event changed nothing (a repeat, or a fact that does not fit the state); listed because it is in the stream" }),
  ),
}).annotate({ identifier: "ChainLink", description: "One verified event of a chain, in stream order" });
export type ChainLink = typeof ChainLink.Type;

const commandCounts = Schema.Struct({ issued: NonNegativeInt, applied: NonNegativeInt, failed: NonNegativeInt });

export const IncidentSummary = Schema.Struct({
  incidentId: IncidentId,
  status: IncidentStatus.annotate({ description: "none (events seen, no detection yet), detected, planned, commanded, applied, recovered or escalated" }),
  kind: Schema.optionalKey(FindingKindSchema),
  reason: Schema.optionalKey(Schema.String),
  affectedCount: Schema.optionalKey(NonNegativeInt),
  onsetAt: Schema.optionalKey(IsoTime.annotate({ description: "Earliest evidence of the failure" })),
  detectedAt: Schema.optionalKey(IsoTime),
  actionId: Schema.optionalKey(Schema.String),
  policy: Schema.optionalKey(Schema.String),
  commands: commandCounts.annotate({ description: "Commands issued for the incident, and how many were applied or failed" }),
  recoveredAt: Schema.optionalKey(IsoTime.annotate({ description: "When recovery was verified" })),
  escalatedAt: Schema.optionalKey(IsoTime),
  escalationReason: Schema.optionalKey(Schema.String),
  detectionSeconds: Schema.optionalKey(NonNegative.annotate({ description: "detectedAt - onsetAt, when the detection names an onset" })),
  timeToRecoverSeconds: Schema.optionalKey(NonNegative.annotate({ description: "recoveredAt - onsetAt (else - detectedAt)" })),
  firstSeq: sequence("the incident's first event"),
  lastSeq: sequence("the incident's last event"),
  eventCount: NonNegativeInt.annotate({ description: "Events in the incident's chain" }),
}).annotate({ identifier: "IncidentSummary", description: "One incident in the GET /incidents list" });
export type IncidentSummary = typeof IncidentSummary.Type;

export const IncidentState = Schema.Struct({
  status: IncidentStatus,
  detected: Schema.optionalKey(IncidentDetectedPayload),
  plan: Schema.optionalKey(ActionPlannedPayload),
  commands: Schema.Array(
    Schema.Struct({
      issued: HealingCommandIssuedPayload,
      applied: Schema.optionalKey(CommandAppliedPayload),
      failed: Schema.optionalKey(CommandFailedPayload),
    }),
  ).annotate({ description: "Commands in the order issued, each with the node's outcome" }),
  appliedAt: Schema.optionalKey(EpochMs.annotate({ description: "When the last target applied its command, epoch ms" })),
  recovered: Schema.optionalKey(RecoveredPayload),
  escalated: Schema.optionalKey(EscalatedPayload),
}).annotate({ identifier: "IncidentState", description: "The incident folded by the domain's decider; times are epoch ms, as the events carry them" });

export const IncidentDetail = Schema.Struct({
  incident: IncidentSummary,
  state: IncidentState,
  chain: Schema.Array(ChainLink).annotate({ description: "Every verified event of the incident, in stream order" }),
}).annotate({ identifier: "IncidentDetail", description: "One incident: its summary, its state and its event chain" });
export type IncidentDetail = typeof IncidentDetail.Type;

export const OperatorCommand = Schema.Struct({
  commandId: Schema.String,
  targetNodeId: NodeId,
  action: HealingAction,
  issuer: Schema.String.annotate({ description: "Producer that signed the command (operator-<name>)" }),
  issuedAt: IsoTime,
  status: Schema.Literals(["issued", "applied", "failed"]).annotate({ description: "issued: no outcome from the node yet" }),
  applied: Schema.optionalKey(CommandAppliedPayload),
  failed: Schema.optionalKey(CommandFailedPayload),
  seq: sequence("the command"),
  chain: Schema.Array(ChainLink),
}).annotate({ identifier: "OperatorCommand", description: "A command an operator issued outside any incident (x0 heal), with the node's outcome" });
export type OperatorCommand = typeof OperatorCommand.Type;

export const FaultRecord = Schema.Struct({
  faultId: Schema.String,
  scenario: Schema.optionalKey(Schema.String),
  fault: Schema.optionalKey(FaultInjected.schema.fields.fault),
  injectedAt: Schema.optionalKey(IsoTime),
  clearedAt: Schema.optionalKey(IsoTime),
  active: Schema.Boolean.annotate({ description: "Injected and not yet cleared" }),
  firstSeq: sequence("the fault's first event"),
  lastSeq: sequence("the fault's last event"),
}).annotate({ identifier: "Fault", description: "A fault a chaos run injected (chaos.FaultInjected / FaultCleared)" });
export type FaultRecord = typeof FaultRecord.Type;

export const NodeLiveness = Schema.Struct({
  phi: NonNegative.annotate({ description: "Phi-accrual suspicion level now" }),
  suspected: Schema.Boolean.annotate({ description: "phi at or above the failure detector's threshold" }),
  lastHeartbeatAt: Schema.optionalKey(IsoTime),
}).annotate({ identifier: "NodeLiveness", description: "The live failure detector's view of the node" });

export const NodeHealth = Schema.Struct({
  nodeId: NodeId,
  ratio: NonNegative.annotate({ description: "Delivered over required capacity" }),
  state: Schema.Literals(["surplus", "healthy", "strained", "critical"]).annotate({ description: "> 1.4 surplus, > 1.0 healthy, > 0.8 strained, else critical" }),
  directive: Schema.Literals(["optimize", "maintain", "watch", "heal"]),
  deliveredKbps: NonNegative.annotate({ description: "Sum over the node's latest link table, kbit/s" }),
  requiredKbps: NonNegative.annotate({ description: "Demand, floored at the minimum demand, kbit/s" }),
  demandKbps: Schema.NullOr(NonNegative).annotate({ description: "Observed traffic rate, kbit/s; null when unknown (the floor applies)" }),
  demandBasis: Schema.Literals(["since-boot-average", "unknown"]).annotate({
    description: "How demand was estimated: the traffic counters of the latest node metrics over the node's uptime (the knowledge base keeps one reading), or not at all",
  }),
  links: NonNegativeInt.annotate({ description: "Links in the node's latest link table" }),
  linksReportedAt: Schema.optionalKey(IsoTime),
  liveness: Schema.optionalKey(NodeLiveness),
}).annotate({ identifier: "NodeHealth", description: "A node's health ratio (domains/healing/health.ts) over what the knowledge base knows of it" });
export type NodeHealth = typeof NodeHealth.Type;

// The audit log's documents are defined beside their offline verifier (domains/audit/bundle.ts),
// so what the API serves is what `x0 audit verify-proof` checks.
export {
  CheckpointView as AuditCheckpoint,
  ConsistencyView as AuditConsistencyProof,
  InclusionBundle as AuditInclusionBundle,
} from "../../domains/audit/index.ts";
