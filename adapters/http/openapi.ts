import * as Schema from "effect/Schema";
import * as SchemaRepresentation from "effect/SchemaRepresentation";
import { defaultSubject } from "./routes/events.ts";
import {
  ApiError,
  AuditCheckpoint,
  AuditCheckpointPath,
  AuditCheckpointsQuery,
  AuditConsistencyProof,
  AuditConsistencyQuery,
  AuditInclusionBundle,
  AuditInclusionQuery,
  ChainLink,
  CommandsQuery,
  eventPayloads,
  EventsQuery,
  FaultRecord,
  FaultsQuery,
  Health,
  Heartbeat,
  IncidentDetail,
  IncidentPath,
  IncidentsQuery,
  IncidentState,
  IncidentSummary,
  LastEventId,
  Link,
  NodeAnnouncement,
  NodeDetail,
  NodeHealth,
  NodeLiveness,
  NodeMetrics,
  NodePath,
  NodesQuery,
  NodeSummary,
  OperatorCommand,
  StreamedEvent,
  Topology,
  TopologyNode,
} from "./schemas.ts";

/** Version of the API contract (not of the package): bumped on an incompatible change. */
export const apiVersion = "0.1.0";

type JsonSchema = Record<string, unknown>;

/** Named response and event shapes; each becomes `#/components/schemas/<identifier>`. */
const componentSchemas: readonly Schema.Top[] = [
  ApiError,
  Health,
  NodeSummary,
  NodeDetail,
  NodeAnnouncement,
  Heartbeat,
  NodeMetrics,
  Link,
  TopologyNode,
  Topology,
  StreamedEvent,
  NodeHealth,
  NodeLiveness,
  IncidentSummary,
  IncidentState,
  IncidentDetail,
  ChainLink,
  OperatorCommand,
  FaultRecord,
  AuditCheckpoint,
  AuditInclusionBundle,
  AuditConsistencyProof,
  ...eventPayloads,
];

/** Input shapes; their properties become OpenAPI parameters. */
const inputSchemas = {
  nodesQuery: NodesQuery,
  nodePath: NodePath,
  eventsQuery: EventsQuery,
  lastEventId: LastEventId,
  incidentsQuery: IncidentsQuery,
  incidentPath: IncidentPath,
  commandsQuery: CommandsQuery,
  faultsQuery: FaultsQuery,
  auditCheckpointsQuery: AuditCheckpointsQuery,
  auditCheckpointPath: AuditCheckpointPath,
  auditInclusionQuery: AuditInclusionQuery,
  auditConsistencyQuery: AuditConsistencyQuery,
} as const;

/** OpenAPI 3.1 takes JSON Schema 2020-12 as is; only the place of shared definitions differs. */
const relocateRefs = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(relocateRefs);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === "$ref" && typeof inner === "string" ? inner.replace(/^#\/\$defs\//u, "#/components/schemas/") : relocateRefs(inner),
    ]),
  );
};

/**
 * All schemas compiled in one pass so they share one pool of definitions: a shape used by
 * several responses (Link, the event payloads) is defined once and referenced everywhere.
 * JSON Schema describes the JSON form (toCodecJson), which is what goes over the wire.
 */
const compile = () => {
  const roots = [...componentSchemas, ...Object.values(inputSchemas)].map((schema) => Schema.toCodecJson(schema).ast);
  const document = SchemaRepresentation.toJsonSchemaMultiDocument(
    SchemaRepresentation.toRepresentations(roots as [(typeof roots)[number], ...typeof roots]),
  );
  const compiled = document.schemas.slice(componentSchemas.length).map((schema) => relocateRefs(schema) as JsonSchema);
  const inputs = Object.fromEntries(Object.keys(inputSchemas).map((name, i) => [name, compiled[i]!])) as Record<keyof typeof inputSchemas, JsonSchema>;
  return {
    components: relocateRefs(document.definitions) as Record<string, JsonSchema>,
    inputs,
  };
};

/** One OpenAPI parameter per property of an input Struct, `required` as the Struct says. */
const parametersOf = (struct: JsonSchema, location: "query" | "path"): JsonSchema[] => {
  const properties = (struct["properties"] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((struct["required"] ?? []) as string[]);
  return Object.entries(properties).map(([name, schema]) => ({
    name,
    in: location,
    required: location === "path" || required.has(name),
    ...(typeof schema["description"] === "string" ? { description: schema["description"] } : {}),
    schema,
  }));
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, schema: unknown, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/json": { schema } },
});
const refused = (description: string) => json(description, ref("ApiError"));

/** The OpenAPI 3.1 document of the query API, generated from the Schemas in schemas.ts. */
export const openApiDocument = (options: { readonly serverUrl?: string } = {}): Record<string, unknown> => {
  const { components, inputs } = compile();
  const badQuery = refused("A query parameter is malformed, out of range or unknown");
  return {
    openapi: "3.1.0",
    info: {
      title: "x0tta6bl4 query API",
      version: apiVersion,
      description:
        "Read-only view of the control plane: the knowledge base (nodes, links, node health) built from the MESH stream, now or as of a past time, the incident log (incidents with their event chains, operator commands, faults) built from the HEAL stream, the audit log (RFC 9162 Merkle tree over every event of MESH, HEAL, FL, GOV and IDENTITY: signed checkpoints, inclusion and consistency proofs that verify offline), and a live, resumable tail of any stream. Every error body is an ApiError.",
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    paths: {
      "/nodes": {
        get: {
          operationId: "listNodes",
          summary: "Node summaries, ordered by node id; with asOf, as they were at that time",
          description:
            "With `asOf`, the knowledge base is rebuilt in memory by replaying MESH from its start up to the last event stored at that time (the same replay as `x0 kb --as-of`); it costs a replay of MESH up to then, so rebuilds run one at a time and the last few past times are kept. The live knowledge base is not touched.",
          parameters: parametersOf(inputs.nodesQuery, "query"),
          responses: {
            "200": json("One page of nodes", { type: "array", items: ref("NodeSummary") }, {
              "X-Total-Count": { description: "Number of nodes in the knowledge base", schema: { type: "integer", minimum: 0 } },
              "X-As-Of": { description: "With asOf: the time the knowledge base was rebuilt for", schema: { type: "string", format: "date-time" } },
              "X-As-Of-Sequence": { description: "With asOf: the last MESH sequence replayed (0: none)", schema: { type: "integer", minimum: 0 } },
              "X-History-Starts-At": {
                description: "With asOf: the first MESH sequence still stored; events before it aged out and are missing from the rebuild",
                schema: { type: "integer", minimum: 0 },
              },
            }),
            "400": badQuery,
          },
        },
      },
      "/nodes/{id}": {
        get: {
          operationId: "getNode",
          summary: "One node's full state with its neighbours resolved to node ids",
          parameters: parametersOf(inputs.nodePath, "path"),
          responses: {
            "200": json("The node", ref("NodeDetail")),
            "400": refused("The id is not a valid node id"),
            "404": refused("No node with this id in the knowledge base"),
          },
        },
      },
      "/nodes/{id}/health": {
        get: {
          operationId: "getNodeHealth",
          summary: "One node's health ratio and state, and the live failure detector's view of it when one runs",
          parameters: parametersOf(inputs.nodePath, "path"),
          responses: {
            "200": json("The node's health", ref("NodeHealth")),
            "400": refused("The id is not a valid node id"),
            "404": refused("No node with this id in the knowledge base"),
          },
        },
      },
      "/incidents": {
        get: {
          operationId: "listIncidents",
          summary: "Incidents, newest first (by the HEAL sequence of their first event)",
          parameters: parametersOf(inputs.incidentsQuery, "query"),
          responses: {
            "200": json("The incidents that match", { type: "array", items: ref("IncidentSummary") }, {
              "X-Total-Count": { description: "Number of matching incidents before the limit", schema: { type: "integer", minimum: 0 } },
            }),
            "400": badQuery,
            "503": refused("This server runs without the incident projection"),
          },
        },
      },
      "/incidents/{id}": {
        get: {
          operationId: "getIncident",
          summary: "One incident: its summary, its state folded by the incident decider, and its whole event chain",
          parameters: parametersOf(inputs.incidentPath, "path"),
          responses: {
            "200": json("The incident", ref("IncidentDetail")),
            "400": refused("The id is not a valid incident id"),
            "404": refused("No incident with this id"),
            "503": refused("This server runs without the incident projection"),
          },
        },
      },
      "/commands": {
        get: {
          operationId: "listOperatorCommands",
          summary: "Commands operators issued outside incidents (x0 heal), newest first, with the nodes' outcomes",
          parameters: parametersOf(inputs.commandsQuery, "query"),
          responses: {
            "200": json("The commands that match", { type: "array", items: ref("OperatorCommand") }, {
              "X-Total-Count": { description: "Number of matching commands before the limit", schema: { type: "integer", minimum: 0 } },
            }),
            "400": badQuery,
            "503": refused("This server runs without the incident projection"),
          },
        },
      },
      "/faults": {
        get: {
          operationId: "listFaults",
          summary: "Faults injected by chaos runs, newest first",
          parameters: parametersOf(inputs.faultsQuery, "query"),
          responses: {
            "200": json("The faults", { type: "array", items: ref("Fault") }, {
              "X-Total-Count": { description: "Number of faults before the limit", schema: { type: "integer", minimum: 0 } },
            }),
            "400": badQuery,
            "503": refused("This server runs without the incident projection"),
          },
        },
      },
      "/topology": {
        get: {
          operationId: "getTopology",
          summary: "The mesh link graph",
          responses: { "200": json("Every node and every directed link", ref("Topology")) },
        },
      },
      "/events": {
        get: {
          operationId: "streamEvents",
          summary: "Live tail of a stream as Server-Sent Events",
          description: [
            `Streams events matching \`subject\` (default \`${defaultSubject}\`) as they are stored, in stream order.`,
            "Start: the `Last-Event-ID` header (resume after that sequence), else `from_seq`, else `since`, else only events stored from now on.",
            "Each message has `id: <stream sequence>`, `event: <event type>` for verified events or `event: <status>` (e.g. `bad-signature`) for events that fail verification,",
            "which are streamed, never dropped, and `data: <StreamedEvent as JSON>`. A `: keep-alive` comment is sent every 15 s.",
            "If reading fails mid-stream, an `event: error` message with an ApiError as data ends the stream.",
          ].join(" "),
          parameters: [
            ...parametersOf(inputs.eventsQuery, "query"),
            { name: "Last-Event-ID", in: "header", required: false, description: inputs.lastEventId["description"], schema: inputs.lastEventId },
          ],
          responses: {
            "200": {
              description: "The event stream; it stays open until the client disconnects or the server stops",
              content: {
                "text/event-stream": {
                  schema: { type: "string", description: "Server-Sent Events; each data line is a StreamedEvent" },
                  // OpenAPI 3.1 cannot type SSE messages (3.2's itemSchema can); this says what `data:` holds.
                  "x-sse-data": ref("StreamedEvent"),
                  example: 'id: 42\nevent: mesh.HeartbeatSent\ndata: {"stream":"MESH","seq":42,"subject":"mesh.node-1.heartbeat","status":"verified",...}\n\n',
                },
              },
            },
            "400": refused("A query parameter or the Last-Event-ID header is malformed, or the subject is in no stream"),
            "503": refused("Too many open event streams, or the stream cannot be read now"),
          },
        },
      },
      "/audit/checkpoints": {
        get: {
          operationId: "listAuditCheckpoints",
          summary: "Signed checkpoints of the audit log, newest first",
          parameters: parametersOf(inputs.auditCheckpointsQuery, "query"),
          responses: {
            "200": json("One page of checkpoints", { type: "array", items: ref("AuditCheckpoint") }, {
              "X-Last-Checkpoint": { description: "Number of the newest message on the chain (0: none yet)", schema: { type: "integer", minimum: 0 } },
            }),
            "400": badQuery,
            "503": refused("This server runs without the auditor"),
          },
        },
      },
      "/audit/checkpoints/{n}": {
        get: {
          operationId: "getAuditCheckpoint",
          summary: "One signed checkpoint",
          parameters: parametersOf(inputs.auditCheckpointPath, "path"),
          responses: {
            "200": json("The checkpoint", ref("AuditCheckpoint")),
            "400": refused("n is not a checkpoint number"),
            "404": refused("No valid checkpoint n on the chain"),
            "503": refused("This server runs without the auditor"),
          },
        },
      },
      "/audit/proof/inclusion": {
        get: {
          operationId: "getAuditInclusionProof",
          summary: "An event, its leaf, its RFC 9162 inclusion proof and the signed checkpoint, in one bundle that `x0 audit verify-proof` checks offline",
          parameters: parametersOf(inputs.auditInclusionQuery, "query"),
          responses: {
            "200": json("The inclusion bundle", ref("AuditInclusionBundle")),
            "400": badQuery,
            "404": refused("The checkpoint does not exist or does not cover the event, or the event is not stored"),
            "409": refused("The stored event or the checkpoint does not match the auditor's tree (run x0 audit verify)"),
            "503": json("This server runs without the auditor, or the auditor has not reached that checkpoint yet (Retry-After)", ref("ApiError"), {
              "Retry-After": { description: "Seconds to wait before asking again", schema: { type: "integer" } },
            }),
          },
        },
      },
      "/audit/proof/consistency": {
        get: {
          operationId: "getAuditConsistencyProof",
          summary: "Both signed checkpoints and the RFC 9162 consistency proof that the first's tree is a prefix of the second's",
          parameters: parametersOf(inputs.auditConsistencyQuery, "query"),
          responses: {
            "200": json("The consistency proof", ref("AuditConsistencyProof")),
            "400": refused("A query parameter is malformed, or from is not a checkpoint before to"),
            "404": refused("No valid checkpoint with one of these numbers"),
            "503": json("This server runs without the auditor, or the auditor has not reached checkpoint to yet (Retry-After)", ref("ApiError"), {
              "Retry-After": { description: "Seconds to wait before asking again", schema: { type: "integer" } },
            }),
          },
        },
      },
      "/healthz": {
        get: {
          operationId: "health",
          summary: "Liveness and readiness",
          responses: {
            "200": json("NATS connected and the control plane ready", ref("Health")),
            "503": json("NATS not connected or the control plane not ready", ref("Health")),
          },
        },
      },
      "/metrics": {
        get: {
          operationId: "metrics",
          summary: "Prometheus metrics (x0_* counters, gauges, histograms)",
          responses: {
            "200": { description: "Prometheus text exposition format", content: { "text/plain; version=0.0.4; charset=utf-8": { schema: { type: "string" } } } },
          },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "openApi",
          summary: "This document",
          responses: { "200": json("OpenAPI 3.1 document", { type: "object" }) },
        },
      },
    },
    components: { schemas: components },
  };
};
