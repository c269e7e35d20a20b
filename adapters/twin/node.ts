import { createHash } from "node:crypto";
import type { NodeMetricsReported } from "../../domains/mesh/index.ts";
import type { TrafficSource } from "../../domains/healing/index.ts";
import { DEFAULT_HOP_PENALTY } from "../../domains/healing/index.ts";
import type { Clock } from "../../streams/clock.ts";
import { Producer } from "../../streams/event-store.ts";
import { signingKeyFromSeed, type SigningKey } from "../../streams/keys.ts";
import type { LinkMetrics, LinkModel } from "./link-model.ts";
import { Rng } from "../../domains/kernel/rng.ts";
import type { LinkKind, MeshNodeSpec } from "./topology.ts";

/**
 * Derives a node's Ed25519 seed from the twin seed, the node's index and id: the same twin seed
 * gives every node the same key on every run, so a restarted simulation is the same mesh to the
 * control plane (trust on first use accepts it).
 */
export const nodeKeySeed = (seed: number, index: number, nodeId: string): Uint8Array =>
  new Uint8Array(createHash("sha256").update(`x0tta6bl4/twin/node-key/v1\n${seed}\n${index}\n${nodeId}`).digest());

/** The hard interface a link of each kind uses, as Gluon names them. */
export const HARD_IFNAME: Record<LinkKind, string> = { wifi: "mesh0", vpn: "mesh-vpn", other: "mesh-lan" };
/** Size of one OGM on the air with its headers; batman-adv IV floods each originator's OGM every interval. */
const OGM_BYTES = 60;
export const OGM_INTERVAL_MS = 1_000;
/** Mean frame size the twin turns byte rates into packet rates with (mixed web, VoIP and ACK traffic). */
export const MEAN_PACKET_BYTES = 500;
/** A flooding node's traffic counters grow this much faster than its own baseline... */
export const FLOOD_FACTOR = 20;
/** ...and it sends at least this many bytes per second more than it would (1 Mbit/s): a few kB/s from a node without clients is no flood. */
export const FLOOD_MIN_EXTRA_BYTES_PER_SECOND = 125_000;

/** A time window an effect is active in: once (`periodMs` absent) or repeating from `startMs`. */
export interface EffectWindow {
  readonly startMs: number;
  readonly downMs: number;
  readonly periodMs?: number;
}

/** Something laid over one direction of a link: a fault, an interface restart, a manual impairment. */
export interface LinkEffect {
  /** Extra loss, 0-1 (1 = the direction is cut). */
  readonly loss: number;
  /** Extra latency, ms. */
  readonly latencyMs: number;
  /** Active only inside this window; always when absent. */
  readonly window?: EffectWindow;
}

/** One direction of one link, as the node `from` lists its neighbour `to`. */
export interface DirectedLink {
  /** Position in the model's list of directed links. */
  readonly index: number;
  /** Position of the undirected link in the topology. */
  readonly topologyLink: number;
  readonly from: number;
  readonly to: number;
  readonly kind: LinkKind;
  /** `from`'s interface MAC on this link: the source MAC of its frames as `to` sees them. */
  readonly localMac: string;
  /** `to`'s interface MAC on this link: what `from` reports as `neigh_address`. */
  readonly neighMac: string;
  readonly hardIfname: string;
  readonly model: LinkModel;
  /** The opposite direction, when the other end lists this link too. */
  reverse: DirectedLink | undefined;
  /** Active effects by key (`fault:<id>`, `restart:<ifname>`, `impair`). */
  readonly effects: Map<string, LinkEffect>;
  /** batman-adv's TQ for this direction (what `from` reports and routes on), and when it last moved (twin.ts, `BATMAN_TQ_TIME_CONSTANT_MS`). */
  tqView?: { tq: number; atMs: number };
}

export type GatewayMode = "off" | "client" | "server";

/** `batctl gw_mode` state of a node. */
export interface GatewaySetting {
  readonly mode: GatewayMode;
  readonly selClass?: number;
  readonly downKbps?: number;
  readonly upKbps?: number;
}

export interface RateLimitRule {
  readonly source: TrafficSource;
  readonly pps: number;
  readonly burst: number;
}

export type ByzantineBehaviour = "flood" | "lie" | "bad-signatures";

/** What a node answered to one command, kept so a repeated command id gets the same answer once. */
export interface AnsweredCommand {
  readonly type: "heal.CommandApplied" | "heal.CommandFailed";
  readonly payload: unknown;
}

/** A traffic source as a map key: one rule per source, whatever else the command says. */
export const sourceKey = (source: TrafficSource): string =>
  source.kind === "mac" ? `mac:${source.mac}` : source.kind === "ipv4" ? `ipv4:${source.address}` : `ipv6:${source.prefix}`;

type NodeMetricsPayload = typeof NodeMetricsReported.schema.Type;
type TrafficCounters = NodeMetricsPayload["traffic"];

/** Traffic beyond the node's own clients and links, laid on by the model (floods). */
export interface TrafficContext {
  /** Multiplies the node's own rx, tx and forward rates (a flooding node). Default 1. */
  readonly factor?: number;
  /** Flood bytes per second its neighbours let through to it: received and forwarded on. */
  readonly extraBytesPerSecond?: number;
}

/** One simulated node: its key, its links, its batman-adv settings and its counters. */
export class SimulatedNode {
  readonly links: DirectedLink[] = [];
  /** Hard interfaces the node has: one per link kind it has a link of. */
  readonly interfaces = new Set<string>();
  /** Metric rounds fall at phase + k·interval (integer ms, so manual-mode times are integers). */
  readonly phaseMs: number;
  readonly rng: Rng;
  busy = false;
  announcedAt: number | undefined;
  bootedAt = 0;
  /** Why the node is down: `fail` (failNode) or `fault:<id>` (node-crash). Down while any remains. */
  readonly downBy = new Set<string>();
  /** node-hang faults: forwards, stays linked, publishes and answers nothing. */
  readonly hungBy = new Set<string>();
  readonly byzantine = new Map<string, ByzantineBehaviour>();
  /** Mesh-wide `hop_penalty`. */
  hopPenalty = DEFAULT_HOP_PENALTY;
  /** `hop_penalty` per hard interface (absent = 0). */
  readonly interfaceHopPenalty = new Map<string, number>();
  gateway: GatewaySetting = { mode: "client" };
  /** XDP drop rules by `sourceKey`. */
  readonly quarantined = new Map<string, TrafficSource>();
  /** When a fence (a drop rule with a TTL) lifts itself, by `sourceKey`, ms. */
  readonly quarantinedUntil = new Map<string, number>();
  /** XDP token buckets by `sourceKey`. */
  readonly rateLimits = new Map<string, RateLimitRule>();
  readonly answered = new Map<string, AnsweredCommand>();
  /** Interface restarts so far: seeds how long the next one takes. */
  restarts = 0;
  private badKey: SigningKey | undefined;
  private cpu: number;
  private loadavg: number;
  private memoryUsage: number;
  private clients: number;
  private readonly memoryTotal: number;
  private readonly traffic: { -readonly [K in keyof TrafficCounters]: number } = {
    rx_bytes: 0,
    tx_bytes: 0,
    forward_bytes: 0,
    mgmt_rx_bytes: 0,
    mgmt_tx_bytes: 0,
  };
  private readonly nproc: number;

  constructor(
    readonly spec: MeshNodeSpec,
    private readonly seed: number,
    intervalMs: number,
    private readonly originators: number,
    private readonly clock: Clock | undefined,
  ) {
    this.rng = new Rng(seed, 0x6e6f6465, spec.index);
    // Spread the nodes over the interval so the server sees a steady stream, not a burst per second.
    this.phaseMs = Math.floor(this.rng.float() * intervalMs);
    this.nproc = spec.hardware.nproc ?? 1;
    this.memoryTotal = memoryTotalKiB(spec, this.rng);
    this.memoryUsage = spec.baseline.memoryUsage ?? 0.4 + 0.3 * this.rng.float();
    this.loadavg = spec.baseline.loadavg ?? 0.1 + 0.4 * this.rng.float();
    this.cpu = Math.min(1, this.loadavg / this.nproc);
    this.clients = spec.baseline.clients ?? this.rng.int(10);
  }

  private producerValue: Producer | undefined;
  /** The node's own key; derived on first use (a manual-mode run of 1 000 nodes never signs). */
  get producer(): Producer {
    this.producerValue ??= new Producer(this.spec.id, signingKeyFromSeed(nodeKeySeed(this.seed, this.spec.index, this.spec.id)), this.clock);
    return this.producerValue;
  }

  get id(): string {
    return this.spec.id;
  }
  get index(): number {
    return this.spec.index;
  }
  get down(): boolean {
    return this.downBy.size > 0;
  }
  get hung(): boolean {
    return this.hungBy.size > 0;
  }
  /** Online in the topology and not down: forwards frames for others. */
  get alive(): boolean {
    return this.spec.online && !this.down;
  }
  has(behaviour: ByzantineBehaviour): boolean {
    for (const b of this.byzantine.values()) if (b === behaviour) return true;
    return false;
  }

  /**
   * The key a bad-signatures node signs with: its own key id and public key in the envelope, a
   * wrong private key behind them, so consumers find a known key that does not verify.
   */
  signingProducer(): Producer {
    if (!this.has("bad-signatures")) return this.producer;
    this.badKey ??= {
      ...this.producer.key,
      privateKey: signingKeyFromSeed(nodeKeySeed(this.seed ^ 0x5a5a5a5a, this.spec.index, `${this.spec.id}/forged`)).privateKey,
    };
    return new Producer(this.spec.id, this.badKey, this.producer.clock);
  }

  /** Traffic counters as a node up for `uptimeSeconds` would show them, so they do not start at zero. */
  warmUp(uptimeSeconds: number): void {
    const perSecond = this.trafficPerSecond();
    for (const key of Object.keys(this.traffic) as (keyof TrafficCounters)[]) {
      this.traffic[key] = Math.floor(perSecond[key] * uptimeSeconds * (0.8 + 0.4 * this.rng.float()));
    }
  }

  /** Bytes per second each counter grows by with the node's current clients and links. */
  trafficPerSecond(context: TrafficContext = {}): Record<keyof TrafficCounters, number> {
    // ~4 kB/s per client on average (web, messaging) with wide spread; forwarding grows with degree.
    const client = this.clients * 4_000;
    const degree = this.links.length;
    const ogms = (this.originators * 1_000) / OGM_INTERVAL_MS;
    const factor = context.factor ?? 1;
    const extra = context.extraBytesPerSecond ?? 0;
    return {
      rx_bytes: (client * 1.0 + 200) * factor + extra,
      tx_bytes: factor > 1 ? Math.max((client * 0.25 + 200) * factor, client * 0.25 + 200 + FLOOD_MIN_EXTRA_BYTES_PER_SECOND) : client * 0.25 + 200,
      forward_bytes: degree * 1_500 * factor + extra,
      mgmt_tx_bytes: ogms * OGM_BYTES,
      mgmt_rx_bytes: ogms * OGM_BYTES * Math.max(1, degree) * 0.8,
    };
  }

  /** Packets per second the node sends into the mesh (its own and forwarded frames): what its neighbours receive from it. */
  sentPps(): number {
    const perSecond = this.trafficPerSecond({ factor: this.has("flood") ? FLOOD_FACTOR : 1 });
    return (perSecond.tx_bytes + perSecond.forward_bytes) / MEAN_PACKET_BYTES;
  }

  /** The same without a flood: the node's normal rate. */
  normalPps(): number {
    const perSecond = this.trafficPerSecond();
    return (perSecond.tx_bytes + perSecond.forward_bytes) / MEAN_PACKET_BYTES;
  }

  /**
   * Draws the next round's samples: links (with the impairments the caller laid on their
   * models), then node metrics. The n-th call gives the same for a given seed and the same faults.
   */
  sampleRound(
    intervalMs: number,
    context: TrafficContext = {},
  ): { links: (LinkMetrics & { link: DirectedLink })[]; metrics: Omit<NodeMetricsPayload, "nodeId"> } {
    const links = this.links.map((link) => ({ ...link.model.sample(intervalMs), link }));
    const rng = this.rng;
    const seconds = intervalMs / 1000;

    // Clients come and go slowly; CPU and memory wander around the node's own level.
    if (rng.float() < 0.05 * seconds) this.clients = Math.max(0, this.clients + (rng.float() < 0.5 ? -1 : 1));
    const baseCpu = Math.min(0.95, (this.spec.baseline.loadavg ?? 0.2) / this.nproc + 0.01 * this.clients);
    this.cpu = clamp(0.7 * this.cpu + 0.3 * baseCpu + 0.04 * rng.normal(), 0, 1);
    // Load average is a 1-minute exponential average of runnable tasks.
    const decay = Math.exp(-seconds / 60);
    this.loadavg = Math.max(0, decay * this.loadavg + (1 - decay) * (this.cpu * this.nproc + 0.05 * Math.abs(rng.normal())));
    const baseMemory = this.spec.baseline.memoryUsage ?? 0.5;
    this.memoryUsage = clamp(0.9 * this.memoryUsage + 0.1 * baseMemory + 0.01 * rng.normal(), 0.05, 0.98);

    const perSecond = this.trafficPerSecond(context);
    for (const key of Object.keys(this.traffic) as (keyof TrafficCounters)[]) {
      this.traffic[key] += Math.floor(perSecond[key] * seconds * Math.exp(0.3 * rng.normal()));
    }
    return {
      links,
      metrics: {
        cpu: round(this.cpu, 3),
        loadavg: round(this.loadavg, 2),
        memory: { total: this.memoryTotal, available: Math.floor(this.memoryTotal * (1 - this.memoryUsage)) },
        traffic: { ...this.traffic },
        clients: this.clients,
      },
    };
  }

  /** A reboot: uptime and counters start again from zero, the announcement is due again. */
  reboot(now: number): void {
    this.bootedAt = now;
    this.announcedAt = undefined;
    for (const key of Object.keys(this.traffic) as (keyof TrafficCounters)[]) this.traffic[key] = 0;
  }
}

/**
 * Memory as /proc/meminfo MemTotal reports it, KiB: 32 MB boards (WR841 and kin) show ~28 MiB,
 * quad-core single-board computers a few GiB, other routers 64 or 128 MB.
 */
const memoryTotalKiB = (spec: MeshNodeSpec, rng: Rng): number => {
  const model = spec.hardware.model ?? "";
  if ((spec.hardware.nproc ?? 1) >= 4) return 3_884_848;
  if (/WR8[0-4]\dN|WR7[0-4]\dN|WA8[0-9]\dN|WR940N/i.test(model)) return 27_948;
  return rng.float() < 0.5 ? 59_180 : 123_432;
};

export const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
export const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
