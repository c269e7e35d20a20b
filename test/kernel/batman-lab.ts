/**
 * The batman-adv lab: a real batman-adv mesh in a User-Mode Linux guest (this host's kernel has
 * no batman-adv), one `x0 agent` per mesh node, and a control plane that sends them healing
 * commands over a nats-server in the guest. The host side: bundle the code, write the guest's
 * init (the mesh), boot, read back what the guest driver (`batman-lab-guest.ts`) observed.
 *
 * The mesh is a diamond, so A reaches C over two paths (through B or through D):
 *
 *        B
 *      /   \
 *     A     C        one network namespace per node, a veth pair per edge, bat0 on each,
 *      \   /         BATMAN_IV, orig_interval 200 ms, bridge loop avoidance off
 *        D
 *
 * Node A's agent filters both its hard interfaces with XDP (generic mode in the guest).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultObjectFile } from "../../adapters/xdp/filter.ts";
import { bootUml, bundleForGuest, umlAvailability, type BootResult } from "./uml.ts";

export interface LabNode {
  readonly id: string;
  readonly netns: string;
  /** bat0's IPv4 address (/24). */
  readonly ipv4: string;
  /** Hard interfaces: `<this><peer>`, e.g. `ab` in A facing B. */
  readonly ifaces: readonly string[];
  /** Filter these with XDP (the agent's --xdp-if). */
  readonly xdp: boolean;
  /** Agent telemetry interval, ms; 0 = none (each report costs ~6 batctl processes, slow under UML). */
  readonly metricsIntervalMs: number;
}

export const LAB_EDGES = [
  ["a", "b"],
  ["a", "d"],
  ["b", "c"],
  ["d", "c"],
] as const;

export const labNodes = (): LabNode[] =>
  ["a", "b", "c", "d"].map((id, i) => ({
    id,
    netns: id,
    ipv4: `10.99.0.${i + 1}`,
    ifaces: LAB_EDGES.flatMap(([x, y]) => (x === id ? [`${x}${y}`] : y === id ? [`${y}${x}`] : [])),
    xdp: id === "a",
    metricsIntervalMs: id === "a" ? 3_000 : 0,
  }));

/** What the guest driver hands back (`/run/out/result.json`). */
export interface LabResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly steps: Array<{ readonly step: string; readonly atMs: number; readonly [key: string]: unknown }>;
  readonly [key: string]: unknown;
}

export interface LabRun {
  readonly result: LabResult | undefined;
  readonly boot: BootResult;
  readonly guestLog: string;
  readonly driverLog: string;
  readonly agentLogs: Record<string, string>;
  readonly dir: string;
}

/** Shell lines that build the mesh in the guest (before the driver starts). */
const meshScript = (nodes: readonly LabNode[]): string => {
  const lines = ["modprobe_ veth", "modprobe_ ipv6", "modprobe_ batman-adv"];
  for (const n of nodes) lines.push(`ip netns add ${n.netns}`, `ip -n ${n.netns} link set dev lo up`);
  for (const [x, y] of LAB_EDGES) lines.push(`ip link add name ${x}${y} netns ${x} mtu 1560 type veth peer name ${y}${x} netns ${y} mtu 1560`);
  for (const n of nodes) {
    const bat = `nsenter --net=/run/netns/${n.netns} batctl meshif bat0`;
    for (const i of n.ifaces) lines.push(`ip -n ${n.netns} link set dev ${i} up`, `${bat} interface add ${i}`);
    lines.push(`${bat} orig_interval 200`, `${bat} bridge_loop_avoidance 0`, `ip -n ${n.netns} link set dev bat0 up`, `ip -n ${n.netns} addr add ${n.ipv4}/24 dev bat0`);
  }
  return lines.join("\n");
};

/**
 * Runs the lab once: bundles `x0` and the driver, boots the guest, returns what it observed.
 * Throws when UML is not available (check `umlAvailability()` first).
 */
export const runBatmanLab = async (options: { keep?: boolean; timeoutMs?: number } = {}): Promise<LabRun> => {
  const uml = umlAvailability();
  if (!uml.available) throw new Error(uml.reason);
  const objectFile = defaultObjectFile();
  if (!existsSync(objectFile)) throw new Error(`${objectFile} is not built: npm run build:ebpf`);
  const dir = await mkdtemp(join(tmpdir(), "x0-batman-lab-"));
  const bundle = join(dir, "bundle");
  const outDir = join(dir, "out");
  await mkdir(outDir, { recursive: true });
  try {
    await bundleForGuest(bundle, [
      { name: "x0.mjs", source: 'import { main } from "./adapters/cli/main.ts";\nprocess.exitCode = await main(process.argv.slice(2));\n' },
      { name: "lab.mjs", source: 'import "./test/kernel/batman-lab-guest.ts";\n' },
    ]);
    const nodes = labNodes();
    const settings = { nodes, x0: join(bundle, "x0.mjs"), xdpObject: objectFile, out: "/run/out", dataDir: "/run/x0", natsDir: "/run/nats" };
    const script = `exec >/run/out/guest.log 2>&1
${meshScript(nodes)}
echo "mesh built at $(cut -d' ' -f1 /proc/uptime) s"
X0_XDP_OBJECT=${objectFile} X0_LOG_LEVEL=info node ${join(bundle, "lab.mjs")} '${JSON.stringify(settings)}' >/run/out/driver.log 2>&1
echo "driver exited $? at $(cut -d' ' -f1 /proc/uptime) s"`;
    const boot = await bootUml({ linux: uml.linux, script, outDir, workDir: join(dir, "work"), timeoutMs: options.timeoutMs ?? 240_000 });
    const read = (name: string) => readFile(join(outDir, name), "utf8").catch(() => "");
    const resultText = await read("result.json");
    const agentLogs: Record<string, string> = {};
    for (const n of nodes) agentLogs[n.id] = await read(`agent-${n.id}.log`);
    return {
      result: resultText ? (JSON.parse(resultText) as LabResult) : undefined,
      boot,
      guestLog: await read("guest.log"),
      driverLog: await read("driver.log"),
      agentLogs,
      dir,
    };
  } finally {
    if (!options.keep) await rm(dir, { recursive: true, force: true });
  }
};

