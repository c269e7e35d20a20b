import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { NatsServerError } from "../../streams/errors.ts";

export interface NatsServerOptions {
  /** Directory holding the JetStream store (`<dataDir>/jetstream`) and `nats.url`. Required. */
  readonly dataDir: string;
  /** Listen address. Default `127.0.0.1`: the embedded server is never exposed beyond this machine. */
  readonly host?: string;
  /** Client port. Default: a free port chosen by the server (`-p -1`). */
  readonly port?: number;
  /** Server binary. Default `$X0_NATS_SERVER`, else `nats-server` on PATH, else Debian's `/usr/sbin/nats-server`. */
  readonly binary?: string;
  /** How long to wait for "Server is ready". Default 15 000 ms. */
  readonly readyTimeoutMs?: number;
  /** Receives each log line of the server. Default: discarded. */
  readonly onLog?: (line: string) => void;
}

export interface RunningNatsServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  /** Graceful stop (SIGTERM), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export const INSTALL_HINT =
  "nats-server was not found. Install it with `npm run setup` (Debian/Ubuntu: `apt-get install nats-server`, 2.9 or newer), " +
  "set X0_NATS_SERVER to its path, or point NATS_URL at a running server.";

const execFileAsync = promisify(execFile);

// Debian installs the server in /usr/sbin, which is not on a normal user's PATH.
const DEBIAN_BINARY = "/usr/sbin/nats-server";

const defaultBinary = (): string => {
  if (process.env.X0_NATS_SERVER) return process.env.X0_NATS_SERVER;
  const onPath = (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(join(dir, "nats-server")));
  return !onPath && existsSync(DEBIAN_BINARY) ? DEBIAN_BINARY : "nats-server";
};

/** `nats-server --version` → "2.9.10". */
export const natsServerVersion = async (binary = defaultBinary()): Promise<string> => {
  try {
    const { stdout } = await execFileAsync(binary, ["--version"]);
    const match = /v?(\d+\.\d+\.\d+)/.exec(stdout);
    if (!match?.[1]) throw new NatsServerError({ message: `cannot read the version of ${binary}: ${stdout.trim()}` });
    return match[1];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new NatsServerError({ message: INSTALL_HINT, cause: error });
    throw error;
  }
};

/**
 * Refuses to start a second server on a store that a live nats-server still uses (one left
 * behind by a killed `x0 up`): two servers writing one JetStream store would corrupt it.
 */
const refuseLiveServer = async (pidFile: string, dataDir: string): Promise<void> => {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, "utf8")).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // not running: a stale pid file
  }
  const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (command && !command.includes("nats-server")) return; // the pid was reused by something else
  throw new NatsServerError({
    message: `a nats-server (pid ${pid}) is still running on ${dataDir}, probably left by an earlier x0 up that was killed; stop it (kill ${pid}) or use another --data-dir`,
  });
};

/** Starts nats-server with JetStream and resolves once it accepts clients. */
export const startNatsServer = async (options: NatsServerOptions): Promise<RunningNatsServer> => {
  const binary = options.binary ?? defaultBinary();
  const host = options.host ?? "127.0.0.1";
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const pidFile = join(options.dataDir, "nats-server.pid");
  await refuseLiveServer(pidFile, options.dataDir);
  const args = ["-a", host, "-p", String(options.port ?? -1), "-js", "-sd", options.dataDir, "-n", "x0-embedded", "-P", pidFile];
  const child: ChildProcess = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });

  const port = await new Promise<number>((resolve, reject) => {
    let listening: number | undefined;
    let tail = "";
    const timer = setTimeout(
      () => fail(new NatsServerError({ message: `nats-server did not become ready in ${options.readyTimeoutMs ?? 15_000} ms:\n${tail}` })),
      options.readyTimeoutMs ?? 15_000,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.once("error", (error: NodeJS.ErrnoException) =>
      fail(error.code === "ENOENT" ? new NatsServerError({ message: INSTALL_HINT, cause: error }) : error),
    );
    child.once("exit", (code) => fail(new NatsServerError({ message: `nats-server exited with code ${code} before it was ready:\n${tail}` })));
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        options.onLog?.(line);
        tail = (tail + line + "\n").slice(-4000);
        const m = /Listening for client connections on .*:(\d+)\s*$/.exec(line);
        if (m) listening = Number(m[1]);
        if (/Server is ready/.test(line) && listening !== undefined) {
          clearTimeout(timer);
          child.removeAllListeners("exit");
          resolve(listening);
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
  });

  const url = `nats://${host.includes(":") ? `[${host}]` : host}:${port}`;
  await writeFile(join(options.dataDir, "nats.url"), `${url}\n`, { mode: 0o600 });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    port,
    pid: child.pid ?? -1,
    dataDir: options.dataDir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(join(options.dataDir, "nats.url"), { force: true });
    },
  };
};
