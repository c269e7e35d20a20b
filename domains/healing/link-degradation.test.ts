import { describe, expect, it } from "vitest";
import {
  type LinkDegradationOptions,
  type LinkDegradationState,
  type LinkObservation,
  type LinkObservationSample,
  initialLinkState,
  linkKey,
  observeLinkSample,
  relearnLinkBaseline,
  LinkDegradationTable,
} from "./link-degradation.ts";
import { Rng } from "../kernel/rng.ts";

/** Deterministic PRNG (mulberry32): the same seed gives the same noise on every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const sample = (tq: number, loss = 0.02, latency_ms = 10): LinkObservationSample => ({ tq, loss, latency_ms });
const steady = (n: number, s: LinkObservationSample = sample(230)): LinkObservationSample[] => Array.from({ length: n }, () => s);

/** given these samples (in arrival order) → the state, and every observation on the way. */
const given = (samples: ReadonlyArray<LinkObservationSample>, options: LinkDegradationOptions = {}) => {
  let state: LinkDegradationState = initialLinkState(options);
  const observations: LinkObservation[] = [];
  for (const s of samples) {
    const o = observeLinkSample(state, s);
    observations.push(o);
    state = o.state;
  }
  return { state, observations, transitions: observations.filter((o) => o.transition !== undefined).map((o) => o.transition) };
};

/** A warmed-up link with TQ 230, 2 % loss, 10 ms latency. */
const warmedUp = () => given(steady(20)).state;

const when = (state: LinkDegradationState, samples: ReadonlyArray<LinkObservationSample>) => {
  const observations: LinkObservation[] = [];
  for (const s of samples) {
    const o = observeLinkSample(state, s);
    observations.push(o);
    state = o.state;
  }
  return { state, observations, transitions: observations.filter((o) => o.transition !== undefined).map((o) => o.transition) };
};

describe("link degradation", () => {
  it("given fewer samples than the warm-up, the link is not judged, however bad they are", () => {
    const { state, transitions } = given([...steady(5), ...steady(4, sample(20, 0.9, 500))]);
    expect(state.status).toBe("warming-up");
    expect(transitions).toEqual([]);
  });

  it("after the warm-up the baseline is the mean of the warm-up samples", () => {
    const { state } = given([...steady(5, sample(220, 0.01, 8)), ...steady(5, sample(240, 0.03, 12))]);
    expect(state.status).toBe("healthy");
    expect(state.baseline!.tq).toBeCloseTo(230, 9);
    expect(state.baseline!.loss).toBeCloseTo(0.02, 9);
    expect(state.baseline!.latency_ms).toBeCloseTo(10, 9);
  });

  it("when TQ drops beyond the enter threshold for K = 3 consecutive samples, the link is degraded by tq", () => {
    const { observations, state } = when(warmedUp(), steady(3, sample(150)));
    expect(observations.map((o) => o.transition)).toEqual([undefined, undefined, "degraded"]);
    expect(state.triggeredBy).toEqual(["tq"]);
  });

  it("when two bad samples are followed by a good one, the streak restarts and nothing happens", () => {
    const { transitions, state } = when(warmedUp(), [...steady(2, sample(150)), sample(230), ...steady(2, sample(150))]);
    expect(transitions).toEqual([]);
    expect(state.status).toBe("healthy");
  });

  it("loss and latency trigger on their own, and every metric beyond its threshold is reported", () => {
    expect(when(warmedUp(), steady(3, sample(230, 0.2))).state.triggeredBy).toEqual(["loss"]);
    expect(when(warmedUp(), steady(3, sample(230, 0.02, 25))).state.triggeredBy).toEqual(["latency_ms"]);
    expect(when(warmedUp(), steady(3, sample(100, 0.3, 40))).state.triggeredBy).toEqual(["tq", "loss", "latency_ms"]);
  });

  it("latency on a fast link is judged against the floor: 1 ms → 4 ms is not a degradation", () => {
    const fast = given(steady(20, sample(230, 0.02, 1))).state;
    expect(when(fast, steady(10, sample(230, 0.02, 4))).transitions).toEqual([]);
  });

  it("given a degraded link, samples between the exit and enter thresholds keep it degraded (hysteresis)", () => {
    const degraded = when(warmedUp(), steady(3, sample(150))).state;
    // 15 % below baseline: better than the enter threshold (25 %), not within the exit threshold (10 %).
    const { transitions, state } = when(degraded, steady(50, sample(195)));
    expect(transitions).toEqual([]);
    expect(state.status).toBe("degraded");
  });

  it("given a degraded link, M = 5 consecutive samples within the exit threshold recover it", () => {
    const degraded = when(warmedUp(), steady(3, sample(150))).state;
    const { observations, state } = when(degraded, steady(5, sample(228)));
    expect(observations.map((o) => o.transition)).toEqual([undefined, undefined, undefined, undefined, "recovered"]);
    expect(state.triggeredBy).toEqual([]);
  });

  it("a recovery streak broken by one bad sample starts again", () => {
    const degraded = when(warmedUp(), steady(3, sample(150))).state;
    const { transitions } = when(degraded, [...steady(4, sample(228)), sample(195), ...steady(4, sample(228))]);
    expect(transitions).toEqual([]);
  });

  it("the baseline does not learn from degraded samples", () => {
    const before = warmedUp();
    const { state } = when(before, steady(200, sample(120, 0.2, 30)));
    expect(state.status).toBe("degraded");
    expect(state.baseline).toEqual(before.baseline);
  });

  it("a slow degradation does not become the new normal: TQ falling 2 per sample is caught", () => {
    const falling = Array.from({ length: 100 }, (_, i) => sample(230 - 2 * (i + 1)));
    const { observations, state } = when(warmedUp(), falling);
    expect(state.status).toBe("degraded");
    const at = observations.findIndex((o) => o.transition === "degraded");
    // Caught before TQ fell to 60 % of its original 230.
    expect(230 - 2 * (at + 1)).toBeGreaterThan(0.6 * 230);
  });

  it("given a noisy but stable link (seeded noise, 2 000 samples), it never flaps", () => {
    const next = prng(42);
    const noisy = Array.from({ length: 2000 }, () =>
      sample(Math.round(230 + (next() - 0.5) * 40), 0.02 + (next() - 0.5) * 0.04, 10 + (next() - 0.5) * 8),
    );
    const { transitions, state } = given(noisy);
    expect(transitions).toEqual([]);
    expect(state.status).toBe("healthy");
  });

  it("given a stable link with isolated spikes (never two in a row, so neither K nor the severe rule), it never flaps", () => {
    const next = prng(7);
    const spiky = Array.from({ length: 2000 }, (_, i) => {
      const spike = i > 20 && next() < 0.1 && i % 2 !== 0; // never two spikes in a row
      return spike ? sample(90, 0.4, 60) : sample(Math.round(230 + (next() - 0.5) * 20));
    });
    expect(given(spiky).transitions).toEqual([]);
  });

  it("given a link oscillating across the enter threshold, it changes state at most once", () => {
    // 28 % and 22 % below baseline in turn: never K samples in a row beyond the enter threshold.
    const around = Array.from({ length: 200 }, (_, i) => sample(i % 2 === 0 ? 165 : 180));
    expect(when(warmedUp(), around).transitions).toEqual([]);
    // Once degraded, the same oscillation never gets within the exit threshold.
    expect(when(warmedUp(), [...steady(3, sample(160)), ...around]).transitions).toEqual(["degraded"]);
  });

  it("relearning forgets the baseline and warms up again", () => {
    const degraded = when(warmedUp(), steady(3, sample(150))).state;
    const relearnt = given(steady(10, sample(150))); // what a fresh link at TQ 150 looks like
    const { state } = when(relearnLinkBaseline(degraded), steady(10, sample(150)));
    expect(state).toEqual(relearnt.state);
    expect(state.status).toBe("healthy");
  });

  it("directed links have their own keys", () => {
    expect(linkKey("a", "b")).not.toBe(linkKey("b", "a"));
  });

  it("options are validated: exit must be below enter", () => {
    expect(() => initialLinkState({ tq: { enter: 0.1, exit: 0.2 } })).toThrow(RangeError);
    expect(() => initialLinkState({ enterAfter: 0 })).toThrow(RangeError);
  });
});

describe("link degradation: noise-aware thresholds", () => {
  // A lossy radio link: loss wanders between 15 % and 45 % from sample to sample.
  const noisy = (n: number, seed: number) => {
    const r = prng(seed);
    return Array.from({ length: n }, () => sample(150, 0.15 + 0.3 * r(), 10));
  };

  it("given a noisy link, when its loss keeps wandering as it always did, then it never degrades", () => {
    const { observations } = given(noisy(400, 7));
    expect(observations.filter((o) => o.transition === "degraded")).toEqual([]);
  });

  it("given the same link with fixed thresholds (noiseFactor 0), then the same noise degrades it", () => {
    const { observations } = given(noisy(400, 7), { noiseFactor: 0 });
    expect(observations.some((o) => o.transition === "degraded")).toBe(true);
  });

  it("given a steady link, when its loss rises twelve points, then it degrades at the configured threshold", () => {
    const { state } = given([...steady(20), ...steady(3, sample(230, 0.14))]);
    expect(state.status).toBe("degraded");
    expect(state.triggeredBy).toEqual(["loss"]);
  });
});

describe("link degradation table (what the monitor keeps per directed link)", () => {
  /** A radio link's samples: noise around its own normal, with spells of degradation, collapse and recovery. */
  const samplesOf = (rng: Rng, count: number): LinkObservationSample[] => {
    const normal = { tq: 80 + rng.int(176), loss: rng.float() * 0.1, latency: 1 + rng.float() * 30 };
    const noise = rng.float();
    const out: LinkObservationSample[] = [];
    let spell = 0;
    let kind = 0;
    for (let i = 0; i < count; i++) {
      if (spell === 0 && rng.float() < 0.03) [spell, kind] = [3 + rng.int(20), rng.int(4)];
      const bad = spell > 0 ? (spell--, kind) : -1;
      const tq = bad === 0 ? normal.tq * (0.2 + 0.5 * rng.float()) : bad === 3 ? 0 : normal.tq * (1 - noise * 0.2 * rng.float());
      const loss = bad === 1 || bad === 3 ? 0.3 + 0.7 * rng.float() : normal.loss + noise * 0.05 * rng.float();
      const latency = bad === 2 ? normal.latency * (2 + 10 * rng.float()) : normal.latency * (1 + noise * rng.float());
      out.push({ tq: Math.max(0, Math.min(255, Math.round(tq))), loss: Math.min(1, loss), latency_ms: latency });
    }
    return out;
  };

  const comparable = (state: LinkDegradationState) => ({ ...state, severeStreak: state.severeStreak ?? 0 });

  it("given the same samples, each slot holds the state and makes the transitions observeLinkSample makes", () => {
    const rng = new Rng(11);
    for (const options of [{}, { warmUpSamples: 30, enterAfter: 5, tq: { enter: 0.95, exit: 0.5 } }, { noiseFactor: 0, enterAfter: 1, exitAfter: 2 }, { alpha: 0.3, warmUpSamples: 1, severeFactor: 1.5 }] as LinkDegradationOptions[]) {
      const table = new LinkDegradationTable(options);
      // Slots on both sides of a page boundary (4096 links a page), in no particular order.
      const slots = Array.from({ length: 24 }, (_, i) => 4_084 + ((i * 7) % 24));
      const links = slots.map((slot) => {
        table.reset(slot);
        return { slot, state: initialLinkState(options), samples: samplesOf(rng, 300) };
      });
      let transitions = 0;
      for (let i = 0; i < 300; i++)
        for (const link of links) {
          const s = link.samples[i]!;
          const expected = observeLinkSample(link.state, s);
          link.state = expected.state;
          expect(table.observe(link.slot, s.tq, s.loss, s.latency_ms)).toBe(expected.transition);
          if (expected.transition) transitions++;
        }
      for (const link of links) {
        expect(comparable(table.state(link.slot))).toEqual(comparable(link.state));
        expect(table.statusOf(link.slot)).toBe(link.state.status);
        expect(table.baselineTq(link.slot)).toBe(link.state.baseline?.tq);
        expect(table.triggeredBy(link.slot)).toEqual(link.state.triggeredBy);
      }
      expect(transitions).toBeGreaterThan(10);
    }
  });

  it("a slot reset for another link starts over: warming up, nothing learnt", () => {
    const table = new LinkDegradationTable();
    table.reset(3);
    for (const s of steady(20)) table.observe(3, s.tq, s.loss, s.latency_ms);
    expect(table.statusOf(3)).toBe("healthy");
    table.reset(3);
    expect(comparable(table.state(3))).toEqual(comparable(initialLinkState()));
    expect(table.baselineTq(3)).toBeUndefined();
  });
});
