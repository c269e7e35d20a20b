/**
 * Runs `x0 agent` as its own process, as an operator would on a node, for kernel tests and
 * the enforcement benchmark: stdout and stderr are kept, `ready` resolves on its "is up" line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const X0 = fileURLToPath(new URL("../../adapters/cli/x0.js", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface AgentProcess {
  readonly child: ChildProcess;
  /** Resolves once the agent printed "x0 agent <id> is up"; rejects if it exits first. */
  readonly ready: Promise<void>;
  /** Everything it printed so far (stdout and stderr, interleaved). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (or signal name). */
  stop(graceMs?: number): Promise<number | string | null>;
}

export const startAgentProcess = (natsUrl: string, args: readonly string[], env: Record<string, string> = {}): AgentProcess => {
  const child = spawn(process.execPath, [X0, "agent", ...args], {
    cwd: REPO,
    env: { ...process.env, NATS_URL: natsUrl, X0_LOG_LEVEL: process.env.X0_LOG_LEVEL ?? "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (d: Buffer) => {
    output = (output + d.toString()).slice(-64_000);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", () => {
      if (/x0 agent \S+ is up/u.test(output)) resolve();
    });
    void exited.then((code) => reject(new Error(`x0 agent exited (${code}) before it was up:\n${output}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    output: () => output,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
};
