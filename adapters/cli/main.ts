import { agent, agentUsage } from "./commands/agent.ts";
import { audit, auditUsage } from "./commands/audit.ts";
import { chaos, chaosUsage } from "./commands/chaos.ts";
import { fl, flUsage } from "./commands/fl.ts";
import { heal, healUsage } from "./commands/heal.ts";
import { incidents, incidentsUsage } from "./commands/incidents.ts";
import { kb, kbUsage } from "./commands/kb.ts";
import { replay, replayUsage, tail, tailUsage } from "./commands/read.ts";
import { sim, simUsage } from "./commands/sim.ts";
import { up, upUsage } from "./commands/up.ts";
import { UsageError } from "./options.ts";
import { NatsServerError } from "../../streams/errors.ts";
import { ScenarioError } from "../../domains/chaos/index.ts";

const commands: Record<string, { run: (argv: string[]) => Promise<number>; usage: string; summary: string }> = {
  up: { run: up, usage: upUsage, summary: "start the control plane (embedded NATS if needed, streams, projections, API)" },
  sim: { run: sim, usage: simUsage, summary: "run a digital-twin mesh that signs and publishes real events" },
  tail: { run: tail, usage: tailUsage, summary: "follow events on a subject filter as JSON lines" },
  replay: { run: replay, usage: replayUsage, summary: "print a stream's history as JSON lines, signatures verified" },
  incidents: { run: incidents, usage: incidentsUsage, summary: "list incidents, show one with its event chain, list operator commands" },
  chaos: { run: chaos, usage: chaosUsage, summary: "break a twin mesh as a scenario says and report what the healing loop did" },
  heal: { run: heal, usage: healUsage, summary: "issue a healing command to a node as an operator and wait for its outcome" },
  audit: { run: audit, usage: auditUsage, summary: "cross-check the audit log's Merkle hashing: roots and proofs of leaves on stdin" },
  kb: { run: kb, usage: kbUsage, summary: "print the knowledge base as it was at a past time, rebuilt by replaying MESH" },
  fl: { run: fl, usage: flUsage, summary: "federated learning: simulate rounds over JetStream, aggregate updates, compute DP epsilon" },
  agent: { run: agent, usage: agentUsage, summary: "run a mesh node's edge agent: announce, report links and counters, carry out its healing commands" },
};

const usage = () =>
  `x0 — x0tta6bl4 control plane for self-healing mesh networks\n\nusage: x0 <command> [options]\n\n${Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
    .join("\n")}\n\nx0 <command> --help for a command's options. NATS_URL (comma-separated for a cluster) selects the NATS servers.\n`;

// `x0 replay ... | head`: a reader that closes the pipe early is done, not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

/** Runs the CLI; returns the process exit code. */
export const main = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`x0: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`x0 ${name}: ${(error as Error).message}\n\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof RangeError || error instanceof NatsServerError || error instanceof ScenarioError) {
      process.stderr.write(`x0 ${name}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`x0 ${name}: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
};
