import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const X0 = resolve(import.meta.dirname, "../../adapters/cli/x0.js");

/** An `x0` process a test started: its output so far and its exit. */
export interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

/** Every process the tests started, so a failed test leaves none behind (`stopAll`). */
const children = new Set<ChildProcess>();

/** Runs `x0 ...` as a user would, in its own process. NATS_URL is removed unless given, so `up` embeds its server. */
export const x0 = (args: string[], env: Record<string, string | undefined> = {}): Running => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NATS_URL: undefined, ...env };
  for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined) delete childEnv[key];
  const child = spawn(process.execPath, [X0, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const running: Running = { child, stdout: "", stderr: "", exited: new Promise((r) => child.once("exit", (code) => r(code))) };
  child.stdout!.on("data", (d: Buffer) => (running.stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (running.stderr += d.toString()));
  return running;
};

/** Runs `x0 ...` to its end. */
export const runX0 = async (args: string[], env: Record<string, string | undefined> = {}) => {
  const proc = x0(args, env);
  const code = await proc.exited;
  return { code, stdout: proc.stdout, stderr: proc.stderr };
};

/** Stops every process still running (SIGINT, as Ctrl-C) and waits for them. */
export const stopAll = () => Promise.all([...children].map((child) => new Promise((r) => (child.once("exit", r), child.kill("SIGINT")))));

/** Polls until `probe` gives a value, or fails naming what it waited for. */
export const waitFor = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
