/**
 * batman-adv on this node through `batctl` (and `ip` for interface restarts), run as
 * subprocesses: collectors read its JSON tables, actuators change its settings. Every actuator
 * call ends in an outcome `{ exitCode, detail, stderr }` shaped for CommandApplied (exit code 0)
 * or CommandFailed (1-255), like the XDP adapter's.
 *
 * batctl exits 0 on some failures (`interface add nosuch` prints "Error - interface does not
 * exist" and exits 0; `hop_penalty 300` silently stores 300 mod 256): an actuator therefore
 * reads the setting back after changing it, and an "Error - " line or a value that did not take
 * is a failure with exit code 1 and batctl's own words as stderr.
 */
import type { HealingAction } from "../../domains/healing/events.ts";
import { binaries, findBinary, runCommand, type CommandResult } from "../xdp/commands.ts";
import { BatctlCommandError } from "./errors.ts";
import { linkSamples } from "./link-metrics.ts";
import {
  parseGateways,
  parseHardInterfaces,
  parseMeshSettings,
  parseNeighbours,
  parseOriginators,
  parseStatistics,
  type GatewayRow,
  type HardInterfaceRow,
  type MeshSettings,
  type NeighbourRow,
  type OriginatorRow,
  type SkippedRow,
  type Table,
} from "./tables.ts";
import type { LinkSample } from "../../domains/mesh/index.ts";

export interface BatmanAdvOptions {
  /** The batman-adv mesh interface. Default `bat0`. */
  readonly meshIf?: string;
  /** Network namespace the mesh lives in (a lab): a name under /run/netns or a path. Default: this process's. */
  readonly netns?: string | undefined;
  /** A batctl or ip call is killed after this long. Default 10 000 ms. */
  readonly timeoutMs?: number;
}

/** What became of an actuator call: exit code 0 with `detail`, or 1-255 with `stderr` (and the command line in `detail`). */
export interface ActuatorOutcome {
  readonly exitCode: number;
  readonly detail: string;
  readonly stderr: string;
}

export type GatewaySetting =
  | { readonly mode: "off" }
  | { readonly mode: "client"; readonly selClass?: number }
  | { readonly mode: "server"; readonly downKbps?: number; readonly upKbps?: number };

/** The node's links as batctl reports them, mapped onto link samples (`link-metrics.ts`). */
export interface LinkReport {
  readonly algo: string;
  /** Undefined under BATMAN_V (no TQ). */
  readonly samples: LinkSample[] | undefined;
  readonly neighbours: readonly NeighbourRow[];
  readonly originators: readonly OriginatorRow[];
  /** Rows batctl printed that could not be used. */
  readonly skipped: readonly (SkippedRow & { readonly table: string })[];
}

/** An action that is not for batman-adv (64, as the XDP adapter answers one that is not for it). */
export const EX_USAGE = 64;

export const batctlBinary = (): string => findBinary("batctl", "X0_BATCTL");

const ERROR_LINE = /^Error - .*$/mu;
const tail = (text: string, max = 4000) => (text.length > max ? text.slice(-max) : text);

/** One batman-adv mesh interface, reached through batctl. */
export class BatmanAdv {
  readonly meshIf: string;
  readonly netns: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: BatmanAdvOptions = {}) {
    this.meshIf = options.meshIf ?? "bat0";
    this.netns = options.netns;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Runs `batctl args...` in the mesh's namespace. Never rejects. */
  batctl(args: readonly string[]): Promise<CommandResult> {
    return runCommand(batctlBinary(), args, { netns: this.netns, timeoutMs: this.timeoutMs });
  }

  private ip(args: readonly string[]): Promise<CommandResult> {
    return runCommand(binaries.ip(), args, { netns: this.netns, timeoutMs: this.timeoutMs });
  }

  /** `batctl meshif <bat> <query>`; a non-zero exit, or an "Error - " line, is a BatctlCommandError. */
  private async query(query: string, args: readonly string[] = ["meshif", this.meshIf, query]): Promise<string> {
    const result = await this.batctl(args);
    const error = ERROR_LINE.exec(result.stderr) ?? ERROR_LINE.exec(result.stdout);
    if (result.exitCode !== 0 || error) {
      const why = (error?.[0] ?? result.stderr.trim().split("\n")[0]) || `exit ${result.exitCode}`;
      throw new BatctlCommandError({ message: `${result.command}: ${why}`, command: result.command, exitCode: result.exitCode || 1, stderr: tail(result.stderr || result.stdout) });
    }
    return result.stdout;
  }

  // -----------------------------------------------------------------------------------------
  // Collectors

  async originators(): Promise<Table<OriginatorRow>> {
    return parseOriginators(await this.query("oj"));
  }

  async neighbours(): Promise<Table<NeighbourRow>> {
    return parseNeighbours(await this.query("nj"));
  }

  async gateways(): Promise<Table<GatewayRow>> {
    return parseGateways(await this.query("gwj"));
  }

  async hardInterfaces(): Promise<Table<HardInterfaceRow>> {
    return parseHardInterfaces(await this.query("hj"));
  }

  async hardInterface(ifname: string): Promise<HardInterfaceRow | undefined> {
    return parseHardInterfaces(await this.query("hj", ["hardif", ifname, "hj"])).rows[0];
  }

  async settings(): Promise<MeshSettings> {
    return parseMeshSettings(await this.query("mj"));
  }

  /** The mesh interface's counters (`batctl statistics`): tx_bytes, forward_bytes, mgmt_rx_bytes ... */
  async statistics(): Promise<ReadonlyMap<string, number>> {
    return parseStatistics(await this.query("statistics"));
  }

  /** `nj` and `oj` (and the routing algorithm, from `mj` when not given), mapped onto link samples. */
  async links(algo?: string): Promise<LinkReport> {
    const [neighbours, originators, settings] = await Promise.all([
      this.neighbours(),
      this.originators(),
      algo === undefined ? this.settings() : Promise.resolve(undefined),
    ]);
    const algoName = algo ?? settings?.algo_name ?? "BATMAN_IV";
    return {
      algo: algoName,
      samples: linkSamples(neighbours.rows, originators.rows, algoName),
      neighbours: neighbours.rows,
      originators: originators.rows,
      skipped: [...neighbours.skipped.map((s) => ({ ...s, table: "nj" })), ...originators.skipped.map((s) => ({ ...s, table: "oj" }))],
    };
  }

  // -----------------------------------------------------------------------------------------
  // Actuators

  /** Carries out hop-penalty, gateway and restart-interface; anything else is refused with exit code 64. */
  async apply(action: HealingAction): Promise<ActuatorOutcome> {
    switch (action.kind) {
      case "hop-penalty":
        return this.setHopPenalty(action.value, action.hardIf);
      case "gateway":
        return this.setGatewayMode(action as GatewaySetting);
      case "restart-interface":
        return this.restartInterface(action.ifname);
      default:
        return { exitCode: EX_USAGE, detail: "", stderr: `${action.kind} is not a batman-adv action` };
    }
  }

  /** `batctl meshif <bat> hop_penalty <value>`, or `batctl hardif <hardIf> hop_penalty <value>` (batman-adv 2020.3+). */
  async setHopPenalty(value: number, hardIf?: string): Promise<ActuatorOutcome> {
    if (!Number.isInteger(value) || value < 0 || value > 255) return invalid(`hop_penalty must be an integer from 0 to 255, got ${value}`);
    const where = hardIf === undefined ? this.meshIf : hardIf;
    const read = async () => (hardIf === undefined ? (await this.settings()).hop_penalty : (await this.hardInterface(hardIf))?.hop_penalty);
    const before = await read().catch(() => undefined);
    const args = hardIf === undefined ? ["meshif", this.meshIf, "hop_penalty", String(value)] : ["hardif", hardIf, "hop_penalty", String(value)];
    return this.change(args, read, (now) => now === value, `hop_penalty ${before ?? "?"} -> ${value} on ${where}`, `hop_penalty on ${where}`);
  }

  /** `batctl meshif <bat> gw_mode off | client [selClass] | server [down[/up]]` (bandwidths in kbit/s). */
  async setGatewayMode(setting: GatewaySetting): Promise<ActuatorOutcome> {
    const args = ["meshif", this.meshIf, "gw_mode", setting.mode];
    let expectDown: number | undefined;
    let expectUp: number | undefined;
    if (setting.mode === "client" && setting.selClass !== undefined) args.push(String(setting.selClass));
    if (setting.mode === "server" && (setting.downKbps !== undefined || setting.upKbps !== undefined)) {
      // batctl takes "down[/up]"; an upload alone keeps the advertised download.
      let down = setting.downKbps;
      if (down === undefined) {
        const current = await this.settings().catch(() => undefined);
        if (current?.gw_bandwidth_down === undefined) return invalid("gw_mode server with upKbps alone: cannot read the current download bandwidth to keep it");
        down = current.gw_bandwidth_down * 100;
      }
      expectDown = down;
      expectUp = setting.upKbps;
      args.push(setting.upKbps === undefined ? `${down}kbit` : `${down}kbit/${setting.upKbps}kbit`);
    }
    const read = () => this.settings();
    // batman-adv stores bandwidth in units of 100 kbit/s.
    const near = (units: number | undefined, kbps: number | undefined) => kbps === undefined || (units !== undefined && Math.abs(units * 100 - kbps) < 100);
    const took = (s: MeshSettings) =>
      s.gw_mode === setting.mode &&
      (setting.mode !== "client" || setting.selClass === undefined || s.gw_sel_class === setting.selClass) &&
      near(s.gw_bandwidth_down, expectDown) &&
      near(s.gw_bandwidth_up, expectUp);
    return this.change(args, read, took, `gw_mode ${args.slice(3).join(" ")} on ${this.meshIf}`, `gw_mode on ${this.meshIf}`, (s) =>
      JSON.stringify({ gw_mode: s.gw_mode, gw_sel_class: s.gw_sel_class, gw_bandwidth_down: s.gw_bandwidth_down, gw_bandwidth_up: s.gw_bandwidth_up }),
    );
  }

  /** `batctl meshif <bat> orig_interval <ms>` (the kernel clamps values below 40 ms: that reads back as a failure). */
  async setOrigInterval(ms: number): Promise<ActuatorOutcome> {
    if (!Number.isInteger(ms) || ms < 1) return invalid(`orig_interval must be a positive integer (ms), got ${ms}`);
    const read = async () => (await this.settings()).orig_interval;
    const before = await read().catch(() => undefined);
    return this.change(["meshif", this.meshIf, "orig_interval", String(ms)], read, (now) => now === ms, `orig_interval ${before ?? "?"} -> ${ms} ms on ${this.meshIf}`, `orig_interval on ${this.meshIf}`);
  }

  /** `batctl meshif <bat> interface add <ifname>`: the interface becomes a batman-adv hard interface. */
  async addInterface(ifname: string): Promise<ActuatorOutcome> {
    const read = async () => (await this.hardInterfaces()).rows.some((r) => r.hard_ifname === ifname);
    return this.change(["meshif", this.meshIf, "interface", "add", ifname], read, (present) => present, `added ${ifname} to ${this.meshIf}`, `whether ${ifname} is in ${this.meshIf}`);
  }

  /** `batctl meshif <bat> interface del <ifname>`. */
  async removeInterface(ifname: string): Promise<ActuatorOutcome> {
    const read = async () => (await this.hardInterfaces()).rows.some((r) => r.hard_ifname === ifname);
    return this.change(["meshif", this.meshIf, "interface", "del", ifname], read, (present) => !present, `removed ${ifname} from ${this.meshIf}`, `whether ${ifname} is in ${this.meshIf}`);
  }

  /** `ip link set dev <ifname> down`, then `up`: batman-adv re-activates a hard interface on its own. */
  async restartInterface(ifname: string): Promise<ActuatorOutcome> {
    const down = await this.ip(["link", "set", "dev", ifname, "down"]);
    if (down.exitCode !== 0) return failed(down);
    const up = await this.ip(["link", "set", "dev", ifname, "up"]);
    if (up.exitCode !== 0) return failed(up);
    return { exitCode: 0, detail: `restarted ${ifname} (ip link set down, up)`, stderr: "" };
  }

  /**
   * Runs a setter, then reads the setting back: a non-zero exit, an "Error - " line, or a value
   * that did not take is a failure carrying batctl's output.
   */
  private async change<T>(
    args: readonly string[],
    read: () => Promise<T>,
    took: (value: T) => boolean,
    detail: string,
    what: string,
    show: (value: T) => string = (v) => String(v),
  ): Promise<ActuatorOutcome> {
    const result = await this.batctl(args);
    if (result.exitCode !== 0) return failed(result);
    const error = ERROR_LINE.exec(result.stderr) ?? ERROR_LINE.exec(result.stdout);
    if (error) return { exitCode: 1, detail: result.command, stderr: tail((result.stderr || result.stdout).trim()) };
    let now: T;
    try {
      now = await read();
    } catch (e) {
      return { exitCode: 1, detail: result.command, stderr: `batctl exited 0 but reading ${what} back failed: ${(e as Error).message}` };
    }
    if (!took(now)) return { exitCode: 1, detail: result.command, stderr: `batctl exited 0 but ${what} reads ${show(now)} afterwards` };
    return { exitCode: 0, detail, stderr: "" };
  }
}

const invalid = (stderr: string): ActuatorOutcome => ({ exitCode: 65, detail: "", stderr });

// CommandFailed wants 1-255: a shell's 128 + signal and 127 (not found) are already in range.
const failed = (result: CommandResult): ActuatorOutcome => ({
  exitCode: Math.min(255, Math.max(1, result.exitCode)),
  detail: result.command,
  stderr: tail((result.stderr || result.stdout).trim()),
});

/**
 * Whether batman-adv can be driven here: batctl runs and `meshif` answers `mj`. The reason says
 * which part is missing.
 */
export const batmanAvailability = async (options: BatmanAdvOptions = {}): Promise<{ available: true; settings: MeshSettings } | { available: false; reason: string }> => {
  const bat = new BatmanAdv(options);
  const version = await bat.batctl(["-v"]);
  if (version.exitCode !== 0) return { available: false, reason: `batctl does not run (${version.stderr.trim() || `exit ${version.exitCode}`}); install it: apt-get install batctl` };
  try {
    return { available: true, settings: await bat.settings() };
  } catch (error) {
    const loaded = /batman-adv: module not loaded/u.test(version.stdout) ? " (the batman-adv kernel module is not loaded)" : "";
    return { available: false, reason: `${(error as Error).message}${loaded}` };
  }
};
