/** Chaos runs: breaking the twin on purpose and reading what the healing loop made of it. */
export { runChaos } from "./run.ts";
export type { ChaosRunOptions, ChaosRunResult } from "./run.ts";
export { TargetPicker } from "./picks.ts";
export { simulateHealing } from "./simulate.ts";
export type { HealingSimulationOptions, HealingSimulationResult, SimulatedFault, LoggedEvent } from "./simulate.ts";
