/**
 * The batman-adv lab's driver, run inside the User-Mode Linux guest (bundled; see
 * batman-lab.ts) after the guest's init built the mesh. It plays the control plane: starts a
 * nats-server, enrols its key, starts one `x0 agent` per node, sends signed healing commands
 * and watches the real mesh change through batctl. Everything it saw goes to
 * `<out>/result.json`; the host test asserts on it.
 *
 *   lab.mjs '<settings JSON>'   (settings: see batman-lab.ts)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { enrolProducer, issueCommand, storedOutcomes, until, type StoredOutcome } from "../../adapters/agent/testing.ts";
import { BatmanAdv, nextHop, type OriginatorRow } from "../../adapters/batman-adv/index.ts";
import { startNatsServer } from "../../adapters/nats-server/index.ts";
import { runCommand } from "../../adapters/xdp/commands.ts";
import type { HealingAction } from "../../domains/healing/index.ts";
import type { LinkMetricsReported, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { connectNats } from "../../streams/connection.ts";
import { decodeCbor } from "../../streams/envelope.ts";
import { EventStore } from "../../streams/event-store.ts";
import { ensureStreams } from "../../streams/topology.ts";
import type { LabNode } from "./batman-lab.ts";

interface Settings {
  readonly nodes: LabNode[];
  readonly x0: string;
  readonly out: string;
  readonly dataDir: string;
  readonly natsDir: string;
}

const settings = JSON.parse(process.argv[2] ?? "{}") as Settings;
const started = Date.now();
const steps: Array<{ step: string; atMs: number; [key: string]: unknown }> = [];
const result: Record<string, unknown> = {};
const step = (name: string, data: Record<string, unknown> = {}) => {
  const entry = { step: name, atMs: Date.now() - started, ...data };
  steps.push(entry);
  process.stdout.write(`${JSON.stringify(entry)}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const agents = new Map<string, ChildProcess>();
const startAgent = (node: LabNode, natsUrl: string): Promise<void> => {
  const args = [
    settings.x0,
    "agent",
    "--node-id",
    node.id,
    "--mesh-if",
    "bat0",
    "--netns",
    node.netns,
    "--data-dir",
    `${settings.dataDir}/${node.id}`,
    ...(node.xdp ? ["--xdp-if", node.ifaces.join(",")] : []),
    ...(node.metricsIntervalMs > 0 ? ["--metrics-interval", String(node.metricsIntervalMs)] : ["--no-telemetry"]),
  ];
  const child = spawn(process.execPath, args, { env: { ...process.env, NATS_URL: natsUrl }, stdio: ["ignore", "pipe", "pipe"] });
  agents.set(node.id, child);
  const log = `${settings.out}/agent-${node.id}.log`;
  let printed = "";
  return new Promise((resolve, reject) => {
    const take = (d: Buffer) => {
      appendFileSync(log, d);
      printed += d.toString();
      if (/x0 agent \S+ is up/u.test(printed)) resolve();
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.on("exit", (code) => reject(new Error(`agent ${node.id} exited (${code}) before it was up`)));
  });
};

const stopAgents = async () => {
  await Promise.all(
    [...agents.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.on("exit", () => resolve());
          child.kill("SIGTERM");
          setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
        }),
    ),
  );
};

const main = async () => {
  const server = await startNatsServer({ dataDir: settings.natsDir });
  const nc = await connectNats({ servers: server.url, name: "lab-control-plane" });
  try {
    await ensureStreams(await jetstreamManager(nc), { storageBytes: 256 * 1024 ** 2 });
    const controlPlane = await enrolProducer(nc, "control-plane", "control-plane");
    const store = new EventStore(nc);
    step("nats-server up, control plane enrolled", { url: server.url });

    await Promise.all(settings.nodes.map((n) => startAgent(n, server.url)));
    step("agents up", { agents: settings.nodes.map((n) => n.id) });

    // Who is who: each node's originator address and the MAC of each of its hard interfaces.
    const bat = new Map(settings.nodes.map((n) => [n.id, new BatmanAdv({ netns: n.netns })]));
    const nodeOfMac = new Map<string, string>();
    const originator = new Map<string, string>();
    for (const n of settings.nodes) {
      const b = bat.get(n.id)!;
      const s = await b.settings();
      originator.set(n.id, s.hard_address!);
      for (const h of (await b.hardInterfaces()).rows) if (h.hard_address) nodeOfMac.set(h.hard_address, n.id);
    }
    result.originators = Object.fromEntries(originator);
    const A = bat.get("a")!;
    const origC = originator.get("c")!;
    const routesToC = async (): Promise<OriginatorRow[]> => (await A.originators()).rows.filter((r) => r.orig_address === origC);
    const viaOfC = async (): Promise<string | undefined> => {
      const best = nextHop(await routesToC(), origC);
      return best ? nodeOfMac.get(best.neigh_address) : undefined;
    };

    const converged = await until(
      async () => {
        const rows = await routesToC();
        const vias = new Set(rows.map((r) => nodeOfMac.get(r.neigh_address)));
        return vias.has("b") && vias.has("d") && rows.some((r) => r.best) ? rows : undefined;
      },
      "A knows C through B and through D",
      40_000,
    );
    const first = nodeOfMac.get(nextHop(converged, origC)!.neigh_address)!;
    const other = first === "b" ? "d" : "b";
    result.routesToCBefore = converged;
    result.nextHopBefore = first;
    step("mesh converged", { nextHop: first, routes: converged.map((r) => ({ via: nodeOfMac.get(r.neigh_address), tq: r.tq, best: r.best === true })) });

    const command = async (nodeId: string, action: HealingAction, id: string): Promise<StoredOutcome & { ms: number }> => {
      const t0 = Date.now();
      await issueCommand(store, controlPlane, nodeId, action, id);
      const outcome = await until(async () => (await storedOutcomes(nc, nodeId)).find((o) => o.payload.commandId === id), `the outcome of ${id}`, 30_000);
      return { ...outcome, ms: Date.now() - t0 };
    };
    const summary = (o: StoredOutcome & { ms: number }) => ({ type: o.meta.type, producer: o.meta.producerId, ...o.payload, ms: o.ms });

    // 1. hop_penalty on the next hop moves A's route to C onto the other path.
    const hp = await command(first, { kind: "hop-penalty", value: 200 }, "lab-hop-penalty");
    result.hopPenaltyOutcome = summary(hp);
    step("hop_penalty 200 applied", { on: first, ms: hp.ms, detail: hp.payload.detail });
    const tMoved = Date.now();
    const moved = await until(async () => ((await viaOfC()) === other ? true : undefined), `A's next hop to C moves to ${other}`, 30_000).catch(() => false);
    result.nextHopAfterHopPenalty = await viaOfC();
    result.routesToCAfterHopPenalty = await routesToC();
    result.hopPenaltyOnTarget = (await bat.get(first)!.settings()).hop_penalty;
    step("next hop after hop_penalty", { moved, nextHop: result.nextHopAfterHopPenalty, afterMs: Date.now() - tMoved });

    // The collectors: a link report of A (published every 3 s) against batctl's own tables.
    const tReport = Date.now();
    const report = await until(
      async () => {
        const m = await (await jetstreamManager(nc)).direct.getMessage("MESH", { last_by_subj: "mesh.a.links" }).catch(() => null);
        const p = m && m.time.getTime() > tReport ? (decodeCbor(m.data) as LinkMetricsReported) : undefined;
        return p && p.links.length === 2 && p.links.every((l) => l.tq > 0) ? p : undefined;
      },
      "a fresh link report of A with both neighbours",
      20_000,
    ).catch(() => undefined);
    result.linkReportOfA = report;
    result.batctlNeighboursOfA = (await A.neighbours()).rows;
    result.batctlOriginatorsOfA = (await A.originators()).rows;
    step("link report", { links: report?.links });

    // 2. A quarantines the MAC it hears `other` by: the mesh routes around `other`, onto the
    //    path whose hop_penalty is still 200 (the only one left).
    result.nextHopBeforeQuarantine = await viaOfC();
    const viaOther = (await routesToC()).find((r) => nodeOfMac.get(r.neigh_address) === other)!;
    const mac = viaOther.neigh_address;
    const q = await command("a", { kind: "quarantine", source: { kind: "mac", mac } }, "lab-quarantine");
    result.quarantineOutcome = summary(q);
    step("quarantine applied on a", { mac, of: other, ms: q.ms, detail: q.payload.detail });
    const tAround = Date.now();
    const around = await until(async () => ((await viaOfC()) === first ? true : undefined), `A's next hop to C avoids ${other}`, 30_000).catch(() => false);
    result.nextHopAfterQuarantine = await viaOfC();
    result.routesToCAfterQuarantine = await routesToC();
    step("next hop after quarantine", { routedAround: around, nextHop: result.nextHopAfterQuarantine, afterMs: Date.now() - tAround });
    // A's own next hop moves at once; the way back from C moves when D's estimate of its link to A
    // (the echoes of its OGMs, a 64-OGM window) has decayed: until then C's replies die at A's filter.
    const cIp = settings.nodes.find((n) => n.id === "c")!.ipv4;
    const C = bat.get("c")!;
    const origA = originator.get("a")!;
    const viaOfCtoA = async () => {
      const best = nextHop((await C.originators()).rows, origA);
      return best ? nodeOfMac.get(best.neigh_address) : undefined;
    };
    result.returnPathRightAfterQuarantine = await viaOfCtoA();
    const tPing = Date.now();
    const pingOk = await until(
      async () => {
        const p = await runCommand("ping", ["-n", "-q", "-c", "1", "-W", "1", cIp], { netns: "a", timeoutMs: 10_000 });
        return /1 received/u.test(p.stdout) ? true : undefined;
      },
      "A reaches C again",
      45_000,
    ).catch(() => false);
    result.pingRecoveredAfterMs = pingOk ? Date.now() - tPing : undefined;
    result.returnPathAfterRecovery = await viaOfCtoA();
    const ping = await runCommand("ping", ["-n", "-q", "-c", "3", "-i", "0.3", "-W", "2", cIp], { netns: "a", timeoutMs: 20_000 });
    result.pingAtoCWhileQuarantined = /(\d+) received/u.exec(ping.stdout)?.[1] ?? ping.stdout + ping.stderr;
    step("A reaches C around the quarantined node", { afterMs: result.pingRecoveredAfterMs, returnPath: [result.returnPathRightAfterQuarantine, result.returnPathAfterRecovery] });
    await sleep(1_500);
    result.silentNeighbourWhileQuarantined = (await A.neighbours()).rows.find((r) => r.neigh_address === mac);
    const metrics = await until(
      async () => {
        const jsm = await jetstreamManager(nc);
        const m = await jsm.direct.getMessage("MESH", { last_by_subj: "mesh.a.metrics" }).catch(() => null);
        const p = m ? (decodeCbor(m.data) as NodeMetricsReported) : undefined;
        return p?.xdp?.some((x) => x.dropped_block_packets > 0) ? p : undefined;
      },
      "A's counters show dropped frames",
      20_000,
    ).catch(() => undefined);
    result.xdpCountersWhileQuarantined = metrics?.xdp;
    result.batmanStateOfA = metrics?.batman;
    // The report published with those counters: D is still listed by batman-adv, but stale.
    const linksWhileQuarantined = await (await jetstreamManager(nc)).direct.getMessage("MESH", { last_by_subj: "mesh.a.links" }).catch(() => null);
    result.linkReportOfAWhileQuarantined = linksWhileQuarantined ? (decodeCbor(linksWhileQuarantined.data) as LinkMetricsReported) : undefined;
    step("quarantine observed", { ping: result.pingAtoCWhileQuarantined, xdp: metrics?.xdp });

    // 3. Release: A hears `other` again.
    const r = await command("a", { kind: "release", source: { kind: "mac", mac } }, "lab-release");
    result.releaseOutcome = summary(r);
    const heard = await until(
      async () => {
        const row = (await A.neighbours()).rows.find((n) => n.neigh_address === mac);
        return row && row.last_seen_msecs < 1_000 ? row : undefined;
      },
      `A hears ${other} again`,
      20_000,
    ).catch(() => undefined);
    result.neighbourAfterRelease = heard;
    step("released", { ms: r.ms, heardAgain: heard !== undefined });
    const restore = await command(first, { kind: "hop-penalty", value: 30 }, "lab-hop-penalty-restore");
    result.restoreOutcome = summary(restore);
    step("hop_penalty 30 restored", { on: first, ms: restore.ms });

    // 4. hop_penalty on one hard interface: the next hop's port towards A (`ba` or `da`) weighs
    //    down the OGMs it forwards to A, and A's route to C moves to the other path.
    await sleep(1_000);
    const x = (await viaOfC())!;
    const y = x === "b" ? "d" : "b";
    const port = `${x}a`;
    const hardIf = await command(x, { kind: "hop-penalty", hardIf: port, value: 200 }, "lab-hardif-hop-penalty");
    result.hardIfHopPenaltyOutcome = summary(hardIf);
    const tHardIf = Date.now();
    const movedByPort = await until(async () => ((await viaOfC()) === y ? true : undefined), `A's next hop to C moves off ${x}`, 45_000).catch(() => false);
    result.hardIfHopPenalty = { on: x, port, nextHopBefore: x, nextHopAfter: await viaOfC(), setting: (await bat.get(x)!.hardInterface(port))?.hop_penalty };
    step("per-interface hop_penalty", { on: `${x}/${port}`, moved: movedByPort, afterMs: Date.now() - tHardIf, ms: hardIf.ms });
    result.hardIfRestoreOutcome = summary(await command(x, { kind: "hop-penalty", hardIf: port, value: 0 }, "lab-hardif-hop-penalty-restore"));

    // 5. What A announced.
    const jsm = await jetstreamManager(nc);
    const announced = await jsm.direct.getMessage("MESH", { last_by_subj: "mesh.a.announced" }).catch(() => null);
    const announcement = announced ? (decodeCbor(announced.data) as { primaryMac: string; macs: string[] }) : undefined;
    result.announcementOfA = announcement ? { primaryMac: announcement.primaryMac, macs: announcement.macs } : undefined;

    // 6. gw_mode: C becomes a gateway server.
    const gw = await command("c", { kind: "gateway", mode: "server", downKbps: 10_000, upKbps: 2_000 }, "lab-gateway");
    result.gatewayOutcome = summary(gw);
    result.gatewaySettingsOfC = await bat.get("c")!.settings();
    step("gateway", { ms: gw.ms, detail: gw.payload.detail });
    result.ok = true;
  } finally {
    await stopAgents();
    step("agents stopped", { exits: Object.fromEntries([...agents].map(([id, c]) => [id, c.exitCode ?? c.signalCode])) });
    await nc.close().catch(() => undefined);
    await server.stop();
  }
};

try {
  await main();
} catch (error) {
  result.ok = false;
  result.error = (error as Error).stack ?? String(error);
  step("failed", { error: String(error) });
}
writeFileSync(`${settings.out}/result.json`, JSON.stringify({ ...result, steps }, null, 1));
process.exit(0);
