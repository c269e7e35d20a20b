/**
 * The digital twin: a simulated batman-adv mesh whose nodes sign and publish the same events as
 * real node agents. It stands in for radio hardware only.
 */
export { runSim } from "./run-sim.ts";
export type { RunningSim, RunSimOptions } from "./run-sim.ts";
export { MeshTwin, nodeKeySeed, TWIN_SOFTWARE } from "./twin.ts";
export type { EventSink, MeshTwinOptions, TwinNodeInfo, TwinStats } from "./twin.ts";
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
export { mixSeed, Rng } from "./rng.ts";
