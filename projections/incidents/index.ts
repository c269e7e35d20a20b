export { IncidentLog, detectionSeconds, timeToRecoverSeconds, matchesStatus } from "./model.ts";
export type { ChainLink, FaultRecord, IncidentFilter, IncidentRecord, IncidentStatusFilter, LoggedEvent, OperatorCommandRecord, RecordKey, Reported } from "./model.ts";
export { authorizeHealEvent } from "./authorize.ts";
export type { HealEnvelope } from "./authorize.ts";
export { IncidentProjection } from "./projection.ts";
export type { IncidentProjectionOptions } from "./projection.ts";
export { incidentSummary, incidentDetail, operatorCommandView, faultView, describeAction } from "./views.ts";
export type { IncidentSummaryView, IncidentDetailView, OperatorCommandView, FaultView } from "./views.ts";
