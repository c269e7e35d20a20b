/**
 * Link degradation against each directed link's own baseline, with hysteresis.
 *
 * Every link learns what normal looks like for itself (a 60 % TQ link on a long
 * hop is normal there, an alarm on a short one): TQ, loss and latency as EWMAs.
 * A link is judged only after a warm-up, enters `degraded` only after K
 * consecutive samples beyond an enter threshold, and returns to `healthy` only
 * after M consecutive samples within a lower exit threshold, so noise around a
 * threshold cannot make it flap.
 *
 * The baseline learns only from samples that look normal (every metric within
 * its exit threshold, link not degraded): a degraded or suspicious sample never
 * moves it, otherwise a slow degradation would become the new normal.
 *
 * Noise: a radio link whose loss wanders ±15 points every few seconds would cross a
 * fixed 10-point threshold all day. Each metric also learns its own spread (mean
 * absolute deviation) during warm-up; its thresholds are scaled up so that `enter` is
 * at least `noiseFactor` spreads away (exit scaled alike). A steady link keeps the
 * thresholds as configured. Two samples in a row `severeFactor` times beyond enter
 * degrade the link without waiting for K: most frames lost, latency multiplied.
 */
import type { LinkSample } from "../mesh/events.ts";
import { PagedColumn } from "./columns.ts";

export type LinkMetric = "tq" | "loss" | "latency_ms";
export const linkMetrics: ReadonlyArray<LinkMetric> = ["tq", "loss", "latency_ms"];

/** What the detector reads from a sample: the mesh domain's `LinkSample` fields. */
export type LinkObservationSample = Pick<LinkSample, LinkMetric>;

export interface Thresholds {
  /** Deviation above which a sample counts towards entering `degraded`. */
  readonly enter: number;
  /** Deviation at or below which a sample counts towards leaving it; lower than `enter`. */
  readonly exit: number;
}

/**
 * Deviation of a sample from the baseline, per metric (positive = worse):
 * - `tq`: relative drop, `(baseline - tq) / baseline` (TQ is 0-255; its scale depends on hop length);
 * - `loss`: absolute increase, `loss - baseline` (a fraction already; 2 % → 12 % is +0.10);
 * - `latency_ms`: relative increase, `(latency - baseline) / max(baseline, latencyFloorMs)`.
 */
export interface LinkDegradationOptions {
  /** EWMA weight of a new sample once warmed up. Default 0.05 (a time constant of ~20 samples). */
  readonly alpha?: number;
  /** Samples learnt (plain running mean) before the link is judged. Default 10. */
  readonly warmUpSamples?: number;
  /** K: consecutive samples beyond an enter threshold to become `degraded`. Default 3. */
  readonly enterAfter?: number;
  /** M: consecutive samples within every exit threshold to become `healthy` again. Default 5. */
  readonly exitAfter?: number;
  /** Default `{ enter: 0.25, exit: 0.10 }`: TQ 25 % below its baseline. */
  readonly tq?: Thresholds;
  /** Default `{ enter: 0.10, exit: 0.05 }`: ten points more loss. */
  readonly loss?: Thresholds;
  /** Default `{ enter: 1.0, exit: 0.5 }`: latency doubled. */
  readonly latency_ms?: Thresholds;
  /** Latency baseline below which relative latency is measured against this floor, ms. Default 5. */
  readonly latencyFloorMs?: number;
  /** Enter thresholds are at least this many of the metric's own spreads (mean absolute deviations); 0 = fixed thresholds. Default 8. */
  readonly noiseFactor?: number;
  /** Two samples in a row this many times beyond a (scaled) enter threshold degrade the link without waiting for K. Default 3. */
  readonly severeFactor?: number;
}

export interface ResolvedLinkDegradationOptions {
  readonly alpha: number;
  readonly warmUpSamples: number;
  readonly enterAfter: number;
  readonly exitAfter: number;
  readonly tq: Thresholds;
  readonly loss: Thresholds;
  readonly latency_ms: Thresholds;
  readonly latencyFloorMs: number;
  readonly noiseFactor: number;
  readonly severeFactor: number;
}

export const defaultLinkDegradationOptions: ResolvedLinkDegradationOptions = {
  alpha: 0.05,
  warmUpSamples: 10,
  enterAfter: 3,
  exitAfter: 5,
  tq: { enter: 0.25, exit: 0.1 },
  loss: { enter: 0.1, exit: 0.05 },
  latency_ms: { enter: 1.0, exit: 0.5 },
  latencyFloorMs: 5,
  noiseFactor: 8,
  severeFactor: 3,
};

export type LinkStatus = "warming-up" | "healthy" | "degraded";

export interface LinkBaseline {
  readonly tq: number;
  readonly loss: number;
  readonly latency_ms: number;
  /** Mean absolute deviation of each metric from its baseline, in the metric's own unit. */
  readonly spread?: { readonly tq: number; readonly loss: number; readonly latency_ms: number };
}

export interface LinkDegradationState {
  readonly options: ResolvedLinkDegradationOptions;
  readonly status: LinkStatus;
  /** Samples the baseline has learnt from. */
  readonly learnt: number;
  readonly baseline: LinkBaseline | undefined;
  /** Consecutive samples beyond an enter threshold (while healthy). */
  readonly enterStreak: number;
  /** Consecutive samples beyond `severeFactor` times an enter threshold (while healthy). */
  readonly severeStreak?: number;
  /** Consecutive samples within every exit threshold (while degraded). */
  readonly exitStreak: number;
  /** Metrics beyond their enter threshold on the sample that made the link degraded; empty otherwise. */
  readonly triggeredBy: ReadonlyArray<LinkMetric>;
}

export interface LinkObservation {
  readonly state: LinkDegradationState;
  /** Set on the sample where the status changed between healthy and degraded. */
  readonly transition: "degraded" | "recovered" | undefined;
  /** Deviation of this sample from the baseline it was judged against; undefined while warming up. */
  readonly deviation: Readonly<Record<LinkMetric, number>> | undefined;
}

const checkThresholds = (name: string, t: Thresholds): Thresholds => {
  if (!(t.exit < t.enter) || !Number.isFinite(t.enter) || !Number.isFinite(t.exit)) {
    throw new RangeError(`${name}: exit (${t.exit}) must be below enter (${t.enter}) for hysteresis`);
  }
  return t;
};

const atLeastOne = (name: string, n: number): number => {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be an integer >= 1, got ${n}`);
  return n;
};

export const resolveLinkDegradationOptions = (options: LinkDegradationOptions = {}): ResolvedLinkDegradationOptions => {
  const d = defaultLinkDegradationOptions;
  const alpha = options.alpha ?? d.alpha;
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
  const latencyFloorMs = options.latencyFloorMs ?? d.latencyFloorMs;
  if (!(latencyFloorMs > 0)) throw new RangeError(`latencyFloorMs must be > 0, got ${latencyFloorMs}`);
  return {
    alpha,
    warmUpSamples: atLeastOne("warmUpSamples", options.warmUpSamples ?? d.warmUpSamples),
    enterAfter: atLeastOne("enterAfter", options.enterAfter ?? d.enterAfter),
    exitAfter: atLeastOne("exitAfter", options.exitAfter ?? d.exitAfter),
    tq: checkThresholds("tq", options.tq ?? d.tq),
    loss: checkThresholds("loss", options.loss ?? d.loss),
    latency_ms: checkThresholds("latency_ms", options.latency_ms ?? d.latency_ms),
    latencyFloorMs,
    noiseFactor: options.noiseFactor ?? d.noiseFactor,
    severeFactor: options.severeFactor ?? d.severeFactor,
  };
};

export const initialLinkState = (options: LinkDegradationOptions = {}): LinkDegradationState => ({
  options: resolveLinkDegradationOptions(options),
  status: "warming-up",
  learnt: 0,
  baseline: undefined,
  enterStreak: 0,
  exitStreak: 0,
  triggeredBy: [],
});

/** Key of a directed link in a map of link states: the reporting node and the neighbour it sees. */
export const linkKey = (from: string, to: string): string => `${from}>${to}`;

export const linkDeviation = (
  baseline: LinkBaseline,
  sample: LinkObservationSample,
  options: ResolvedLinkDegradationOptions,
): Record<LinkMetric, number> => ({
  tq: baseline.tq > 0 ? (baseline.tq - sample.tq) / baseline.tq : 0,
  loss: sample.loss - baseline.loss,
  latency_ms: (sample.latency_ms - baseline.latency_ms) / Math.max(baseline.latency_ms, options.latencyFloorMs),
});

const learn = (state: LinkDegradationState, sample: LinkObservationSample): Pick<LinkDegradationState, "baseline" | "learnt"> => {
  const learnt = state.learnt + 1;
  // During warm-up the weight 1/n makes the EWMA a plain running mean, so the first sample does not dominate.
  const w = learnt <= state.options.warmUpSamples ? 1 / learnt : state.options.alpha;
  const b = state.baseline;
  if (b === undefined) return { learnt, baseline: { tq: sample.tq, loss: sample.loss, latency_ms: sample.latency_ms, spread: { tq: 0, loss: 0, latency_ms: 0 } } };
  const s = b.spread ?? { tq: 0, loss: 0, latency_ms: 0 };
  // The spread is learnt during warm-up only: learnt later, a slow drift would widen the
  // thresholds as fast as it moves and never be caught.
  const ws = learnt <= state.options.warmUpSamples ? w : 0;
  return {
    learnt,
    baseline: {
      tq: b.tq + w * (sample.tq - b.tq),
      loss: b.loss + w * (sample.loss - b.loss),
      latency_ms: b.latency_ms + w * (sample.latency_ms - b.latency_ms),
      spread: {
        tq: s.tq + ws * (Math.abs(sample.tq - b.tq) - s.tq),
        loss: s.loss + ws * (Math.abs(sample.loss - b.loss) - s.loss),
        latency_ms: s.latency_ms + ws * (Math.abs(sample.latency_ms - b.latency_ms) - s.latency_ms),
      },
    },
  };
};

/** The thresholds a link is judged by: the configured ones, scaled up for a noisy metric. */
export const effectiveThresholds = (baseline: LinkBaseline, o: ResolvedLinkDegradationOptions): Record<LinkMetric, Thresholds> => {
  const spread = baseline.spread;
  const out = {} as Record<LinkMetric, Thresholds>;
  for (const m of linkMetrics) {
    let scale = 1;
    if (spread && o.noiseFactor > 0) {
      // The spread in deviation units (see linkDeviation).
      const unit = m === "tq" ? spread.tq / Math.max(baseline.tq, 1) : m === "loss" ? spread.loss : spread.latency_ms / Math.max(baseline.latency_ms, o.latencyFloorMs);
      scale = Math.max(1, (o.noiseFactor * unit) / o[m].enter);
    }
    out[m] = { enter: o[m].enter * scale, exit: o[m].exit * scale };
  }
  return out;
};

/** One sample of a directed link: the new state, and whether it crossed between healthy and degraded. */
export const observeLinkSample = (state: LinkDegradationState, sample: LinkObservationSample): LinkObservation => {
  const o = state.options;
  if (state.status === "warming-up" || state.baseline === undefined) {
    const learnt = learn(state, sample);
    const status: LinkStatus = learnt.learnt >= o.warmUpSamples ? "healthy" : "warming-up";
    return { state: { ...state, ...learnt, status }, transition: undefined, deviation: undefined };
  }
  const deviation = linkDeviation(state.baseline, sample, o);
  const t = effectiveThresholds(state.baseline, o);
  const beyondEnter = linkMetrics.filter((m) => deviation[m] > t[m].enter);
  const withinExit = linkMetrics.every((m) => deviation[m] <= t[m].exit);

  if (state.status === "healthy") {
    const enterStreak = beyondEnter.length > 0 ? state.enterStreak + 1 : 0;
    // A link that loses most of its frames or multiplies its latency, twice in a row, is not noise.
    const severeStreak = linkMetrics.some((m) => deviation[m] > o.severeFactor * t[m].enter) ? (state.severeStreak ?? 0) + 1 : 0;
    if (enterStreak >= o.enterAfter || severeStreak >= 2) {
      return {
        state: { ...state, status: "degraded", enterStreak: 0, severeStreak: 0, exitStreak: 0, triggeredBy: beyondEnter },
        transition: "degraded",
        deviation,
      };
    }
    const learnt = withinExit ? learn(state, sample) : {};
    return { state: { ...state, ...learnt, enterStreak, severeStreak }, transition: undefined, deviation };
  }

  // degraded: the baseline is frozen until the link has recovered.
  const exitStreak = withinExit ? state.exitStreak + 1 : 0;
  if (exitStreak >= o.exitAfter) {
    return {
      state: { ...state, status: "healthy", enterStreak: 0, exitStreak: 0, triggeredBy: [] },
      transition: "recovered",
      deviation,
    };
  }
  return { state: { ...state, exitStreak }, transition: undefined, deviation };
};

/**
 * Forget the baseline and learn again from the next samples. For an operator
 * (or a plan) who decides a lasting change is the new normal, e.g. a node was
 * moved; the detector never decides that on its own.
 */
export const relearnLinkBaseline = (state: LinkDegradationState): LinkDegradationState => initialLinkState(state.options);

const WARMING_UP = 0;
const HEALTHY = 1;
const DEGRADED = 2;
const statusNames: readonly LinkStatus[] = ["warming-up", "healthy", "degraded"];
/** Baseline numbers per slot: TQ, loss, latency, then the spread of each. */
const BASELINE_FIELDS = 6;
const MAX_COUNT = 0xffff_ffff;
/** 4096 links per page. */
const LINK_PAGE_BITS = 12;

/**
 * The degradation detectors of many directed links, one slot each, struct-of-arrays: what
 * `MeshMonitor` keeps for the 80 000 directed links of a 10 000-node mesh. The rules are
 * `observeLinkSample`'s, step for step and with the same arithmetic, so a slot fed the same
 * samples holds the same numbers as a `LinkDegradationState` (`state(slot)` gives it back as
 * one; a test runs both side by side). Instead of fresh state, baseline and spread objects
 * per sample, a slot is a few entries of typed-array columns, written in place. Streaks count
 * up to 2^32 - 1 and stay there (`enterAfter`/`exitAfter` beyond that could never be reached).
 */
export class LinkDegradationTable {
  readonly options: ResolvedLinkDegradationOptions;
  private readonly status = new PagedColumn((n) => new Uint8Array(n), LINK_PAGE_BITS);
  /** Bit i set: `linkMetrics[i]` was beyond its enter threshold on the degrading sample. */
  private readonly triggered = new PagedColumn((n) => new Uint8Array(n), LINK_PAGE_BITS);
  private readonly learnt = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS);
  private readonly baseline = new PagedColumn((n) => new Float64Array(n), LINK_PAGE_BITS, BASELINE_FIELDS);
  private readonly enterStreak = new PagedColumn((n) => new Uint32Array(n), LINK_PAGE_BITS);
  private readonly severeStreak = new PagedColumn((n) => new Uint32Array(n), LINK_PAGE_BITS);
  private readonly exitStreak = new PagedColumn((n) => new Uint32Array(n), LINK_PAGE_BITS);

  constructor(options: LinkDegradationOptions = {}) {
    this.options = resolveLinkDegradationOptions(options);
  }

  /** Makes `slot` a fresh detector (warming up, nothing learnt), growing the table if needed. */
  reset(slot: number): void {
    for (const column of [this.status, this.triggered, this.learnt, this.baseline, this.enterStreak, this.severeStreak, this.exitStreak]) column.reserve(slot + 1);
    this.status.set(slot, WARMING_UP);
    this.triggered.set(slot, 0);
    this.learnt.set(slot, 0);
    const at = this.baseline.offset(slot);
    this.baseline.page(slot).fill(0, at, at + BASELINE_FIELDS);
    this.enterStreak.set(slot, 0);
    this.severeStreak.set(slot, 0);
    this.exitStreak.set(slot, 0);
  }

  /** As `learn` above, in place. */
  private learn(slot: number, tq: number, loss: number, latency: number): void {
    const o = this.options;
    const learnt = this.learnt.get(slot) + 1;
    const b = this.baseline.page(slot);
    const i = this.baseline.offset(slot);
    if (learnt === 1) {
      b[i] = tq;
      b[i + 1] = loss;
      b[i + 2] = latency;
      b[i + 3] = b[i + 4] = b[i + 5] = 0;
    } else {
      const w = learnt <= o.warmUpSamples ? 1 / learnt : o.alpha;
      const ws = learnt <= o.warmUpSamples ? w : 0;
      const bTq = b[i]!;
      const bLoss = b[i + 1]!;
      const bLatency = b[i + 2]!;
      b[i] = bTq + w * (tq - bTq);
      b[i + 1] = bLoss + w * (loss - bLoss);
      b[i + 2] = bLatency + w * (latency - bLatency);
      b[i + 3] = b[i + 3]! + ws * (Math.abs(tq - bTq) - b[i + 3]!);
      b[i + 4] = b[i + 4]! + ws * (Math.abs(loss - bLoss) - b[i + 4]!);
      b[i + 5] = b[i + 5]! + ws * (Math.abs(latency - bLatency) - b[i + 5]!);
    }
    this.learnt.set(slot, learnt);
  }

  /** As `observeLinkSample`: one sample of the slot's link, and whether it crossed between healthy and degraded. */
  observe(slot: number, tq: number, loss: number, latency: number): "degraded" | "recovered" | undefined {
    const o = this.options;
    if (this.status.get(slot) === WARMING_UP || this.learnt.get(slot) === 0) {
      this.learn(slot, tq, loss, latency);
      this.status.set(slot, this.learnt.get(slot) >= o.warmUpSamples ? HEALTHY : WARMING_UP);
      return undefined;
    }
    const b = this.baseline.page(slot);
    const i = this.baseline.offset(slot);
    const bTq = b[i]!;
    const bLoss = b[i + 1]!;
    const bLatency = b[i + 2]!;
    // linkDeviation
    const dTq = bTq > 0 ? (bTq - tq) / bTq : 0;
    const dLoss = loss - bLoss;
    const dLatency = (latency - bLatency) / Math.max(bLatency, o.latencyFloorMs);
    // effectiveThresholds (a learnt baseline always has a spread)
    let sTq = 1;
    let sLoss = 1;
    let sLatency = 1;
    if (o.noiseFactor > 0) {
      sTq = Math.max(1, (o.noiseFactor * (b[i + 3]! / Math.max(bTq, 1))) / o.tq.enter);
      sLoss = Math.max(1, (o.noiseFactor * b[i + 4]!) / o.loss.enter);
      sLatency = Math.max(1, (o.noiseFactor * (b[i + 5]! / Math.max(bLatency, o.latencyFloorMs))) / o.latency_ms.enter);
    }
    const enterTq = o.tq.enter * sTq;
    const enterLoss = o.loss.enter * sLoss;
    const enterLatency = o.latency_ms.enter * sLatency;
    const beyondEnter = (dTq > enterTq ? 1 : 0) | (dLoss > enterLoss ? 2 : 0) | (dLatency > enterLatency ? 4 : 0);
    const withinExit = dTq <= o.tq.exit * sTq && dLoss <= o.loss.exit * sLoss && dLatency <= o.latency_ms.exit * sLatency;

    if (this.status.get(slot) === HEALTHY) {
      const enterStreak = beyondEnter !== 0 ? Math.min(this.enterStreak.get(slot) + 1, MAX_COUNT) : 0;
      const severe = dTq > o.severeFactor * enterTq || dLoss > o.severeFactor * enterLoss || dLatency > o.severeFactor * enterLatency;
      const severeStreak = severe ? Math.min(this.severeStreak.get(slot) + 1, MAX_COUNT) : 0;
      if (enterStreak >= o.enterAfter || severeStreak >= 2) {
        this.status.set(slot, DEGRADED);
        this.enterStreak.set(slot, 0);
        this.severeStreak.set(slot, 0);
        this.exitStreak.set(slot, 0);
        this.triggered.set(slot, beyondEnter);
        return "degraded";
      }
      if (withinExit) this.learn(slot, tq, loss, latency);
      this.enterStreak.set(slot, enterStreak);
      this.severeStreak.set(slot, severeStreak);
      return undefined;
    }

    // degraded: the baseline is frozen until the link has recovered.
    const exitStreak = withinExit ? Math.min(this.exitStreak.get(slot) + 1, MAX_COUNT) : 0;
    if (exitStreak >= o.exitAfter) {
      this.status.set(slot, HEALTHY);
      this.enterStreak.set(slot, 0);
      this.exitStreak.set(slot, 0);
      this.triggered.set(slot, 0);
      return "recovered";
    }
    this.exitStreak.set(slot, exitStreak);
    return undefined;
  }

  statusOf(slot: number): LinkStatus {
    return statusNames[this.status.get(slot)]!;
  }

  /** The learnt TQ baseline; undefined before the first sample. */
  baselineTq(slot: number): number | undefined {
    return this.learnt.get(slot) === 0 ? undefined : this.baseline.page(slot)[this.baseline.offset(slot)];
  }

  /** Metrics beyond their enter threshold on the sample that made the link degraded; empty otherwise. */
  triggeredBy(slot: number): LinkMetric[] {
    const bits = this.triggered.get(slot);
    return linkMetrics.filter((_, m) => (bits & (1 << m)) !== 0);
  }

  /** The slot as a `LinkDegradationState` (a copy): for tests and inspection. */
  state(slot: number): LinkDegradationState {
    const b = this.baseline.page(slot);
    const i = this.baseline.offset(slot);
    const learnt = this.learnt.get(slot);
    return {
      options: this.options,
      status: this.statusOf(slot),
      learnt,
      baseline: learnt === 0 ? undefined : { tq: b[i]!, loss: b[i + 1]!, latency_ms: b[i + 2]!, spread: { tq: b[i + 3]!, loss: b[i + 4]!, latency_ms: b[i + 5]! } },
      enterStreak: this.enterStreak.get(slot),
      severeStreak: this.severeStreak.get(slot),
      exitStreak: this.exitStreak.get(slot),
      triggeredBy: this.triggeredBy(slot),
    };
  }
}
