/**
 * The XDP filter on one interface: load `ebpf/build/xdp_filter.o` with bpftool, pin its maps
 * under `<pinRoot>/<iface>/`, attach it (native mode where the driver has it, else generic), apply healing actions by
 * updating the pinned maps, read its counters, detach it. Every kernel change is one bpftool or
 * ip command line (ADR 0010): its exit code and stderr become the action's outcome.
 */
import { existsSync, statfsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { HealingAction } from "../../domains/healing/events.ts";
import { binaries, runCommand, type CommandResult } from "./commands.ts";
import { InvalidSourceError, XdpCommandError, XdpUnavailableError } from "./errors.ts";
import {
  ACTIVE_INDEX,
  BLOCK_ENTRY_BYTES,
  MAP_NAMES,
  RATE_ENTRY_BYTES,
  VERDICT_INDEX,
  bytesOf,
  decodeBlockEntry,
  decodeKey,
  decodeRateEntry,
  decodeVerdictCount,
  encodeSource,
  hexArgs,
  newBlockEntry,
  newRateEntry,
  sourceText,
  u32Key,
  type EncodedSource,
  type KeyFamily,
  type XdpSource,
} from "./maps.ts";

/** Native: the driver runs the program (`xdpdrv`); generic: the kernel runs it on the skb (`xdpgeneric`). */
export type XdpMode = "native" | "generic";

export interface XdpFilterOptions {
  /** Interface to filter (its ingress). Required. */
  readonly iface: string;
  /** The interface's network namespace: a name under /run/netns or a path such as /proc/<pid>/ns/net. Default: this process's. */
  readonly netns?: string | undefined;
  /**
   * Default `auto`: native (driver) mode where the driver supports it, generic (skb) mode
   * otherwise; on veth generic first, which measured faster there than veth's native mode.
   */
  readonly mode?: "auto" | XdpMode;
  /** Default `$X0_BPF_PIN_ROOT`, else `/sys/fs/bpf/x0tta6bl4`. The program and maps are pinned in `<pinRoot>/<iface>/`. */
  readonly pinRoot?: string;
  /** Default `$X0_XDP_OBJECT`, else `ebpf/build/xdp_filter.o` of this repository (`npm run build:ebpf`). */
  readonly objectFile?: string;
}

/** The healing actions this adapter carries out. */
export type XdpAction =
  | { readonly kind: "quarantine"; readonly source: XdpSource }
  | { readonly kind: "release"; readonly source: XdpSource }
  | { readonly kind: "rate-limit"; readonly source: XdpSource; readonly pps: number; readonly burst: number };

/**
 * What became of an action, shaped for CommandApplied (`exitCode` 0, `detail`) or CommandFailed
 * (`exitCode` 1-255, `stderr`): a bpftool failure carries bpftool's exit code and stderr; an
 * action that is not an XDP action is 64 (EX_USAGE), a malformed source 65 (EX_DATAERR).
 */
export interface XdpOutcome {
  readonly exitCode: number;
  readonly detail: string;
  readonly stderr: string;
}

export interface PacketCount {
  readonly packets: number;
  readonly bytes: number;
}

export type XdpRule =
  | {
      readonly action: "quarantine";
      readonly source: XdpSource;
      readonly hits: number;
      /** CLOCK_MONOTONIC (`process.hrtime.bigint()`) of the first and last dropped frame; undefined before the first. */
      readonly firstHitNs: bigint | undefined;
      readonly lastHitNs: bigint | undefined;
    }
  | {
      readonly action: "rate-limit";
      readonly source: XdpSource;
      readonly pps: number;
      readonly burst: number;
      readonly passed: number;
      readonly dropped: number;
    };

/** The program's counters, summed over CPUs, and every rule with its own counters. */
export interface XdpCounters {
  readonly iface: string;
  readonly passed: PacketCount;
  readonly droppedBlock: PacketCount;
  readonly droppedRate: PacketCount;
  readonly rules: readonly XdpRule[];
}

export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/x0tta6bl4";
const BPFFS = "/sys/fs/bpf";
const BPF_FS_MAGIC = 0xcafe4a11;
const PROGRAM_NAME = "xdp_filter";
const MAX_RATE = 10_000_000;

export const EX_USAGE = 64;
export const EX_DATAERR = 65;

/** `ebpf/build/xdp_filter.o` of this repository, or `$X0_XDP_OBJECT`. */
export const defaultObjectFile = (): string =>
  process.env.X0_XDP_OBJECT ?? resolve(dirname(fileURLToPath(import.meta.url)), "../../ebpf/build/xdp_filter.o");

const pinDirOf = (options: XdpFilterOptions): string =>
  join(options.pinRoot ?? process.env.X0_BPF_PIN_ROOT ?? DEFAULT_PIN_ROOT, options.iface);

const allMapNames = (): string[] => [...Object.values(MAP_NAMES.block), ...Object.values(MAP_NAMES.rate), MAP_NAMES.verdicts, MAP_NAMES.active];

const isBpffs = (path: string): boolean => {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
};

const commandError = (what: string, result: CommandResult): XdpCommandError =>
  new XdpCommandError({
    message: `${what}: ${result.command} exited ${result.exitCode}: ${result.stderr.trim().split("\n").slice(-20).join("\n")}`,
    command: result.command,
    exitCode: result.exitCode,
    stderr: result.stderr,
  });

/** Mounts bpffs on /sys/fs/bpf when nothing is mounted there (fresh machines, a UML guest). */
export const ensureBpffs = async (pinRoot: string): Promise<void> => {
  if (pinRoot.startsWith(`${BPFFS}/`) && !isBpffs(BPFFS)) {
    const mount = await runCommand(findMount(), ["-t", "bpf", "bpf", BPFFS]);
    if (mount.exitCode !== 0 && !isBpffs(BPFFS))
      throw new XdpUnavailableError({ message: `cannot mount bpffs on ${BPFFS} (${mount.stderr.trim()}); are you root?` });
  }
  await mkdir(pinRoot, { recursive: true, mode: 0o700 });
  if (!isBpffs(pinRoot)) throw new XdpUnavailableError({ message: `${pinRoot} is not on a bpf filesystem; pins cannot live there` });
};

const findMount = (): string => (existsSync("/usr/bin/mount") ? "/usr/bin/mount" : existsSync("/bin/mount") ? "/bin/mount" : "mount");

interface AttachedProgram {
  readonly id: number;
  readonly name: string;
  readonly mode: XdpMode;
}

interface LinkState {
  /** `veth`, `batadv`, `bridge` ...; undefined for a physical NIC. */
  readonly kind: string | undefined;
  readonly attached: AttachedProgram | undefined;
}

/** The interface's kind and the XDP program attached to it, if any (`ip -j -d link show`). */
const linkState = async (iface: string, netns: string | undefined): Promise<LinkState> => {
  const result = await runCommand(binaries.ip(), ["-j", "-d", "link", "show", "dev", iface], { netns });
  if (result.exitCode !== 0) throw commandError(`cannot find interface ${iface}`, result);
  const [link] = JSON.parse(result.stdout) as Array<{
    linkinfo?: { info_kind?: string };
    xdp?: { mode?: number; prog?: { id?: number; name?: string } };
  }>;
  const xdp = link?.xdp;
  return {
    kind: link?.linkinfo?.info_kind,
    // IFLA_XDP_ATTACHED: 1 driver, 2 skb (generic), 3 hardware offload.
    attached: xdp?.prog?.id ? { id: xdp.prog.id, name: xdp.prog.name ?? "", mode: xdp.mode === 2 ? "generic" : "native" } : undefined,
  };
};

/**
 * Interface kinds whose "native" XDP only converts each skb into an XDP buffer (a copy) behind a
 * NAPI poll: on veth the generic hook measured faster (ADR 0010), so `auto` starts there.
 */
const GENERIC_FIRST_KINDS: ReadonlySet<string> = new Set(["veth"]);

/** The modes `auto` tries, in order. */
const modesToTry = (wanted: "auto" | XdpMode, kind: string | undefined): XdpMode[] =>
  wanted !== "auto" ? [wanted] : kind !== undefined && GENERIC_FIRST_KINDS.has(kind) ? ["generic", "native"] : ["native", "generic"];

const pinnedProgramId = async (pinDir: string): Promise<number | undefined> => {
  if (!existsSync(join(pinDir, "prog"))) return undefined;
  const result = await runCommand(binaries.bpftool(), ["-j", "prog", "show", "pinned", join(pinDir, "prog")]);
  if (result.exitCode !== 0) return undefined;
  return (JSON.parse(result.stdout) as { id?: number }).id;
};

const ipMode = (mode: XdpMode): string => (mode === "native" ? "xdpdrv" : "xdpgeneric");

/**
 * Loads, pins and attaches the filter on `options.iface`, or takes over the one a previous run
 * left there: pinned maps outlive the process, so an agent restart keeps every rule enforced.
 * A program other than ours already on the interface is refused, never replaced.
 */
export const attachXdpFilter = async (options: XdpFilterOptions): Promise<XdpFilter> => {
  const pinDir = pinDirOf(options);
  const netns = options.netns;
  const wanted = options.mode ?? "auto";
  await ensureBpffs(dirname(pinDir));

  const { kind, attached } = await linkState(options.iface, netns);
  const pinnedId = await pinnedProgramId(pinDir);
  const mapsPinned = allMapNames().every((name) => existsSync(join(pinDir, name)));

  if (attached && attached.id === pinnedId && mapsPinned && (wanted === "auto" || wanted === attached.mode))
    return new XdpFilter(options.iface, netns, pinDir, attached.mode);
  if (attached && attached.name !== PROGRAM_NAME)
    throw new XdpCommandError({
      message: `${options.iface} already runs XDP program ${attached.name || "(unnamed)"} (id ${attached.id}, ${attached.mode}); detach it first (ip link set dev ${options.iface} ${ipMode(attached.mode)} off)`,
      command: "ip -j -d link show",
      exitCode: 1,
      stderr: "",
    });
  // Ours but orphaned (its pins were removed, or it was attached in another mode): take it off.
  if (attached) await detachMode(options.iface, netns, attached.mode);

  if (pinnedId === undefined || !mapsPinned) {
    const objectFile = options.objectFile ?? defaultObjectFile();
    if (!existsSync(objectFile))
      throw new XdpUnavailableError({ message: `XDP object ${objectFile} not found; build it with \`npm run build:ebpf\`` });
    await rm(pinDir, { recursive: true, force: true });
    await mkdir(pinDir, { mode: 0o700 });
    const load = await runCommand(binaries.bpftool(), ["prog", "load", objectFile, join(pinDir, "prog"), "type", "xdp", "pinmaps", pinDir]);
    if (load.exitCode !== 0) {
      await rm(pinDir, { recursive: true, force: true });
      throw commandError(`the kernel refused ${objectFile} (verifier log above)`, load);
    }
  }

  const modes = modesToTry(wanted, kind);
  const failures: CommandResult[] = [];
  for (const mode of modes) {
    const result = await runCommand(binaries.ip(), ["link", "set", "dev", options.iface, ipMode(mode), "pinned", join(pinDir, "prog")], { netns });
    if (result.exitCode === 0) return new XdpFilter(options.iface, netns, pinDir, mode);
    failures.push(result);
  }
  const last = failures[failures.length - 1] as CommandResult;
  throw commandError(`cannot attach XDP to ${options.iface} (${modes.join(", then ")} mode): ${failures.map((f) => f.stderr.trim()).join(" / ")}`, last);
};

const detachMode = async (iface: string, netns: string | undefined, mode: XdpMode): Promise<void> => {
  const result = await runCommand(binaries.ip(), ["link", "set", "dev", iface, ipMode(mode), "off"], { netns });
  // The interface (or its namespace) is already gone: nothing is attached any more.
  if (result.exitCode !== 0 && !/Cannot find device|No such file|does not exist/iu.test(result.stderr))
    throw commandError(`cannot detach XDP from ${iface}`, result);
};

/**
 * Takes our program off `options.iface` (whatever mode it runs in) and removes its pins, which
 * frees the maps and their rules. Idempotent; works when the interface is already gone.
 */
export const detachXdpFilter = async (options: XdpFilterOptions): Promise<void> => {
  const pinDir = pinDirOf(options);
  let attached: AttachedProgram | undefined;
  try {
    attached = (await linkState(options.iface, options.netns)).attached;
  } catch {
    attached = undefined; // no such interface or namespace
  }
  if (attached?.name === PROGRAM_NAME) await detachMode(options.iface, options.netns, attached.mode);
  await rm(pinDir, { recursive: true, force: true });
};

/** One attached filter; get it from `attachXdpFilter`. */
export class XdpFilter {
  constructor(
    readonly iface: string,
    readonly netns: string | undefined,
    /** Where the program and its maps are pinned. */
    readonly pinDir: string,
    readonly mode: XdpMode,
  ) {}

  private mapPath(rule: "block" | "rate", family: KeyFamily): string {
    return join(this.pinDir, MAP_NAMES[rule][family]);
  }

  /** Carries out a healing action; anything but quarantine, release and rate-limit is refused with exit code 64. */
  async apply(action: HealingAction | XdpAction): Promise<XdpOutcome> {
    switch (action.kind) {
      case "quarantine":
        return this.quarantine(action.source);
      case "release":
        return this.release(action.source);
      case "rate-limit":
        return this.rateLimit(action.source, action.pps, action.burst);
      default:
        return { exitCode: EX_USAGE, detail: "", stderr: `${action.kind} is not an XDP action` };
    }
  }

  /**
   * Marks the rule map used (the program skips unmarked maps) and then writes the rule, in one
   * bpftool process: the mark must be in place before the rule, and is never taken back.
   */
  private updateRule(rule: "block" | "rate", encoded: EncodedSource, value: Uint8Array, flag: "noexist" | "any"): Promise<CommandResult> {
    const line = (args: readonly string[]) => `${args.join(" ")}\n`;
    return this.bpftool(
      ["batch", "file", "-"],
      line(["map", "update", "pinned", join(this.pinDir, MAP_NAMES.active), "key", "hex", ...hexArgs(u32Key(ACTIVE_INDEX[rule][encoded.family])), "value", "hex", "01", "00", "00", "00"]) +
        line(["map", "update", "pinned", this.mapPath(rule, encoded.family), "key", "hex", ...hexArgs(encoded.key), "value", "hex", ...hexArgs(value), flag]),
    );
  }

  /** Drops every frame from `source`. Quarantining a quarantined source keeps its rule and hit counter. */
  async quarantine(source: XdpSource): Promise<XdpOutcome> {
    return this.withSource(source, async (encoded) => {
      const result = await this.updateRule("block", encoded, newBlockEntry(), "noexist");
      const what = `${sourceText(encoded.canonical)} on ${this.iface}`;
      if (result.exitCode === 0) return ok(`quarantined ${what}`);
      if (/File exists/u.test(result.stderr)) return ok(`${what} was already quarantined; rule kept`);
      return failed(result);
    });
  }

  /** Lifts the quarantine and the rate limit of `source`; releasing a source with neither succeeds. */
  async release(source: XdpSource): Promise<XdpOutcome> {
    return this.withSource(source, async (encoded) => {
      const key = ["key", "hex", ...hexArgs(encoded.key)];
      const results = await Promise.all(
        (["block", "rate"] as const).map((rule) => this.bpftool(["map", "delete", "pinned", this.mapPath(rule, encoded.family), ...key])),
      );
      const failure = results.find((r) => r.exitCode !== 0 && !/No such file or directory/u.test(r.stderr));
      if (failure) return failed(failure);
      const [block, rate] = results.map((r) => r.exitCode === 0);
      const removed = [block ? "quarantine" : "", rate ? "rate limit" : ""].filter(Boolean).join(" and ");
      return ok(`released ${sourceText(encoded.canonical)} on ${this.iface}: ${removed ? `${removed} removed` : "no rule was in place"}`);
    });
  }

  /** Caps `source` at `pps` packets per second with bursts of `burst`; replaces its previous limit with a full bucket. */
  async rateLimit(source: XdpSource, pps: number, burst: number): Promise<XdpOutcome> {
    for (const [name, value] of [["pps", pps], ["burst", burst]] as const)
      if (!Number.isInteger(value) || value < 1 || value > MAX_RATE)
        return { exitCode: EX_DATAERR, detail: "", stderr: `${name} must be an integer from 1 to ${MAX_RATE}, got ${value}` };
    return this.withSource(source, async (encoded) => {
      const result = await this.updateRule("rate", encoded, newRateEntry(pps, burst), "any");
      if (result.exitCode !== 0) return failed(result);
      return ok(`rate-limited ${sourceText(encoded.canonical)} on ${this.iface} to ${pps} pps, burst ${burst}`);
    });
  }

  /** Reads every map in one bpftool process: verdict counters summed over CPUs, and each rule. */
  async counters(): Promise<XdpCounters> {
    const maps = [
      ["block", "mac"], ["block", "v4"], ["block", "v6"], ["rate", "mac"], ["rate", "v4"], ["rate", "v6"],
    ] as const;
    const lines = [...maps.map(([rule, family]) => this.mapPath(rule, family)), join(this.pinDir, MAP_NAMES.verdicts)]
      .map((path) => `map dump pinned ${path}\n`)
      .join("");
    const result = await this.bpftool(["-j", "batch", "file", "-"], lines);
    if (result.exitCode !== 0) throw commandError(`cannot read the XDP maps of ${this.iface}`, result);
    const outputs = (JSON.parse(result.stdout) as Array<{ output: unknown }>).map((o) => o.output);

    const rules: XdpRule[] = [];
    maps.forEach(([rule, family], i) => {
      for (const entry of (outputs[i] ?? []) as Array<{ key: string[]; value: string[] }>) {
        const source = decodeKey(family, bytesOf(entry.key));
        const value = bytesOf(entry.value);
        if (rule === "block" && value.length === BLOCK_ENTRY_BYTES) {
          const b = decodeBlockEntry(value);
          rules.push({
            action: "quarantine",
            source,
            hits: Number(b.hits),
            firstHitNs: b.firstHitNs || undefined,
            lastHitNs: b.lastHitNs || undefined,
          });
        } else if (rule === "rate" && value.length === RATE_ENTRY_BYTES) {
          const r = decodeRateEntry(value);
          rules.push({ action: "rate-limit", source, pps: Number(r.pps), burst: Number(r.burst), passed: Number(r.passed), dropped: Number(r.dropped) });
        }
      }
    });

    const sum = (index: number): PacketCount => {
      const entries = (outputs[maps.length] ?? []) as Array<{ key: string[]; values: Array<{ value: string[] }> }>;
      const entry = entries.find((e) => bytesOf(e.key)[0] === index);
      let packets = 0n;
      let bytes = 0n;
      for (const cpu of entry?.values ?? []) {
        const count = decodeVerdictCount(bytesOf(cpu.value));
        packets += count.packets;
        bytes += count.bytes;
      }
      return { packets: Number(packets), bytes: Number(bytes) };
    };
    return {
      iface: this.iface,
      passed: sum(VERDICT_INDEX.passed),
      droppedBlock: sum(VERDICT_INDEX.droppedBlock),
      droppedRate: sum(VERDICT_INDEX.droppedRate),
      rules,
    };
  }

  /** Detaches the program and removes its pins (and with them every rule). */
  async detach(): Promise<void> {
    await detachXdpFilter({ iface: this.iface, netns: this.netns, pinRoot: dirname(this.pinDir) });
  }

  private bpftool(args: readonly string[], input?: string): Promise<CommandResult> {
    return runCommand(binaries.bpftool(), args, input === undefined ? {} : { input });
  }

  private async withSource(source: XdpSource, act: (encoded: EncodedSource) => Promise<XdpOutcome>): Promise<XdpOutcome> {
    let encoded: EncodedSource;
    try {
      encoded = encodeSource(source);
    } catch (error) {
      if (error instanceof InvalidSourceError) return { exitCode: EX_DATAERR, detail: "", stderr: error.message };
      throw error;
    }
    return act(encoded);
  }
}

const ok = (detail: string): XdpOutcome => ({ exitCode: 0, detail, stderr: "" });

// CommandFailed wants 1-255; bpftool exits 255 - errno style codes, always in that range.
const failed = (result: CommandResult): XdpOutcome => ({
  exitCode: Math.min(255, Math.max(1, result.exitCode)),
  detail: result.command,
  stderr: result.stderr.trim(),
});

/** Lists the interfaces that have pins under `pinRoot` (e.g. to clean up after a crash). */
export const pinnedInterfaces = async (pinRoot = process.env.X0_BPF_PIN_ROOT ?? DEFAULT_PIN_ROOT): Promise<string[]> =>
  readdir(pinRoot).catch(() => []);
