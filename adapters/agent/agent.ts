/**
 * The edge agent: the process on a mesh node that speaks for it. It keeps the node's Ed25519
 * key, announces the node, reports its links (batctl) and counters (XDP, batman-adv, /proc)
 * every originator interval, and carries out the healing commands addressed to it
 * (`commands.ts`), answering each with a signed CommandApplied or CommandFailed.
 */
import { availableParallelism, hostname, uptime } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { healCommandSubject } from "../../domains/healing/index.ts";
import { HeartbeatSent, LinkMetricsReported, meshSubject, NodeAnnounced, NodeMetricsReported } from "../../domains/mesh/index.ts";
import { systemClock, type Clock } from "../../streams/clock.ts";
import { EventStore, Producer } from "../../streams/event-store.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../streams/keys.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { ProjectionRunner } from "../../streams/projection-runner.ts";
import { VerifyPool } from "../../streams/verify-pool.ts";
import { BatmanAdv, batmanAvailability, type MeshSettings } from "../batman-adv/index.ts";
import { attachXdpFilter, type XdpFilter, type XdpMode } from "../xdp/index.ts";
import { KernelActuators, type NodeActuators } from "./actuators.ts";
import { NodeCommandProjection, type CommandCounts } from "./commands.ts";
import { CommandJournal } from "./journal.ts";
import { EnrolledRoles, type Role } from "../../streams/enrolled-roles.ts";
import { batmanEntry, batmanSnapshot, CpuSampler, interfaces, loadAverage, memoryKiB, xdpEntry } from "./telemetry.ts";

export interface EdgeAgentOptions {
  /** This node's id: its producer id and the token of its subjects. Required. */
  readonly nodeId: string;
  /** Where the key (`keys/<nodeId>.key`) and the command journal (`agent/<nodeId>.journal`) live. Required. */
  readonly dataDir: string;
  /** The batman-adv mesh interface. Default `bat0`. A node without one still carries out XDP actions. */
  readonly meshIf?: string;
  /** Interfaces to attach the XDP filter to (their ingress). Default none. */
  readonly xdpIfs?: readonly string[];
  /** The node's network namespace (a lab: several nodes on one host). Default: this process's. */
  readonly netns?: string | undefined;
  /** XDP attach mode. Default `auto` (ADR 0010). */
  readonly xdpMode?: "auto" | XdpMode;
  /** Where the XDP pins live. Default the XDP adapter's (`$X0_BPF_PIN_ROOT`, else /sys/fs/bpf/x0tta6bl4). */
  readonly pinRoot?: string;
  /** The node's signing key. Default: `<dataDir>/keys/<nodeId>.key`, created 0600 on first run. */
  readonly key?: SigningKey;
  /**
   * How often links, counters and a heartbeat are published. Default: batman-adv's originator
   * interval (read each time), at least `minMetricsIntervalMs`.
   */
  readonly metricsIntervalMs?: number;
  /** Floor of the default interval. Default 1 000 ms. */
  readonly minMetricsIntervalMs?: number;
  /** Publish links, counters and heartbeats. Default true. */
  readonly telemetry?: boolean;
  /** What the node announces when the interfaces cannot tell (no mesh interface, no filter). */
  readonly addresses?: { readonly primaryMac: string; readonly macs: readonly string[] };
  /** Carries out commands. Default: batman-adv and the XDP filters (`KernelActuators`). */
  readonly actuators?: NodeActuators;
  /** Enrolled roles whose commands are carried out. Default control-plane and operator. */
  readonly roles?: readonly Role[];
  /** KV bucket of the command checkpoint. Default `edge-agents`. */
  readonly bucket?: string;
  /** Replicas of that bucket (and of `producers` if it is created here). Default 1. */
  readonly replicas?: number;
  /** Keys commands are verified with. Default `ProducerRegistry.open(nc, { follow: true })`, closed on stop. */
  readonly registry?: ProducerRegistry;
  /** Acknowledgement timeout of one append, ms. Default 5 000. */
  readonly appendTimeoutMs?: number;
  readonly clock?: Clock;
  /** Where the agent says what it does. Default: nowhere. */
  readonly log?: (line: string) => void;
  /** Called when a command's outcome is stored, before its checkpoint (tests, benchmarks). */
  readonly onOutcomeStored?: (commandId: string, seq: number) => void;
}

export interface EdgeAgentStats extends CommandCounts {
  readonly outcomesPending: number;
  /** Telemetry events published, and publications that failed (NATS away). */
  readonly reportsPublished: number;
  readonly reportsFailed: number;
}

/** The agent cannot speak for its node: the reason is in the message, for the operator. */
export class AgentStartError extends Error {
  override readonly name: string = "AgentStartError";
}

/** The node's key is bound to another key on the server: its events would all be refused. */
export class NodeKeyMismatchError extends AgentStartError {
  override readonly name = "NodeKeyMismatchError";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BATMAN_PROBE_MS = 30_000;

export class EdgeAgent {
  private readonly store: EventStore;
  private telemetryTimer: NodeJS.Timeout | undefined;
  private telemetryRun: Promise<void> = Promise.resolve();
  private stopped = false;
  private reports = { published: 0, failed: 0 };
  private lastReportError = "";
  private readonly cpu = new CpuSampler();
  private batmanReady: boolean | undefined;
  /** When batman-adv was last found missing: it is probed again only every BATMAN_PROBE_MS. */
  private batmanMissingSince = 0;

  private constructor(
    private readonly nc: NatsConnection,
    readonly nodeId: string,
    readonly producer: Producer,
    readonly batman: BatmanAdv,
    readonly filters: readonly XdpFilter[],
    private readonly options: EdgeAgentOptions,
    private readonly log: (line: string) => void,
  ) {
    this.store = new EventStore(nc);
  }

  private projection: NodeCommandProjection | undefined;
  private runner: ProjectionRunner | undefined;
  private cleanups: (() => Promise<unknown> | unknown)[] = [];

  /**
   * Starts the agent: key, XDP filters (taking over pinned ones, rules and all), announcement,
   * the command consumer, telemetry. Throws NodeKeyMismatchError when the node id is bound to
   * another key.
   */
  static async start(nc: NatsConnection, options: EdgeAgentOptions): Promise<EdgeAgent> {
    const log = options.log ?? (() => undefined);
    const key = options.key ?? (await loadOrCreateSigningKey(join(options.dataDir, "keys", `${options.nodeId}.key`)));
    const clock = options.clock ?? systemClock;
    const producer = new Producer(options.nodeId, key, clock);
    const ownsRegistry = options.registry === undefined;
    const registry = options.registry ?? (await ProducerRegistry.open(nc, { follow: true, ...(options.replicas ? { replicas: options.replicas } : {}) }));
    let agent: EdgeAgent | undefined;
    try {
      const bound = registry.get(options.nodeId);
      if (bound && bound.keyId !== key.keyId)
        throw new NodeKeyMismatchError(
          `node ${options.nodeId} is bound to key ${bound.keyId} on this NATS server, and this key file holds ${key.keyId}: use the key file that announced it (${join(options.dataDir, "keys", `${options.nodeId}.key`)}) or another node id`,
        );
      const batman = new BatmanAdv({ meshIf: options.meshIf ?? "bat0", netns: options.netns });
      const filters: XdpFilter[] = [];
      for (const iface of options.xdpIfs ?? []) {
        filters.push(
          await attachXdpFilter({ iface, netns: options.netns, mode: options.xdpMode ?? "auto", ...(options.pinRoot ? { pinRoot: options.pinRoot } : {}) }),
        );
        log(`XDP filter on ${iface} (${filters.at(-1)!.mode} mode, pins in ${filters.at(-1)!.pinDir})`);
      }
      agent = new EdgeAgent(nc, options.nodeId, producer, batman, filters, options, log);
      if (ownsRegistry) agent.cleanups.push(() => registry.close());
      await agent.announce();
      await agent.startCommands(registry, clock);
      if (options.telemetry !== false) agent.scheduleTelemetry(0);
      return agent;
    } catch (error) {
      if (agent) await agent.runCleanups();
      else if (ownsRegistry) registry.close();
      throw error;
    }
  }

  private async startCommands(registry: ProducerRegistry, clock: Clock): Promise<void> {
    const options = this.options;
    const journal = await CommandJournal.open(join(options.dataDir, "agent", `${this.nodeId}.journal`));
    this.cleanups.push(() => journal.close());
    // Commands are few: one verification worker.
    const verifyPool = new VerifyPool({ workers: 1 });
    this.cleanups.push(() => verifyPool.close());
    const actuators = options.actuators ?? new KernelActuators(this.batman, this.filters);
    this.projection = new NodeCommandProjection(this.nc, this.producer, this.store, new EnrolledRoles(this.nc, registry), journal, actuators, {
      nodeId: this.nodeId,
      name: `agent-${this.nodeId}`,
      bucket: options.bucket ?? "edge-agents",
      replicas: options.replicas ?? 1,
      allowedRoles: new Set(options.roles ?? ["control-plane", "operator"]),
      appendTimeoutMs: options.appendTimeoutMs ?? 5_000,
      clock,
      log: this.log,
      onOutcomeStored: options.onOutcomeStored,
    });
    this.runner = new ProjectionRunner(this.nc, this.projection, registry, { checkpointEvery: 1, batchSize: 64, verifyPool });
    await this.runner.start();
    this.log(`consuming ${healCommandSubject(this.nodeId)} as durable agent-${this.nodeId} from HEAL sequence ${this.runner.durableSequence + 1}`);
  }

  /** Durable consumer name. */
  get consumerName(): string {
    return `agent-${this.nodeId}`;
  }

  /** Last HEAL sequence whose commands are handled and whose outcomes are stored. */
  get durableSequence(): number {
    return this.runner?.durableSequence ?? 0;
  }

  get stats(): EdgeAgentStats {
    return {
      ...this.projection!.counts,
      outcomesPending: this.projection!.outcomesPending,
      reportsPublished: this.reports.published,
      reportsFailed: this.reports.failed,
    };
  }

  /** Resolves once every HEAL event up to `seq` is handled and checkpointed. */
  waitFor(seq: number, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.runner!.waitFor(seq, { durable: true, ...options });
  }

  /**
   * Stops telemetry and the consumer: handles what was delivered, stores its outcomes and
   * checkpoints (a few retries; without NATS it stops anyway, logging what will come again).
   * The XDP filters stay attached with their rules (a restarted agent takes them over): a node
   * keeps enforcing while its agent restarts.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.telemetryTimer) clearTimeout(this.telemetryTimer);
    await this.telemetryRun;
    if (this.projection) this.projection.stopping = true;
    try {
      await this.runner?.stop();
    } catch (error) {
      // NATS away at the last moment: what was not checkpointed comes again on the next start,
      // and the journal keeps it from being carried out twice.
      this.log(`stopped without a final checkpoint (${(error as Error).message}); commands after HEAL sequence ${this.durableSequence} will be delivered again on the next start`);
    } finally {
      await this.runCleanups();
    }
  }

  private async runCleanups(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Announcement and telemetry

  /**
   * batman-adv's settings (`mj`), or undefined without batman-adv. The first call asks batctl
   * why when it is missing; later ones read `mj` alone, and a node without batman-adv is probed
   * again only every BATMAN_PROBE_MS: each batctl call is a process start the commands compete with.
   */
  private async hasBatman(): Promise<MeshSettings | undefined> {
    if (this.batmanReady === false && Date.now() - this.batmanMissingSince < BATMAN_PROBE_MS) return undefined;
    let settings: MeshSettings | undefined;
    let reason = "";
    if (this.batmanReady === undefined) {
      const availability = await batmanAvailability({ meshIf: this.batman.meshIf, netns: this.batman.netns });
      if (availability.available) settings = availability.settings;
      else reason = availability.reason;
    } else {
      settings = await this.batman.settings().catch((error: Error) => {
        reason = error.message;
        return undefined;
      });
    }
    if (this.batmanReady !== (settings !== undefined)) {
      this.log(settings ? `batman-adv ${settings.version ?? ""} on ${this.batman.meshIf} (${settings.algo_name ?? "?"})` : `no batman-adv: ${reason}`);
      this.batmanReady = settings !== undefined;
    }
    if (!settings) this.batmanMissingSince = Date.now();
    return settings;
  }

  /** NodeAnnounced: the key, the originator address (the primary hard interface's MAC) and every hard interface's MAC. */
  private async announce(): Promise<void> {
    const settings = await this.hasBatman();
    const links = await interfaces(this.batman.netns).catch(() => new Map());
    const hardIfs = settings ? (await this.batman.hardInterfaces().catch(() => undefined))?.rows ?? [] : [];
    const macs = new Set<string>();
    for (const h of hardIfs) if (h.hard_address) macs.add(h.hard_address);
    for (const f of this.filters) {
      const address = links.get(f.iface)?.address;
      if (address) macs.add(address);
    }
    for (const mac of this.options.addresses?.macs ?? []) macs.add(mac);
    const primaryMac = settings?.hard_address ?? this.options.addresses?.primaryMac ?? [...macs][0];
    if (!primaryMac) throw new AgentStartError(`node ${this.nodeId} has no MAC address to announce: no batman-adv interface ${this.batman.meshIf} and no --xdp-if`);
    macs.add(primaryMac);
    const event = this.producer.seal(
      NodeAnnounced,
      {
        nodeId: this.nodeId,
        publicKey: this.producer.key.publicKey,
        hostname: hostname(),
        primaryMac,
        macs: [...macs],
        hardware: { nproc: availableParallelism() },
        software: { ...(settings?.version ? { batmanAdv: settings.version } : {}), x0: "agent" },
      },
      meshSubject(this.nodeId, NodeAnnounced.type),
    );
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.append(event, { timeoutMs: this.options.appendTimeoutMs ?? 5_000 });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        this.log(`announcement not stored yet (${(error as Error).message}); retrying`);
        await sleep(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
    this.log(`announced ${this.nodeId} (key ${this.producer.key.keyId}, originator ${primaryMac}, ${macs.size} MAC${macs.size === 1 ? "" : "s"})`);
  }

  private scheduleTelemetry(delayMs: number): void {
    if (this.stopped) return;
    this.telemetryTimer = setTimeout(() => {
      this.telemetryRun = this.report()
        .catch((error: Error) => this.log(`telemetry: ${error.message}`))
        .then((nextMs) => this.scheduleTelemetry(nextMs ?? 1_000));
    }, delayMs);
  }

  /** One report: links, node counters, heartbeat. Returns the delay until the next one. */
  private async report(): Promise<number> {
    const settings = await this.hasBatman();
    const minMs = this.options.minMetricsIntervalMs ?? 1_000;
    const nextMs = this.options.metricsIntervalMs ?? Math.max(minMs, settings?.orig_interval ?? minMs);
    const events = [];
    let traffic = { rx_bytes: 0, tx_bytes: 0, forward_bytes: 0, mgmt_rx_bytes: 0, mgmt_tx_bytes: 0 };
    let batman: NodeMetricsReported["batman"];
    if (settings) {
      const links = await this.batman.links(settings.algo_name);
      if (links.skipped.length > 0) this.log(`batctl printed ${links.skipped.length} row(s) the collector could not use: ${links.skipped[0]!.table} row ${links.skipped[0]!.index}: ${links.skipped[0]!.reason}`);
      if (links.samples) events.push(this.producer.seal(LinkMetricsReported, { nodeId: this.nodeId, links: links.samples }, meshSubject(this.nodeId, LinkMetricsReported.type)));
      const snapshot = await batmanSnapshot(this.batman, settings);
      const s = snapshot.statistics;
      traffic = {
        rx_bytes: s.get("rx_bytes") ?? 0,
        tx_bytes: s.get("tx_bytes") ?? 0,
        forward_bytes: s.get("forward_bytes") ?? 0,
        mgmt_rx_bytes: s.get("mgmt_rx_bytes") ?? 0,
        mgmt_tx_bytes: s.get("mgmt_tx_bytes") ?? 0,
      };
      batman = batmanEntry(snapshot.settings, snapshot.hardIfs, snapshot.gateways);
    } else if (this.filters.length > 0) {
      const links = await interfaces(this.batman.netns);
      for (const f of this.filters) {
        traffic.rx_bytes += links.get(f.iface)?.rxBytes ?? 0;
        traffic.tx_bytes += links.get(f.iface)?.txBytes ?? 0;
      }
    }
    const xdp = await Promise.all(this.filters.map((f) => xdpEntry(f)));
    const [cpu, loadavg, memory] = await Promise.all([this.cpu.sample(), loadAverage(), memoryKiB()]);
    events.push(
      this.producer.seal(
        NodeMetricsReported,
        { nodeId: this.nodeId, cpu, loadavg, memory, traffic, ...(xdp.length > 0 ? { xdp } : {}), ...(batman ? { batman } : {}) },
        meshSubject(this.nodeId, NodeMetricsReported.type),
      ),
      this.producer.seal(HeartbeatSent, { nodeId: this.nodeId, uptime: uptime() }, meshSubject(this.nodeId, HeartbeatSent.type)),
    );
    for (const event of events) {
      try {
        await this.store.append(event, { timeoutMs: this.options.appendTimeoutMs ?? 5_000 });
        this.reports.published++;
        if (this.lastReportError) {
          this.log("telemetry: publishing again");
          this.lastReportError = "";
        }
      } catch (error) {
        // A report is a sample of the present: one that cannot be stored now is replaced by the next.
        this.reports.failed++;
        const message = (error as Error).message;
        if (message !== this.lastReportError) this.log(`telemetry: ${event.meta.type} not stored (${message}); the next report replaces it`);
        this.lastReportError = message;
      }
    }
    return nextMs;
  }
}
