/**
 * Phi-accrual failure detector (Hayashibara, Défago, Yared, Katayama, 2004),
 * in the shape Akka and Cassandra use: one detector per node, fed with
 * heartbeat arrival times. Instead of a yes/no timeout it reports `phi`, the
 * suspicion that the node is down, on a log scale: phi = 1 means a 10 % chance
 * that suspecting now is a mistake, phi = 8 about 1e-8.
 *
 * Pure and deterministic: every time is a number in milliseconds passed in by
 * the caller (the one injectable clock); nothing here reads a clock.
 *
 * Normal CDF approximation (as in Akka's `PhiAccrualFailureDetector`): the
 * logistic approximation of Bowling, Khasawneh, Kaewkuekool & Cho (2009),
 * `F(y) ≈ 1 / (1 + exp(-y (1.5976 + 0.070566 y²)))`, max absolute error about
 * 1.4e-4. phi is evaluated as `log(1 + exp(k)) / ln 10` with
 * `k = y (1.5976 + 0.070566 y²)`, in a form that stays finite in the tail where
 * `1 - F` would round to zero in doubles.
 *
 * Expected detection time (heartbeat interval jitter is its standard deviation
 * as a share of the interval; defaults otherwise: minimum stddev 100 ms, no
 * acceptable pause), as computed by `detectionTimeMs` and pinned by a test:
 *
 * | interval | jitter | threshold | silence before suspicion |
 * |---------:|-------:|----------:|-------------------------:|
 * |   250 ms |   10 % |         8 |                   773 ms |
 * |     1 s  |   10 % |         8 |                  1523 ms |
 * |   250 ms |   10 % |         3 |                   556 ms |
 * |     1 s  |   10 % |         3 |                  1306 ms |
 *
 * "Silence" counts from the last heartbeat received; a crash happens somewhere
 * in the interval after it, so time from crash to suspicion lies between
 * `silence - interval` and `silence`.
 */

import { PagedColumn } from "./columns.ts";

/** 256 nodes per page of `HeartbeatWindows`' per-node columns. */
const NODE_PAGE_BITS = 8;

export interface FailureDetectorOptions {
  /** phi at or above which the node is suspected. Default 8. */
  readonly threshold?: number;
  /** Inter-arrival intervals kept (sliding window). Default 100. */
  readonly maxSampleSize?: number;
  /**
   * Floor of the standard deviation, in ms. A perfectly regular sender would
   * otherwise make phi leap to infinity at the first late heartbeat. Default 100.
   */
  readonly minStdDeviationMs?: number;
  /** Extra silence tolerated on top of the mean interval (GC pauses, radio scans), in ms. Default 0. */
  readonly acceptableHeartbeatPauseMs?: number;
  /**
   * Interval assumed until the first real interval is measured, in ms; its
   * stddev is taken as a quarter of it (Akka's bootstrap). Default 1000.
   */
  readonly firstHeartbeatEstimateMs?: number;
}

export interface ResolvedFailureDetectorOptions {
  readonly threshold: number;
  readonly maxSampleSize: number;
  readonly minStdDeviationMs: number;
  readonly acceptableHeartbeatPauseMs: number;
  readonly firstHeartbeatEstimateMs: number;
}

export const defaultFailureDetectorOptions: ResolvedFailureDetectorOptions = {
  threshold: 8,
  maxSampleSize: 100,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 0,
  firstHeartbeatEstimateMs: 1000,
};

export interface DetectorState {
  readonly options: ResolvedFailureDetectorOptions;
  /** Arrival time of the newest heartbeat, ms; undefined before the first. */
  readonly lastHeartbeatMs: number | undefined;
  /** Inter-arrival intervals in ms, oldest first, at most `maxSampleSize`. */
  readonly intervals: ReadonlyArray<number>;
}

const positive = (name: string, value: number): number => {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive finite number, got ${value}`);
  return value;
};

export const resolveFailureDetectorOptions = (options: FailureDetectorOptions = {}): ResolvedFailureDetectorOptions => {
  const d = defaultFailureDetectorOptions;
  const pause = options.acceptableHeartbeatPauseMs ?? d.acceptableHeartbeatPauseMs;
  if (!Number.isFinite(pause) || pause < 0) throw new RangeError(`acceptableHeartbeatPauseMs must be >= 0, got ${pause}`);
  return {
    threshold: positive("threshold", options.threshold ?? d.threshold),
    maxSampleSize: Math.floor(positive("maxSampleSize", options.maxSampleSize ?? d.maxSampleSize)),
    minStdDeviationMs: positive("minStdDeviationMs", options.minStdDeviationMs ?? d.minStdDeviationMs),
    acceptableHeartbeatPauseMs: pause,
    firstHeartbeatEstimateMs: positive("firstHeartbeatEstimateMs", options.firstHeartbeatEstimateMs ?? d.firstHeartbeatEstimateMs),
  };
};

export const initialDetectorState = (options: FailureDetectorOptions = {}): DetectorState => ({
  options: resolveFailureDetectorOptions(options),
  lastHeartbeatMs: undefined,
  intervals: [],
});

/**
 * A heartbeat arrived at `atMs`. A heartbeat at or before the newest one seen
 * (duplicate or reordered delivery) is ignored: it says nothing about silence
 * and would add a zero or negative interval.
 */
export const recordHeartbeat = (state: DetectorState, atMs: number): DetectorState => {
  const last = state.lastHeartbeatMs;
  if (last === undefined) return { ...state, lastHeartbeatMs: atMs };
  if (atMs <= last) return state;
  const kept = state.intervals.length >= state.options.maxSampleSize
    ? state.intervals.slice(state.intervals.length - state.options.maxSampleSize + 1)
    : state.intervals;
  return { ...state, lastHeartbeatMs: atMs, intervals: [...kept, atMs - last] };
};

export interface IntervalStatistics {
  readonly meanMs: number;
  readonly stdDeviationMs: number;
}

/**
 * Mean and floored standard deviation of `count` intervals read oldest first from a ring
 * (`values[offset + (head + i) % size]`): one computation for the plain array of a
 * `DetectorState` and the shared pool of `HeartbeatWindows`, so both give the same bits.
 */
const windowStatistics = (values: ArrayLike<number>, offset: number, head: number, count: number, size: number, options: ResolvedFailureDetectorOptions): IntervalStatistics => {
  if (count === 0) {
    const meanMs = options.firstHeartbeatEstimateMs;
    return { meanMs, stdDeviationMs: Math.max(meanMs / 4, options.minStdDeviationMs) };
  }
  let sum = 0;
  for (let i = 0; i < count; i++) sum += values[offset + ((head + i) % size)]!;
  const meanMs = sum / count;
  let squares = 0;
  for (let i = 0; i < count; i++) squares += (values[offset + ((head + i) % size)]! - meanMs) ** 2;
  return { meanMs, stdDeviationMs: Math.max(Math.sqrt(squares / count), options.minStdDeviationMs) };
};

/** Mean and standard deviation (floored) of the inter-arrival intervals, ms. */
export const intervalStatistics = (state: DetectorState): IntervalStatistics =>
  windowStatistics(state.intervals, 0, 0, state.intervals.length, Math.max(state.intervals.length, 1), state.options);

/**
 * phi for `elapsedMs` of silence under a normal model with `meanMs` and
 * `stdDeviationMs`: -log10(1 - F(elapsed)), F by the logistic approximation.
 */
export const phiOf = (elapsedMs: number, meanMs: number, stdDeviationMs: number): number => {
  const y = (elapsedMs - meanMs) / stdDeviationMs;
  const k = y * (1.5976 + 0.070566 * y * y);
  // 1 - F = 1 / (1 + exp(k)), so phi = log(1 + exp(k)) / ln 10, written so neither exp overflows.
  return (k > 0 ? k + Math.log1p(Math.exp(-k)) : Math.log1p(Math.exp(k))) / Math.LN10;
};

/** phi after the silence since `lastHeartbeatMs`, under the window's statistics. */
const phiAfter = (lastHeartbeatMs: number, nowMs: number, statistics: IntervalStatistics, options: ResolvedFailureDetectorOptions): number => {
  const elapsed = Math.max(0, nowMs - lastHeartbeatMs);
  return Math.max(0, phiOf(elapsed, statistics.meanMs + options.acceptableHeartbeatPauseMs, statistics.stdDeviationMs));
};

/** Suspicion at `nowMs`. 0 before the first heartbeat: a node never heard from is not suspected by this detector. */
export const phi = (state: DetectorState, nowMs: number): number =>
  state.lastHeartbeatMs === undefined ? 0 : phiAfter(state.lastHeartbeatMs, nowMs, intervalStatistics(state), state.options);

export const isSuspected = (state: DetectorState, nowMs: number): boolean => phi(state, nowMs) >= state.options.threshold;

/**
 * The failure detectors of many nodes, one slot each, as one detector per node would be
 * (`recordHeartbeat`, `phi`, `intervalStatistics` give the same numbers for the same
 * heartbeats), held struct-of-arrays for a mesh of 10 000 nodes: the last arrival per slot in
 * a Float64 column, the windows as fixed rings of `maxSampleSize` in one paged pool instead
 * of a fresh array per heartbeat. The pool stores intervals as 32-bit floats while every
 * interval is one exactly (whole milliseconds below 4.6 hours are), and moves to 64-bit
 * floats at the first that is not, so no interval is ever rounded.
 */
export class HeartbeatWindows {
  readonly options: ResolvedFailureDetectorOptions;
  private readonly size: number;
  private slots = 0;
  /** 1 once a slot has had its first heartbeat. */
  private readonly heard = new PagedColumn((n) => new Uint8Array(n), NODE_PAGE_BITS);
  private readonly last = new PagedColumn((n) => new Float64Array(n), NODE_PAGE_BITS);
  /** Oldest interval's position in the slot's ring, and how many it holds. */
  private readonly head = new PagedColumn((n) => new Uint32Array(n), NODE_PAGE_BITS);
  private readonly count = new PagedColumn((n) => new Uint32Array(n), NODE_PAGE_BITS);
  private intervals: PagedColumn<Float32Array> | PagedColumn<Float64Array>;
  private exact64 = false;

  constructor(options: FailureDetectorOptions = {}) {
    this.options = resolveFailureDetectorOptions(options);
    // A window of 0 keeps the newest interval only, as `recordHeartbeat` does.
    this.size = Math.max(1, this.options.maxSampleSize);
    // Pages of about 64 Ki intervals, whatever the window: 512 windows of 100.
    this.intervals = new PagedColumn((n) => new Float32Array(n), Math.max(0, 16 - Math.ceil(Math.log2(this.size))), this.size);
  }

  /** Slots handed out so far. */
  get length(): number {
    return this.slots;
  }

  /** A new slot, never heard from. */
  add(): number {
    const slot = this.slots++;
    for (const column of [this.heard, this.last, this.head, this.count, this.intervals]) column.reserve(this.slots);
    return slot;
  }

  /** As `recordHeartbeat`: a heartbeat at or before the newest one is ignored. */
  record(slot: number, atMs: number): void {
    if (this.heard.get(slot) === 0) {
      this.heard.set(slot, 1);
      this.last.set(slot, atMs);
      return;
    }
    const last = this.last.get(slot);
    if (atMs <= last) return;
    const interval = atMs - last;
    if (!this.exact64 && Math.fround(interval) !== interval) {
      this.intervals = this.intervals.convert((page) => Float64Array.from(page), (n) => new Float64Array(n));
      this.exact64 = true;
    }
    const n = this.count.get(slot);
    const head = this.head.get(slot);
    const ring = this.intervals.page(slot);
    const at = this.intervals.offset(slot);
    if (n < this.size) {
      ring[at + ((head + n) % this.size)] = interval;
      this.count.set(slot, n + 1);
    } else {
      // Full: the newest replaces the oldest, which is where the ring starts.
      ring[at + head] = interval;
      this.head.set(slot, (head + 1) % this.size);
    }
    this.last.set(slot, atMs);
  }

  lastHeartbeatMs(slot: number): number | undefined {
    return this.heard.get(slot) === 1 ? this.last.get(slot) : undefined;
  }

  statistics(slot: number): IntervalStatistics {
    return windowStatistics(this.intervals.page(slot), this.intervals.offset(slot), this.head.get(slot), this.count.get(slot), this.size, this.options);
  }

  phi(slot: number, nowMs: number): number {
    return this.heard.get(slot) === 1 ? phiAfter(this.last.get(slot), nowMs, this.statistics(slot), this.options) : 0;
  }

  isSuspected(slot: number, nowMs: number): boolean {
    return this.phi(slot, nowMs) >= this.options.threshold;
  }

  /** The slot as a `DetectorState` (a copy): for tests and inspection. */
  state(slot: number): DetectorState {
    const intervals: number[] = [];
    const ring = this.intervals.page(slot);
    const at = this.intervals.offset(slot);
    for (let i = 0; i < this.count.get(slot); i++) intervals.push(ring[at + ((this.head.get(slot) + i) % this.size)]!);
    return { options: this.options, lastHeartbeatMs: this.lastHeartbeatMs(slot), intervals };
  }
}

export interface DetectionTimeInput {
  /** Heartbeat interval, ms. */
  readonly intervalMs: number;
  /** Standard deviation of the interval as a share of it, e.g. 0.1 for 10 %. Default 0. */
  readonly jitter?: number;
  readonly options?: FailureDetectorOptions;
}

/**
 * Silence after the last heartbeat (ms) at which phi reaches the threshold,
 * for a sender whose intervals have the given mean and jitter (the window
 * having filled with such intervals). Solved by bisection on the same phi
 * function the detector uses, so the table and the detector cannot disagree.
 */
export const detectionTimeMs = (input: DetectionTimeInput): number => {
  const o = resolveFailureDetectorOptions(input.options);
  const mean = positive("intervalMs", input.intervalMs) + o.acceptableHeartbeatPauseMs;
  const std = Math.max(input.intervalMs * (input.jitter ?? 0), o.minStdDeviationMs);
  let lo = 0;
  let hi = mean + std;
  while (phiOf(hi, mean, std) < o.threshold) hi *= 2;
  for (let i = 0; i < 100 && hi - lo > 1e-6; i++) {
    const mid = (lo + hi) / 2;
    if (phiOf(mid, mean, std) >= o.threshold) hi = mid;
    else lo = mid;
  }
  return hi;
};

export interface DetectionTimeRow {
  readonly intervalMs: number;
  readonly jitter: number;
  readonly threshold: number;
  /** Rounded to the millisecond. */
  readonly detectionMs: number;
}

/** The table of the module comment and the README: detection time per heartbeat interval and threshold. */
export const detectionTimeTable = (
  rows: ReadonlyArray<{ readonly intervalMs: number; readonly jitter: number; readonly threshold: number }> = [
    { intervalMs: 250, jitter: 0.1, threshold: 8 },
    { intervalMs: 1000, jitter: 0.1, threshold: 8 },
    { intervalMs: 250, jitter: 0.1, threshold: 3 },
    { intervalMs: 1000, jitter: 0.1, threshold: 3 },
  ],
  options: FailureDetectorOptions = {},
): ReadonlyArray<DetectionTimeRow> =>
  rows.map((r) => ({
    ...r,
    detectionMs: Math.round(detectionTimeMs({ intervalMs: r.intervalMs, jitter: r.jitter, options: { ...options, threshold: r.threshold } })),
  }));
