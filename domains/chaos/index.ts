// Public face of the chaos context: the fault library and its events. Pure.
export { FaultId, Fault, FaultInjected, FaultCleared, chaosEvents, faultSubject } from "./events.ts";
export type { FaultKind } from "./events.ts";
export { expectedRootCauses, faultNodes, chaosReport, percentile, collectChaosLog } from "./report.ts";
export type { LoggedFault, LoggedIncident, FaultOutcome, ChaosReport } from "./report.ts";
export { Scenario, ScenarioFault, ScenarioError, parseScenario } from "./scenario.ts";
