/** The query API: the knowledge base, live event streams, health, metrics and OpenAPI over HTTP. */
export { startHttpApi } from "./server.ts";
export type { HttpApi, HttpApiOptions } from "./server.ts";
export { apiVersion, openApiDocument } from "./openapi.ts";
export { sseMessage } from "./routes/events.ts";
export {
  ApiError,
  EventsQuery,
  Health,
  Link,
  NodeDetail,
  NodeId,
  NodesQuery,
  NodeSummary,
  StreamedEvent,
  Topology,
} from "./schemas.ts";
