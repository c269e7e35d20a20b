import { describe, expect, it } from "vitest";
import { LinkModel, linkConditions, lossFromTq, tqFromLoss, type LinkMetrics } from "./link-model.ts";
import { Rng } from "../../domains/kernel/rng.ts";
import type { LinkKind, MeshLinkSpec } from "./topology.ts";

const link = (kind: LinkKind, extra: Partial<MeshLinkSpec> = {}): MeshLinkSpec => ({
  a: 0,
  b: 1,
  kind,
  aMac: "02:00:00:00:00:01",
  bMac: "02:00:00:00:00:02",
  ...extra,
});

const samples = (spec: MeshLinkSpec, n: number, seed = 1, radioRangeM = 150): LinkMetrics[] => {
  const model = new LinkModel(linkConditions(spec, "a", { rng: new Rng(seed, 1), radioRangeM }), new Rng(seed, 2));
  return Array.from({ length: n }, () => model.sample());
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe("TQ and loss", () => {
  it("maps loss onto TQ 0-255 and back", () => {
    expect(tqFromLoss(0)).toBe(255);
    expect(tqFromLoss(1)).toBe(0);
    expect(tqFromLoss(0.5)).toBe(64);
    for (const tq of [1, 50, 128, 200, 255]) expect(tqFromLoss(lossFromTq(tq))).toBe(tq);
  });
});

describe("LinkModel", () => {
  it("keeps every sample within batctl's bounds", () => {
    const specs = [
      link("wifi", { distanceM: 5 }),
      link("wifi", { distanceM: 149 }),
      link("wifi", { distanceM: 400 }),
      link("wifi", { bridge: true, distanceM: 900 }),
      link("wifi", { tqAB: 3 }),
      link("wifi", { tqAB: 255 }),
      link("vpn"),
      link("other"),
    ];
    const outOfBounds = specs.flatMap((spec) =>
      samples(spec, 2_000).filter(
        (s) =>
          !(Number.isInteger(s.tq) && s.tq >= 0 && s.tq <= 255) ||
          !(s.loss >= 0 && s.loss <= 1) ||
          !(s.latency_ms >= 0 && Number.isFinite(s.latency_ms)) ||
          !(s.throughput >= 0 && Number.isFinite(s.throughput)) ||
          !(Number.isInteger(s.last_seen_msecs) && s.last_seen_msecs >= 0),
      ),
    );
    expect(outOfBounds).toEqual([]);
  });

  it("is reproducible for a seed and varies from sample to sample", () => {
    const spec = link("wifi", { distanceM: 100 });
    const run = samples(spec, 50, 7);
    expect(samples(spec, 50, 7)).toEqual(run);
    expect(samples(spec, 50, 8)).not.toEqual(run);
    expect(new Set(run.map((s) => s.tq)).size).toBeGreaterThan(5);
  });

  it("gives a short radio link better TQ, less loss and more throughput than a long one", () => {
    const near = samples(link("wifi", { distanceM: 20 }), 500);
    const far = samples(link("wifi", { distanceM: 140 }), 500);
    expect(median(near.map((s) => s.tq))).toBeGreaterThan(median(far.map((s) => s.tq)));
    expect(median(near.map((s) => s.loss))).toBeLessThan(median(far.map((s) => s.loss)));
    expect(median(near.map((s) => s.throughput))).toBeGreaterThan(median(far.map((s) => s.throughput)));
  });

  it("centres on the TQ a snapshot recorded", () => {
    for (const tq of [60, 150, 234]) {
      const m = median(samples(link("wifi", { tqAB: tq }), 1_000).map((s) => s.tq));
      expect(Math.abs(m - tq)).toBeLessThanOrEqual(12);
    }
  });

  it("gives a VPN tunnel internet latency and a cable almost none", () => {
    expect(median(samples(link("vpn"), 200).map((s) => s.latency_ms))).toBeGreaterThan(8);
    expect(median(samples(link("other"), 200).map((s) => s.latency_ms))).toBeLessThan(1);
  });

  it("given samples every 250 ms, then last-seen tells one story: it grows by 250 ms until an OGM gets through, then falls under one OGM interval", () => {
    const model = new LinkModel(linkConditions(link("wifi", { distanceM: 140 }), "a", { rng: new Rng(3, 1), radioRangeM: 150 }), new Rng(3, 2));
    const seen = Array.from({ length: 400 }, () => model.sample(250).last_seen_msecs);
    for (let i = 1; i < seen.length; i++) {
      const grew = seen[i] === seen[i - 1]! + 250;
      expect(grew || seen[i]! < 1_000).toBe(true);
    }
    // A lossy link goes unheard for more than one OGM interval now and then.
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(1_000);
  });

  it("given the link is cut, then last-seen grows with the time since the cut instead of jumping", () => {
    const model = new LinkModel(linkConditions(link("wifi", { distanceM: 30 }), "a", { rng: new Rng(1) }), new Rng(2));
    model.sample(250);
    model.impair(1);
    const seen = Array.from({ length: 40 }, () => model.sample(250).last_seen_msecs);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBe(seen[i - 1]! + 250);
    expect(seen[0]).toBeLessThan(1_250);
  });

  it("drops to TQ 0 when the link is cut and recovers when restored", () => {
    const model = new LinkModel(linkConditions(link("wifi", { distanceM: 30 }), "a", { rng: new Rng(1) }), new Rng(2));
    model.impair(1);
    const cut = Array.from({ length: 20 }, () => model.sample());
    expect(cut.every((s) => s.tq === 0 && s.loss === 1)).toBe(true);
    model.impair(0);
    const back = Array.from({ length: 20 }, () => model.sample());
    expect(median(back.map((s) => s.tq))).toBeGreaterThan(200);
  });
});
