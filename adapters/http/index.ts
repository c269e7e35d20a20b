/** The query API: the knowledge base, node health, the incident log, live event streams, health, metrics and OpenAPI over HTTP. */
export { startHttpApi } from "./server.ts";
export type { HttpApi, HttpApiOptions } from "./server.ts";
export type { LivenessSource, NodeLiveness } from "./context.ts";
export { apiVersion, openApiDocument } from "./openapi.ts";
export { sseMessage } from "./routes/events.ts";
export {
  ApiError,
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
