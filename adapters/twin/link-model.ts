import type { Rng } from "../../domains/kernel/rng.ts";
import type { LinkKind, MeshLinkSpec } from "./topology.ts";

/**
 * How one direction of a link behaves on average; `LinkModel` adds seeded, time-correlated
 * noise around it per sample.
 */
export interface LinkConditions {
  readonly kind: LinkKind;
  /** Long-run fraction of packets lost in this direction, 0-1. */
  readonly meanLoss: number;
  /** One-way latency when nothing is lost, in ms. */
  readonly baseLatencyMs: number;
  /** Throughput with no loss, kbit/s (what BATMAN_V would estimate). */
  readonly capacityKbit: number;
}

/** One sample of one direction, in batctl's units. */
export interface LinkMetrics {
  /** batman-adv transmit quality, integer 0-255. */
  readonly tq: number;
  readonly loss: number;
  readonly latency_ms: number;
  /** kbit/s. */
  readonly throughput: number;
  /** Milliseconds since the neighbour's last OGM was received. */
  readonly last_seen_msecs: number;
}

/**
 * TQ falls with the square of the delivery ratio: batman-adv IV rates a neighbour by the OGMs
 * it receives from it *and* the echoes of its own OGMs it hears back, and each of the two
 * crosses the lossy link once. So tq ≈ 255 · (1 − loss)^k with k = 2.
 */
export const TQ_LOSS_EXPONENT = 2;

export const tqFromLoss = (loss: number): number =>
  Math.round(255 * Math.pow(1 - clamp(loss, 0, 1), TQ_LOSS_EXPONENT));

/** The inverse of `tqFromLoss`: the loss a measured TQ implies. */
export const lossFromTq = (tq: number): number => 1 - Math.pow(clamp(tq, 0, 255) / 255, 1 / TQ_LOSS_EXPONENT);

/**
 * Mean loss over a radio link from its length relative to the radio range: about 1 % next door,
 * rising with the cube of distance to ~46 % at the edge of range (tq ≈ 74, where batman-adv
 * starts to prefer other paths). A stand-in for a log-distance path-loss model, tuned so a
 * random geometric mesh shows the TQ spread seen in Freifunk snapshots.
 */
export const lossFromDistance = (distanceM: number, radioRangeM: number): number => {
  const x = clamp(distanceM / radioRangeM, 0, 1);
  return 0.01 + 0.45 * x ** 3;
};

/** Relative distance assumed for a `bridge` link: a mounted directional link, better than range's edge. */
const BRIDGE_RELATIVE_DISTANCE = 0.7;

/** A fully-deterministic property of one link direction, independent of the sample noise. */
export interface ConditionsContext {
  readonly radioRangeM?: number;
  /** Draws the per-link constants (asymmetry, VPN uplink speed); seeded by the caller per direction. */
  readonly rng: Rng;
}

/**
 * The average behaviour of the direction `from` → other end of `link`:
 * - a TQ recorded in the topology (meshviewer) fixes the loss through `lossFromTq`;
 * - otherwise radio links take loss from distance, VPN and cable links are nearly lossless;
 * - each direction gets its own asymmetry (radios, antennas and noise floors differ).
 * Latency: ~1.5 ms per radio hop plus airtime growing with distance; 10-40 ms for a VPN tunnel
 * through the internet; 0.3 ms on a cable. Capacity: 802.11n 20 MHz tops out near 65 Mbit/s
 * and falls with link quality; a VPN uplink is 10-50 Mbit/s; a cable 100 Mbit/s.
 */
export const linkConditions = (link: MeshLinkSpec, from: "a" | "b", ctx: ConditionsContext): LinkConditions => {
  const { rng } = ctx;
  const recordedTq = from === "a" ? link.tqAB : link.tqBA;
  const asymmetry = Math.exp(0.3 * rng.normal());
  let meanLoss: number;
  if (recordedTq !== undefined && recordedTq > 0) meanLoss = lossFromTq(recordedTq);
  else if (link.kind === "wifi") {
    const range = ctx.radioRangeM ?? 150;
    const distance = link.bridge ? BRIDGE_RELATIVE_DISTANCE * range : (link.distanceM ?? range / 2);
    meanLoss = clamp(lossFromDistance(distance, range) * asymmetry, 0.001, 0.95);
  } else meanLoss = clamp(0.003 * asymmetry, 0, 1);

  const relative = link.distanceM !== undefined && ctx.radioRangeM ? clamp(link.distanceM / ctx.radioRangeM, 0, 1) : 0.5;
  switch (link.kind) {
    case "wifi":
      return {
        kind: "wifi",
        meanLoss,
        baseLatencyMs: 1.5 + 2.5 * relative,
        capacityKbit: 6_500 + 58_500 * (1 - meanLoss) ** 2,
      };
    case "vpn":
      return { kind: "vpn", meanLoss, baseLatencyMs: 10 + 30 * rng.float(), capacityKbit: 10_000 + 40_000 * rng.float() };
    case "other":
      return { kind: "other", meanLoss, baseLatencyMs: 0.3, capacityKbit: 100_000 };
  }
};

export interface LinkModelOptions {
  /** batman-adv OGM interval in ms: how often a neighbour is heard when nothing is lost. Default 1 000. */
  readonly ogmIntervalMs?: number;
  /**
   * Correlation of the noise from one sample to the next (AR(1) coefficient), 0-1. Default 0.85:
   * radio conditions drift over seconds, they do not jump independently every sample.
   */
  readonly correlation?: number;
}

/**
 * One direction of one link over time. Loss wanders around its mean in logit space with
 * AR(1) noise (so it stays inside 0-1 and drifts rather than jumps); TQ, latency, throughput
 * and last-seen follow from the sampled loss. Deterministic: the n-th sample depends only on
 * the conditions and the rng's seed, never on wall time.
 */
export class LinkModel {
  private z = 0;
  private readonly sigma: number;
  private readonly ogmIntervalMs: number;
  private readonly rho: number;
  /** Extra loss laid over the link by fault injection, 0-1. */
  private impairment = 0;
  /** Extra one-way latency laid over the link by fault injection, ms. */
  private extraLatencyMs = 0;
  /** Time since the neighbour's last OGM was heard, and until its next one is sent, ms. */
  private sinceHeardMs: number;
  private untilNextOgmMs: number;

  constructor(
    readonly conditions: LinkConditions,
    private readonly rng: Rng,
    options: LinkModelOptions = {},
  ) {
    // Radio links fade; tunnels and cables are steadier.
    this.sigma = conditions.kind === "wifi" ? 0.6 : 0.25;
    this.ogmIntervalMs = options.ogmIntervalMs ?? 1_000;
    this.rho = clamp(options.correlation ?? 0.85, 0, 1);
    // Start from the stationary distribution, not from the mean, so the first sample varies too.
    this.z = rng.normal();
    this.sinceHeardMs = Math.floor(rng.float() * this.ogmIntervalMs);
    this.untilNextOgmMs = Math.floor(rng.float() * this.ogmIntervalMs);
  }

  /** Lays extra loss (0 = none, 1 = link cut) and latency (ms) over the link, e.g. to exercise healing. */
  impair(extraLoss: number, extraLatencyMs = 0): void {
    this.impairment = clamp(extraLoss, 0, 1);
    this.extraLatencyMs = Math.max(0, extraLatencyMs);
  }

  /**
   * The loss the link has now: the noise state of the last sample under the given impairment
   * (default: the one last laid). Draws nothing, so asking never changes the next sample.
   */
  currentLoss(impairment = this.impairment): number {
    const mean = clamp(this.conditions.meanLoss, 1e-4, 1 - 1e-4);
    const drawn = sigmoid(logit(mean) + this.sigma * this.z);
    return clamp(1 - (1 - drawn) * (1 - clamp(impairment, 0, 1)), 0, 1);
  }

  /**
   * The link after `elapsedMs` more (default one OGM interval): the noise moves one step, and
   * the neighbour's OGMs sent meanwhile (one per OGM interval) are each heard with the current
   * delivery ratio. Last-seen is the time since the last one heard, so consecutive samples
   * tell one story: it grows by `elapsedMs` until an OGM gets through.
   */
  sample(elapsedMs: number = this.ogmIntervalMs): LinkMetrics {
    const { rng } = this;
    this.z = this.rho * this.z + Math.sqrt(1 - this.rho * this.rho) * rng.normal();
    const loss = this.currentLoss();

    this.sinceHeardMs += elapsedMs;
    let next = this.untilNextOgmMs;
    for (; next <= elapsedMs; next += this.ogmIntervalMs) if (rng.float() >= loss) this.sinceHeardMs = elapsedMs - next;
    this.untilNextOgmMs = next - elapsedMs;
    const lastSeen = Math.floor(this.sinceHeardMs);

    // A lost frame is retried by the MAC: latency grows with the expected number of attempts.
    const attempts = 1 / Math.max(0.05, 1 - loss);
    const latency = this.conditions.baseLatencyMs * attempts * Math.exp(0.2 * rng.normal()) + this.extraLatencyMs;
    const throughput = this.conditions.capacityKbit * (1 - loss) * Math.exp(0.1 * rng.normal());

    return {
      tq: tqFromLoss(loss),
      loss: round(loss, 4),
      latency_ms: round(latency, 2),
      throughput: Math.max(0, Math.round(throughput)),
      last_seen_msecs: lastSeen,
    };
  }
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
