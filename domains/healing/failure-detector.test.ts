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
  HeartbeatWindows,
} from "./failure-detector.ts";
import { Rng } from "../kernel/rng.ts";

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

describe("heartbeat windows of many nodes (what the monitor keeps)", () => {
  /** Arrivals of one node: jittered, now and then duplicated, reordered or after a long silence. */
  const arrivalsOf = (rng: Rng, count: number, fractional: boolean): number[] => {
    const out: number[] = [];
    let t = 1_700_000_000_000 + rng.int(1000);
    for (let i = 0; i < count; i++) {
      const step = rng.float() < 0.05 ? 2_000 + rng.int(60_000) : 200 + rng.int(100);
      t += fractional ? step + rng.float() : step;
      out.push(t);
      if (rng.float() < 0.05) out.push(t); // duplicate
      if (rng.float() < 0.05) out.push(t - 1 - rng.int(300)); // late, reordered
    }
    return out;
  };

  const sideBySide = (options: FailureDetectorOptions, nodes: number, fractional: boolean, seed: number) => {
    const rng = new Rng(seed);
    const windows = new HeartbeatWindows(options);
    const states = Array.from({ length: nodes }, () => initialDetectorState(options));
    const slots = states.map(() => windows.add());
    // Interleaved as they arrive from a mesh.
    const arrivals = states.map(() => arrivalsOf(rng, 40 + rng.int(80), fractional));
    for (let round = 0; arrivals.some((a) => a.length > 0); round++)
      arrivals.forEach((a, n) => {
        const at = a.shift();
        if (at === undefined) return;
        windows.record(slots[n]!, at);
        states[n] = recordHeartbeat(states[n]!, at);
      });
    return { windows, states, slots };
  };

  it("given the same heartbeats, each slot holds the window, statistics and phi one detector per node holds", () => {
    // 300 nodes fill more than one page of per-node columns (256); windows of 2 000 fill 32 to a page.
    for (const [seed, options, nodes] of [
      [1, {}, 300],
      [2, { maxSampleSize: 7, minStdDeviationMs: 1 }, 300],
      [3, { maxSampleSize: 1, threshold: 3, acceptableHeartbeatPauseMs: 250 }, 300],
      [4, { maxSampleSize: 2_000 }, 100],
    ] as const) {
      const { windows, states, slots } = sideBySide(options, nodes, false, seed);
      states.forEach((state, n) => {
        const slot = slots[n]!;
        expect(windows.state(slot)).toEqual(state);
        expect(windows.statistics(slot)).toEqual(intervalStatistics(state));
        for (const silence of [0, 300, 900, 5_000]) {
          const at = state.lastHeartbeatMs! + silence;
          expect(windows.phi(slot, at)).toBe(phi(state, at));
          expect(windows.isSuspected(slot, at)).toBe(isSuspected(state, at));
        }
      });
    }
  });

  it("given intervals that are not whole milliseconds, none is rounded", () => {
    const { windows, states, slots } = sideBySide({ maxSampleSize: 20 }, 5, true, 4);
    states.forEach((state, n) => {
      expect(state.intervals.some((x) => !Number.isInteger(x))).toBe(true);
      expect(windows.state(slots[n]!).intervals).toEqual(state.intervals);
      expect(windows.phi(slots[n]!, state.lastHeartbeatMs! + 700)).toBe(phi(state, state.lastHeartbeatMs! + 700));
    });
  });

  it("a slot never heard from is not suspected, and knows no last heartbeat", () => {
    const windows = new HeartbeatWindows();
    const slot = windows.add();
    expect(windows.lastHeartbeatMs(slot)).toBeUndefined();
    expect(windows.phi(slot, 1e12)).toBe(0);
  });

  it("a window of size 0 keeps the newest interval only, as a single detector does", () => {
    const { windows, states, slots } = sideBySide({ maxSampleSize: 0.5 }, 3, false, 5);
    states.forEach((state, n) => {
      expect(state.intervals).toHaveLength(1);
      expect(windows.state(slots[n]!)).toEqual(state);
    });
  });
});
