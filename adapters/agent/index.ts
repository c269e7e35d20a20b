// Public face of the edge agent: the process on a mesh node that announces it, reports its links and counters, and carries out its healing commands.
export { AgentStartError, EdgeAgent, NodeKeyMismatchError } from "./agent.ts";
export type { EdgeAgentOptions, EdgeAgentStats } from "./agent.ts";
export { KernelActuators, isIdempotent, EX_UNAVAILABLE, EX_SOFTWARE } from "./actuators.ts";
export type { NodeActuators } from "./actuators.ts";
export { nodeOutcomeEventId, EX_TEMPFAIL } from "./commands.ts";
export type { CommandCounts } from "./commands.ts";
export { CommandJournal } from "./journal.ts";
export type { JournalEntry } from "./journal.ts";
