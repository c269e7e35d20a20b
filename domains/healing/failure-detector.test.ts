import { describe, expect, it } from "vitest";
import {
  type DetectorState,
  type FailureDetectorOptions,
  detectionTimeMs,
  detectionTimeTable,
  initialDetectorState,
  intervalStatistics,
  isSuspected,
  phi,
  recordHeartbeat,
} from "./failure-detector.ts";

/** given heartbeats arriving at these times (ms) → the detector state they build. */
const given = (arrivals: ReadonlyArray<number>, options: FailureDetectorOptions = {}): DetectorState =>
  arrivals.reduce(recordHeartbeat, initialDetectorState(options));

/** Heartbeats every `intervalMs` from 0, `count` of them. */
const regular = (intervalMs: number, count: number): number[] => Array.from({ length: count }, (_, i) => i * intervalMs);

describe("phi-accrual failure detector", () => {
  it("given no heartbeat yet, the node is not suspected however much time passes", () => {
    const state = initialDetectorState();
    expect(phi(state, 1e9)).toBe(0);
    expect(isSuspected(state, 1e9)).toBe(false);
  });

  it("given regular heartbeats, phi is low right after one and grows with the silence", () => {
    const state = given(regular(250, 40));
    const last = 39 * 250;
    expect(phi(state, last)).toBeLessThan(0.1);
    const readings = [300, 500, 700, 900].map((d) => phi(state, last + d));
    expect(readings).toEqual([...readings].sort((a, b) => a - b));
    expect(isSuspected(state, last + 300)).toBe(false);
    expect(isSuspected(state, last + 900)).toBe(true);
  });

  it("given a heartbeat that arrives after a silence, suspicion clears", () => {
    const state = given(regular(250, 40));
    expect(isSuspected(state, 39 * 250 + 2000)).toBe(true);
    expect(isSuspected(recordHeartbeat(state, 39 * 250 + 2000), 39 * 250 + 2000)).toBe(false);
  });

  it("the threshold is configurable, default 8: a lower threshold suspects sooner", () => {
    expect(initialDetectorState().options.threshold).toBe(8);
    const at = 39 * 250 + 600;
    expect(isSuspected(given(regular(250, 40)), at)).toBe(false);
    expect(isSuspected(given(regular(250, 40), { threshold: 3 }), at)).toBe(true);
  });

  it("an acceptable heartbeat pause delays suspicion by that much", () => {
    const last = 39 * 250;
    const plain = given(regular(250, 40));
    const tolerant = given(regular(250, 40), { acceptableHeartbeatPauseMs: 1000 });
    expect(phi(tolerant, last + 1800)).toBeCloseTo(phi(plain, last + 800), 10);
  });

  it("the window is bounded: only the newest maxSampleSize intervals count", () => {
    const slowThenFast = [...regular(1000, 20), ...regular(100, 11).map((t) => 19_000 + t)];
    const state = given(slowThenFast, { maxSampleSize: 10, minStdDeviationMs: 1 });
    expect(state.intervals).toHaveLength(10);
    expect(intervalStatistics(state).meanMs).toBe(100);
  });

  it("a perfectly regular sender still gets the minimum standard deviation", () => {
    expect(intervalStatistics(given(regular(250, 40))).stdDeviationMs).toBe(100);
    expect(intervalStatistics(given(regular(250, 40), { minStdDeviationMs: 20 })).stdDeviationMs).toBe(20);
  });

  it("a duplicate or reordered heartbeat is ignored", () => {
    const state = given([0, 250, 500]);
    expect(recordHeartbeat(state, 500)).toBe(state);
    expect(recordHeartbeat(state, 400)).toBe(state);
  });

  it("before the first interval is measured, the first-heartbeat estimate stands in", () => {
    const state = given([5000], { firstHeartbeatEstimateMs: 500 });
    expect(intervalStatistics(state)).toEqual({ meanMs: 500, stdDeviationMs: 125 });
    expect(isSuspected(state, 5000 + 400)).toBe(false);
    expect(isSuspected(state, 5000 + 2000)).toBe(true);
  });

  it("phi stays finite and ordered far into the tail", () => {
    const state = given(regular(250, 40));
    const far = phi(state, 39 * 250 + 60_000);
    expect(Number.isFinite(far)).toBe(true);
    expect(far).toBeGreaterThan(phi(state, 39 * 250 + 30_000));
  });

  it("the options are validated", () => {
    expect(() => initialDetectorState({ threshold: 0 })).toThrow(RangeError);
    expect(() => initialDetectorState({ acceptableHeartbeatPauseMs: -1 })).toThrow(RangeError);
  });
});

describe("detection time vs heartbeat interval", () => {
  it("is the table of the README and the module comment (jitter 10 %, minimum stddev 100 ms)", () => {
    expect(detectionTimeTable()).toEqual([
      { intervalMs: 250, jitter: 0.1, threshold: 8, detectionMs: 773 },
      { intervalMs: 1000, jitter: 0.1, threshold: 8, detectionMs: 1523 },
      { intervalMs: 250, jitter: 0.1, threshold: 3, detectionMs: 556 },
      { intervalMs: 1000, jitter: 0.1, threshold: 3, detectionMs: 1306 },
    ]);
  });

  it("agrees with the detector fed with such heartbeats: suspected from that silence on, not before", () => {
    // Deterministic ±10 % jitter around 1 s: alternating 900 / 1100 ms has a standard deviation of exactly 100 ms.
    const arrivals = [0];
    for (let i = 1; i <= 100; i++) arrivals.push(arrivals[i - 1]! + (i % 2 === 0 ? 900 : 1100));
    const state = given(arrivals);
    const last = arrivals[arrivals.length - 1]!;
    const expected = detectionTimeMs({ intervalMs: 1000, jitter: 0.1 });
    expect(isSuspected(state, last + expected - 1)).toBe(false);
    expect(isSuspected(state, last + expected + 1)).toBe(true);
  });
});
