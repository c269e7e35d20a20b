/**
 * The digital twin: a simulated batman-adv mesh whose nodes sign and publish the same events as
 * real node agents, carry out healing commands and take chaos faults. It stands in for radio
 * hardware only.
 */
export { runSim } from "./run-sim.ts";
export type { RunningSim, RunSimOptions } from "./run-sim.ts";
export { MeshTwin, nodeKeySeed, TWIN_SOFTWARE } from "./twin.ts";
export type { EventSink, ManualEventFlags, ManualSink, MeshTwinOptions, TwinNodeInfo, TwinNodeState, TwinStats } from "./twin.ts";
export { TwinAgent, outcomeEventId } from "./agent.ts";
export type { TwinAgentOptions, TwinAgentStats } from "./agent.ts";
export { answerCommand, executeAction, RESTART_DOWN_MS } from "./commands.ts";
export type { CommandOutcome } from "./commands.ts";
export { distanceM, FaultTargetError, injectFault } from "./faults.ts";
export type { ActiveFault } from "./faults.ts";
export { availability, DELIVERY_THRESHOLD, hopDelivery, routeDelivery, routeTopology, UNICAST_ATTEMPTS } from "./routing.ts";
export type { Availability, AvailabilityOptions, PairFailure, PairFailureCause, TwinRouteLink } from "./routing.ts";
export { MeshModel } from "./mesh-model.ts";
export type { MeshModelOptions } from "./mesh-model.ts";
export { FLOOD_FACTOR, FLOOD_MIN_EXTRA_BYTES_PER_SECOND, HARD_IFNAME, MEAN_PACKET_BYTES } from "./node.ts";
export type { ByzantineBehaviour, GatewayMode, GatewaySetting, RateLimitRule } from "./node.ts";
export {
  adjacency,
  components,
  generateTopology,
  generatedMac,
  generatedNodeId,
  loadMeshviewer,
  meanDegree,
  parseMeshviewer,
  TopologyFileError,
} from "./topology.ts";
export type { GenerateOptions, GeoLocation, LinkKind, MeshLinkSpec, MeshNodeSpec, MeshTopology } from "./topology.ts";
export { LinkModel, linkConditions, lossFromDistance, lossFromTq, TQ_LOSS_EXPONENT, tqFromLoss } from "./link-model.ts";
export type { LinkConditions, LinkMetrics, LinkModelOptions } from "./link-model.ts";
export { mixSeed, Rng } from "../../domains/kernel/rng.ts";
