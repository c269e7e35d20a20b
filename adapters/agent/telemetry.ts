/**
 * What the node agent reports about its node: resource counters from /proc, traffic from
 * batman-adv's statistics (or the filtered interfaces when there is no mesh interface), the
 * XDP filters' counters, batman-adv's settings and gateway table, and the MAC addresses it
 * announces.
 */
import { readFile } from "node:fs/promises";
import type { NodeMetricsReported } from "../../domains/mesh/index.ts";
import type { BatmanAdv, GatewayRow, HardInterfaceRow, MeshSettings } from "../batman-adv/index.ts";
import { binaries, runCommand } from "../xdp/commands.ts";
import type { XdpFilter } from "../xdp/index.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type XdpEntry = NonNullable<NodeMetricsReported["xdp"]>[number];
type BatmanEntry = NonNullable<NodeMetricsReported["batman"]>;

/** Busy fraction of all CPUs between two calls, from /proc/stat. */
export class CpuSampler {
  private last: { busy: number; total: number } | undefined;

  async sample(): Promise<number> {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
    const fields = line.trim().split(/\s+/u).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    const total = fields.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const now = { busy: total - idle, total };
    const previous = this.last;
    this.last = now;
    if (!previous || now.total <= previous.total) return 0;
    return Math.min(1, Math.max(0, (now.busy - previous.busy) / (now.total - previous.total)));
  }
}

export const loadAverage = async (): Promise<number> => Number((await readFile("/proc/loadavg", "utf8")).split(" ")[0]) || 0;

/** MemTotal and MemAvailable, KiB. */
export const memoryKiB = async (): Promise<{ total: number; available: number }> => {
  const text = await readFile("/proc/meminfo", "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "mu").exec(text)?.[1] ?? 0);
  return { total: field("MemTotal"), available: field("MemAvailable") };
};

export interface InterfaceInfo {
  readonly ifname: string;
  readonly address: string | undefined;
  readonly rxBytes: number;
  readonly txBytes: number;
}

/** `ip -j -s link show` in the namespace, by interface name. */
export const interfaces = async (netns: string | undefined): Promise<Map<string, InterfaceInfo>> => {
  const result = await runCommand(binaries.ip(), ["-j", "-s", "link", "show"], { netns, timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new Error(`ip -j -s link show: ${result.stderr.trim()}`);
  const links = JSON.parse(result.stdout) as Array<{ ifname: string; address?: string; stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } } }>;
  return new Map(
    links.map((l) => [
      l.ifname,
      { ifname: l.ifname, address: l.address, rxBytes: l.stats64?.rx?.bytes ?? 0, txBytes: l.stats64?.tx?.bytes ?? 0 },
    ]),
  );
};

export const xdpEntry = async (filter: XdpFilter): Promise<XdpEntry> => {
  const c = await filter.counters();
  return {
    iface: filter.iface,
    passed_packets: c.passed.packets,
    passed_bytes: c.passed.bytes,
    dropped_block_packets: c.droppedBlock.packets,
    dropped_block_bytes: c.droppedBlock.bytes,
    dropped_rate_packets: c.droppedRate.packets,
    dropped_rate_bytes: c.droppedRate.bytes,
    rules: c.rules.length,
  };
};

export const batmanEntry = (settings: MeshSettings, hardIfs: readonly HardInterfaceRow[], gateways: readonly GatewayRow[]): BatmanEntry => {
  const entry: Mutable<BatmanEntry> = {
    hard_interfaces: hardIfs.slice(0, 32).map((h) => ({ hard_ifname: h.hard_ifname, active: h.active === true, ...(h.hop_penalty !== undefined ? { hop_penalty: h.hop_penalty } : {}) })),
    gateways: gateways.slice(0, 64).map((g) => ({
      orig_address: g.orig_address,
      router: g.router,
      best: g.best === true,
      ...(g.tq !== undefined ? { tq: g.tq } : {}),
      ...(g.throughput !== undefined ? { throughput: g.throughput } : {}),
      ...(g.bandwidth_down !== undefined ? { bandwidth_down: g.bandwidth_down } : {}),
      ...(g.bandwidth_up !== undefined ? { bandwidth_up: g.bandwidth_up } : {}),
    })),
  };
  if (settings.algo_name !== undefined) entry.algo_name = settings.algo_name;
  if (settings.orig_interval !== undefined) entry.orig_interval = settings.orig_interval;
  if (settings.hop_penalty !== undefined) entry.hop_penalty = settings.hop_penalty;
  if (settings.gw_mode !== undefined) entry.gw_mode = settings.gw_mode;
  return entry;
};

/** batman-adv's view for one report: hard interfaces, gateways, counters, with the settings already read. */
export const batmanSnapshot = async (batman: BatmanAdv, settings: MeshSettings) => {
  const [hardIfs, gateways, statistics] = await Promise.all([batman.hardInterfaces(), batman.gateways(), batman.statistics()]);
  return { settings, hardIfs: hardIfs.rows, gateways: gateways.rows, statistics };
};
