// Public face of the batman-adv edge: read batctl's tables (collectors) and change batman-adv's settings (actuators).
export { BatmanAdv, batmanAvailability, batctlBinary, EX_USAGE } from "./batctl.ts";
export type { ActuatorOutcome, BatmanAdvOptions, GatewaySetting, LinkReport } from "./batctl.ts";
export { linkSamples, nextHop, MAX_LINK_SAMPLES } from "./link-metrics.ts";
export {
  GatewayRow,
  HardInterfaceRow,
  MeshSettings,
  NeighbourRow,
  OriginatorRow,
  parseGateways,
  parseHardInterfaces,
  parseMeshSettings,
  parseNeighbours,
  parseOriginators,
  parseStatistics,
} from "./tables.ts";
export type { SkippedRow, Table } from "./tables.ts";
export { BatctlCommandError, BatctlOutputError } from "./errors.ts";
