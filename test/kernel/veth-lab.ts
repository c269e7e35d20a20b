/**
 * Two network namespaces joined by a veth pair, for tests and benchmarks against the real
 * kernel (root only): `xdp` is the side the filter is attached to, `peer` the side whose
 * traffic it filters. Names carry this process's pid, so a run cleans up what a killed run
 * left behind without touching a concurrent run's namespaces.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { binaries, netnsPath, runCommand, type CommandResult } from "../../adapters/xdp/commands.ts";
import { detachXdpFilter } from "../../adapters/xdp/filter.ts";
import { pinnedInterfaces, xdpAvailability, type XdpAvailability } from "../../adapters/xdp/index.ts";

export interface VethEnd {
  readonly netns: string;
  readonly iface: string;
  readonly mac: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface VethLab {
  readonly xdp: VethEnd;
  readonly peer: VethEnd;
  /** Runs a command inside one end's namespace (`nsenter --net`). */
  run(end: VethEnd, file: string, args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
  /** Pings `to` from `from`; resolves with packets sent and received. */
  ping(from: VethEnd, to: string, count?: number, intervalS?: number): Promise<{ sent: number; received: number; output: string }>;
  /** Starts `test/kernel/udp-flood.ts` with `args` inside `end`'s namespace. */
  flood(end: VethEnd, args: readonly string[]): FloodProcess;
  /** Deletes both namespaces (and with them the veth pair) and the filter's pins. Idempotent. */
  destroy(): Promise<void>;
}

export interface FloodProcess {
  readonly child: ChildProcess;
  /** The next JSON line the process prints that matches `predicate`. */
  next<T = Record<string, unknown>>(predicate?: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Writes one command line to the process's stdin. */
  send(line: string): void;
  stop(): Promise<void>;
}

const PREFIX = "x0k";
let sequence = 0;

const must = async (what: string, result: Promise<CommandResult>): Promise<CommandResult> => {
  const r = await result;
  if (r.exitCode !== 0) throw new Error(`${what}: ${r.command} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return r;
};

const ip = (args: readonly string[], netns?: string) => runCommand(binaries.ip(), args, netns ? { netns } : {});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** `x0k<pid36>...`: the pid of the run that created a namespace or pin directory. */
const ownerPid = (name: string): number | undefined => {
  const match = new RegExp(`^${PREFIX}-?([0-9a-z]+)-`, "u").exec(name) ?? new RegExp(`^${PREFIX}([0-9a-z]{5})`, "u").exec(name);
  return match?.[1] ? Number.parseInt(match[1], 36) : undefined;
};

/** Removes the namespaces and pins of runs whose process is gone (a run killed before its cleanup). */
export const removeStaleLabs = async (): Promise<void> => {
  const namespaces = await readdir("/run/netns").catch(() => [] as string[]);
  for (const ns of namespaces) {
    const pid = ownerPid(ns);
    if (ns.startsWith(`${PREFIX}-`) && pid !== undefined && pid !== process.pid && !alive(pid)) await ip(["netns", "del", ns]);
  }
  for (const iface of await pinnedInterfaces()) {
    const pid = ownerPid(iface);
    if (iface.startsWith(PREFIX) && pid !== undefined && pid !== process.pid && !alive(pid)) await detachXdpFilter({ iface });
  }
};

const macOf = async (iface: string, netns: string): Promise<string> => {
  const r = await must("read MAC", ip(["-j", "link", "show", "dev", iface], netns));
  const [link] = JSON.parse(r.stdout) as Array<{ address: string }>;
  if (!link) throw new Error(`no interface ${iface} in ${netns}`);
  return link.address;
};

const FLOOD_SCRIPT = fileURLToPath(new URL("./udp-flood.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Creates the two namespaces and the veth pair, addresses (IPv4 and IPv6, no DAD wait) and links up. */
export const createVethLab = async (): Promise<VethLab> => {
  const id = `${process.pid.toString(36).padStart(5, "0")}${(sequence++).toString(36)}`;
  const names = { xdp: `${PREFIX}-${id}-x`, peer: `${PREFIX}-${id}-p` };
  const ifaces = { xdp: `${PREFIX}${id}x`, peer: `${PREFIX}${id}p` };
  const floods: FloodProcess[] = [];
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    await Promise.all(floods.map((f) => f.stop()));
    await detachXdpFilter({ iface: ifaces.xdp, netns: names.xdp }).catch(() => undefined);
    await Promise.all([ip(["netns", "del", names.xdp]), ip(["netns", "del", names.peer])]);
  };
  try {
    await must("create namespace", ip(["netns", "add", names.xdp]));
    await must("create namespace", ip(["netns", "add", names.peer]));
    await must("create veth", ip(["link", "add", ifaces.xdp, "netns", names.xdp, "type", "veth", "peer", "name", ifaces.peer, "netns", names.peer]));
    const addresses = { xdp: { ipv4: "10.77.0.1", ipv6: "fd77::1" }, peer: { ipv4: "10.77.0.2", ipv6: "fd77::2" } };
    for (const side of ["xdp", "peer"] as const) {
      const ns = names[side];
      await must("address", ip(["addr", "add", `${addresses[side].ipv4}/24`, "dev", ifaces[side]], ns));
      await must("address", ip(["-6", "addr", "add", `${addresses[side].ipv6}/64`, "dev", ifaces[side], "nodad"], ns));
      await must("link up", ip(["link", "set", "dev", ifaces[side], "up"], ns));
      await must("link up", ip(["link", "set", "dev", "lo", "up"], ns));
    }
    const end = async (side: "xdp" | "peer"): Promise<VethEnd> => ({
      netns: names[side],
      iface: ifaces[side],
      mac: await macOf(ifaces[side], names[side]),
      ...addresses[side],
    });
    const lab: VethLab = {
      xdp: await end("xdp"),
      peer: await end("peer"),
      run: (e, file, args, timeoutMs) => runCommand(file, args, { netns: e.netns, timeoutMs: timeoutMs ?? 60_000 }),
      ping: async (from, to, count = 3, intervalS = 0.2) => {
        const r = await runCommand(
          "ping",
          [...(to.includes(":") ? ["-6"] : []), "-n", "-q", "-c", String(count), "-i", String(intervalS), "-W", "1", to],
          { netns: from.netns, timeoutMs: 30_000 + count * intervalS * 1000 },
        );
        const match = /(\d+) packets transmitted, (\d+) (?:packets )?received/u.exec(r.stdout);
        if (!match) throw new Error(`ping did not report its counts: ${r.stdout}${r.stderr}`);
        return { sent: Number(match[1]), received: Number(match[2]), output: r.stdout };
      },
      flood: (e, args) => {
        const flood = startFlood(e, args);
        floods.push(flood);
        return flood;
      },
      destroy,
    };
    return lab;
  } catch (error) {
    await destroy();
    throw error;
  }
};

const startFlood = (end: VethEnd, args: readonly string[]): FloodProcess => {
  const child = spawn(
    binaries.nsenter(),
    [`--net=${netnsPath(end.netns)}`, "--", process.execPath, "--import", "tsx", FLOOD_SCRIPT, ...args],
    { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let stderr = "";
  let exited = false;
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ event: "text", line });
    }
    waiters.splice(0).forEach((w) => w());
  });
  const exitedPromise = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      waiters.splice(0).forEach((w) => w());
      resolve();
    }),
  );
  return {
    child,
    next: async <T>(predicate: (line: Record<string, unknown>) => boolean = () => true, timeoutMs = 30_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = lines.findIndex(predicate);
        if (index >= 0) return lines.splice(0, index + 1)[index] as T;
        if (exited) throw new Error(`udp-flood exited (${child.exitCode}) before the expected line: ${stderr}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`udp-flood printed no expected line in ${timeoutMs} ms: ${stderr}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    send: (line) => {
      child.stdin?.write(`${line}\n`);
    },
    stop: async () => {
      if (!exited) {
        child.stdin?.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exitedPromise;
        clearTimeout(timer);
      }
    },
  };
};

/**
 * Builds the XDP object (when clang is there) and says whether XDP can run here. A build that
 * fails is thrown, never reported as "unavailable": a broken program must fail the tests.
 */
export const prepareXdp = async (): Promise<XdpAvailability> => {
  const clang = await runCommand(process.env.CLANG ?? "clang", ["--version"]);
  if (clang.exitCode === 0) {
    const build = await runCommand("bash", [fileURLToPath(new URL("../../ebpf/build.sh", import.meta.url))], { timeoutMs: 120_000 });
    if (build.exitCode !== 0) throw new Error(`npm run build:ebpf failed:\n${build.stderr}`);
  }
  return xdpAvailability();
};

/** CI must run the kernel tests: there, unavailability is a failure. */
export const mustRunKernelTests = (): boolean => ["true", "1"].includes((process.env.CI ?? "").toLowerCase());
