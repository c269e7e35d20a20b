import { describe, expect, it } from "vitest";
import { clientsPerRound, defaultAssumedFaults, resolveSettings, SimSettingsError } from "./settings.ts";

describe("simulation settings", () => {
  it("gives FedProx its default proximal term when none is asked", () => {
    // Given fedprox without --mu, when the settings are resolved, then mu is the documented default.
    expect(resolveSettings({ strategy: "fedprox" }).strategy.mu).toBe(0.01);
    expect(resolveSettings({ strategy: { name: "fedprox", mu: 0.5 } }).strategy.mu).toBe(0.5);
  });

  it("has robust rules assume the attackers expected per round, round(K·C), capped to what the rule tolerates", () => {
    // Given 20 attackers among 100 clients and C = 0.2 (20 updates a round, 4 attackers expected)
    const byzantine = { count: 20, attack: "gaussian" as const };
    expect(resolveSettings({ strategy: "krum", fraction: 0.2, byzantine }).strategy.f).toBe(4);
    expect(resolveSettings({ strategy: "bulyan", fraction: 0.2, byzantine }).strategy.f).toBe(4);
    // Trimmed mean trims the expected share at each end.
    expect(resolveSettings({ strategy: "trimmedmean", fraction: 0.2, byzantine }).strategy.beta).toBeCloseTo(4 / 20);
    // Bulyan with 10 updates a round tolerates only ⌊(10 − 3)/4⌋ = 1, even with 30 attackers expected 3.
    expect(defaultAssumedFaults("bulyan", 10, 30, 0.1)).toBe(1);
    // Without attackers the aggregator's own default applies.
    expect(resolveSettings({ strategy: "krum" }).strategy.f).toBeUndefined();
    // An explicit f wins.
    expect(resolveSettings({ strategy: { name: "krum", f: 2 }, fraction: 0.2, byzantine }).strategy.f).toBe(2);
  });

  it("refuses Bulyan when the round's updates cannot satisfy n >= 4f + 3, saying how to fix it", () => {
    // Given 10 updates a round (C = 0.1 of 100) and f = 4
    expect(() => resolveSettings({ strategy: { name: "bulyan", f: 4 }, fraction: 0.1 })).toThrow(/n >= 4f \+ 3.*10 clients per round.*f = 4/);
    expect(() => resolveSettings({ strategy: { name: "bulyan", f: 4 }, fraction: 0.2 })).not.toThrow();
  });

  it("refuses secure aggregation with any strategy but fedavg, and DP with a strategy that does not average", () => {
    expect(() => resolveSettings({ strategy: "median", secagg: true })).toThrow(SimSettingsError);
    expect(() => resolveSettings({ strategy: "median", secagg: true })).toThrow(/--secagg combines only with fedavg/);
    expect(() => resolveSettings({ strategy: "krum", dp: { noiseMultiplier: 1, clipNorm: 1 } })).toThrow(/--dp needs an averaging strategy/);
    expect(resolveSettings({ strategy: "fedadam", dp: { noiseMultiplier: 1, clipNorm: 1 } }).dp).toMatchObject({ noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 });
    // With DP, secure aggregation clamps coordinates at the clip norm.
    expect(resolveSettings({ secagg: true, dp: { noiseMultiplier: 1, clipNorm: 0.5 } }).secagg?.clamp).toBe(0.5);
  });

  it("refuses settings that cannot run, with the reason", () => {
    expect(() => resolveSettings({ fraction: 0 })).toThrow(/fraction C must be in \(0, 1\]/);
    expect(() => resolveSettings({ clients: 10, byzantine: { count: 11, attack: "signflip" } })).toThrow(/11 Byzantine clients out of 10/);
    expect(() => resolveSettings({ clients: 10, fraction: 0.1, secagg: true })).toThrow(/at least 2 clients per round/);
    expect(() => resolveSettings({ strategy: { name: "trimmedmean", beta: 0.7 } })).toThrow(/beta/);
  });

  it("selects round(C·N) clients a round, at least one", () => {
    expect(clientsPerRound(100, 0.1)).toBe(10);
    expect(clientsPerRound(5, 0.01)).toBe(1);
    expect(clientsPerRound(7, 1)).toBe(7);
  });
});
