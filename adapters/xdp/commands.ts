/**
 * Running bpftool, ip and nsenter: every change the adapter makes to the kernel is one of
 * these command lines, so an outcome can carry its exit code and stderr like a shell would.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";

export interface CommandResult {
  /** The command line as run, for messages. */
  readonly command: string;
  /** 0 on success; 128 + n when killed by signal n; 127 when the binary is missing. */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Run inside this network namespace: a name under /run/netns, or a path such as /proc/<pid>/ns/net. */
  readonly netns?: string | undefined;
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string;
  /** Default 30 000 ms; the command is killed (SIGKILL) after it. */
  readonly timeoutMs?: number;
}

// Debian installs bpftool and ip in /usr/sbin, which is not on a normal user's PATH.
const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/** `$<envVar>`, else `name` on PATH, else the first of /usr/sbin, /sbin ... that has it; `name` itself when none does. */
export const findBinary = (name: string, envVar: string): string => {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return name;
};

export const binaries = {
  bpftool: () => findBinary("bpftool", "X0_BPFTOOL"),
  ip: () => findBinary("ip", "X0_IP"),
  nsenter: () => findBinary("nsenter", "X0_NSENTER"),
};

/** The path of a network namespace given by name (`ip netns add NAME`) or by path. */
export const netnsPath = (netns: string): string => (netns.startsWith("/") ? netns : join("/run/netns", netns));

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/u.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);

const signalNumber = (signal: string): number => (constants.signals as Record<string, number | undefined>)[signal] ?? 9;

/**
 * Runs `file args` and resolves with its exit code, stdout and stderr; never rejects. With a
 * netns, the command runs under `nsenter --net` only: `ip netns exec` would also remount /sys
 * and hide the pinned maps in /sys/fs/bpf.
 */
export const runCommand = (file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> => {
  const [bin, argv] = options.netns
    ? [binaries.nsenter(), [`--net=${netnsPath(options.netns)}`, "--", file, ...args]]
    : [file, [...args]];
  const command = [bin, ...argv].map(quote).join(" ") + (options.input === undefined ? "" : ` <<'EOF'\n${options.input}EOF`);
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      argv,
      { encoding: "utf8", timeout: options.timeoutMs ?? 30_000, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve({ command, exitCode: 0, stdout, stderr });
        const e = error as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null };
        const exitCode =
          typeof e.code === "number" ? e.code : e.code === "ENOENT" ? 127 : e.signal ? 128 + signalNumber(e.signal) : 1;
        const why = e.code === "ENOENT" ? `${bin}: command not found` : "";
        resolve({ command, exitCode, stdout, stderr: stderr || why || String(e.message) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
};
