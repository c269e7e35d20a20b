/** Chaos runs: breaking the twin on purpose and reading what the healing loop made of it. */
export { runChaos } from "./run.ts";
export type { ChaosRunOptions, ChaosRunResult } from "./run.ts";
export { TargetPicker } from "./picks.ts";
export { simulateHealing } from "./simulate.ts";
export type { AvailabilitySample, HealingSimulationOptions, HealingSimulationResult, SimulatedFault, SimulationTiming, LoggedEvent } from "./simulate.ts";
export { MeshIntake } from "./mesh-intake.ts";
export type { IntakeStats, IntakeVerdict } from "./mesh-intake.ts";
export { disjointSchedule } from "./schedule.ts";
export type { DisjointScheduleOptions, ScheduledFault, ScheduledKind } from "./schedule.ts";
