/** The query API: the knowledge base (now or as of a past time), node health, the incident log, the audit log's proofs, live event streams, health, metrics and OpenAPI over HTTP. */
export { startHttpApi } from "./server.ts";
export type { HttpApi, HttpApiOptions } from "./server.ts";
export type { LivenessSource, NodeLiveness } from "./context.ts";
export { apiVersion, openApiDocument } from "./openapi.ts";
export { sseMessage } from "./routes/events.ts";
export {
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
  EventsQuery,
  FaultRecord,
  FaultsQuery,
  Health,
  IncidentDetail,
  IncidentPath,
  IncidentsQuery,
  IncidentState,
  IncidentSummary,
  Link,
  NodeDetail,
  NodeHealth,
  NodeId,
  NodesQuery,
  NodeSummary,
  OperatorCommand,
  StreamedEvent,
  Topology,
} from "./schemas.ts";
