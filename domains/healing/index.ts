// Public face of the healing context: Analyze and Plan decisions, HEAL events, the incident decider. Pure.
export { defaultFailureDetectorOptions, resolveFailureDetectorOptions, initialDetectorState, recordHeartbeat, intervalStatistics, phiOf, phi, isSuspected, detectionTimeMs, detectionTimeTable } from "./failure-detector.ts";
export type { FailureDetectorOptions, ResolvedFailureDetectorOptions, DetectorState, DetectionTimeInput, DetectionTimeRow } from "./failure-detector.ts";
export { linkMetrics, defaultLinkDegradationOptions, resolveLinkDegradationOptions, initialLinkState, linkKey, linkDeviation, observeLinkSample, relearnLinkBaseline } from "./link-degradation.ts";
export type { LinkMetric, LinkObservationSample, Thresholds, LinkDegradationOptions, ResolvedLinkDegradationOptions, LinkStatus, LinkBaseline, LinkDegradationState, LinkObservation } from "./link-degradation.ts";
export { healthThresholds, healthDirective, seedAliases, classifyHealth, defaultHealthOptions, linkDeliveredKbps, trafficDemandKbps, nodeHealth, meshHealth } from "./health.ts";
export type { HealthState, HealthDirective, HealthOptions, CapacitySample, TrafficCounters, NodeHealthInput, NodeHealth, MeshHealth } from "./health.ts";
export { localizeRootCauses } from "./root-cause.ts";
export type { Link, TopologySnapshot, RootCauseKind, Blamed, RootCause } from "./root-cause.ts";
export { TQ_MAX, DEFAULT_HOP_PENALTY, MIN_ROUTE_TQ, OGM_TTL, applyHopPenalty, receivedTq, pathTq, bestRoutesTo, bestRoute, hopPenaltyToAvoid } from "./route-cost.ts";
export type { ReceivedOgm, RouteLink, NodeRouting, RouteTopology, RouteCostOptions, Route, LinkAvoidanceOptions, LinkAvoidance } from "./route-cost.ts";
export { findingTarget, actionKey, healingPolicies, defaultPlanOptions, resolvePlanOptions, planHealing, toPlanSteps } from "./plan.ts";
export type { GatewayMode, HealingAction as PlannedAction, MisbehaviourFinding, Finding, FindingKind, ExpectedEffect, NodeFlags, ActionOutcome, RecentAction, PlanningContext, Verdict, HealingPolicy, PlanOptions, ResolvedPlanOptions, Skipped, Plan, EscalationReason, Escalation, Hold, PlanDecision } from "./plan.ts";
export { RootCauseKind as RootCauseKindSchema, EpochMs, IncidentId, CommandId, ActionId, PolicyName, InterfaceName, Ipv4Address, Ipv6Prefix, TrafficSource, HealingAction, MAX_LISTED_AFFECTED, MAX_ACTION_TARGETS, MAX_PLAN_STEPS, FindingKind as FindingKindSchema, ExpectedEffect as ExpectedEffectSchema, PlanStep, IncidentDetected, ActionPlanned, HealingCommandIssued, CommandApplied, MAX_STDERR, CommandFailed, Recovered, Escalated, healEvents, healCommandSubject, healOutcomeSubject, incidentSubject, healSubjectOf } from "./events.ts";
export type { HealEvent, PlanStep as PlanStepType } from "./events.ts";
export { IncidentStatus, IncidentStateError, initialState, decide, evolve, fold, allApplied } from "./incident.ts";
export type { CommandRecord, IncidentState, CommandOutcome, IncidentCommand, IncidentDecision } from "./incident.ts";
