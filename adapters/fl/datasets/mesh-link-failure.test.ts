import { describe, expect, it } from "vitest";
import { generateTopology } from "../../twin/topology.ts";
import { labelCounts, LINK_FAILS, meshFeatureNames, meshLinkFailureDataset } from "./index.ts";

describe("meshLinkFailureDataset", () => {
  const options = { nodes: 8, seconds: 400, seed: 3 };
  const dataset = meshLinkFailureDataset(options);

  it("has examples of links that fail and links that stay up, for training and test", () => {
    const perNode = [...dataset.perNode.values()];
    const trainCounts = perNode.map(labelCounts).reduce((a, c) => a.map((v, i) => v + c[i]!));
    expect(trainCounts[0]).toBeGreaterThan(0);
    expect(trainCounts[LINK_FAILS]).toBeGreaterThan(0);
    expect(labelCounts(dataset.test).every((c) => c > 0)).toBe(true);
  });

  it("describes every feature: k TQ samples and 8 more, values finite and scaled to about 0-1", () => {
    expect(dataset.featureNames).toEqual(meshFeatureNames(10));
    expect(dataset.featureNames).toHaveLength(10 + 8);
    for (const data of [...dataset.perNode.values(), dataset.test]) {
      expect(data.inputSize).toBe(18);
      expect(data.classes).toBe(2);
      expect(data.inputs.length).toBe(data.labels.length * 18);
      expect(data.inputs.every((v) => Number.isFinite(v) && v >= -1 && v <= 1.5)).toBe(true);
    }
  });

  it("keys each node's own data by the id of a node of the mesh", () => {
    const ids = new Set(generateTopology({ nodes: 8, seed: 3 }).nodes.map((n) => n.id));
    expect(dataset.perNode.size).toBeGreaterThan(1);
    for (const id of dataset.perNode.keys()) expect(ids.has(id)).toBe(true);
  });

  it("is the same for a seed and differs for another", () => {
    const again = meshLinkFailureDataset(options);
    expect(again.test.labels).toEqual(dataset.test.labels);
    expect(again.test.inputs).toEqual(dataset.test.inputs);
    expect(meshLinkFailureDataset({ ...options, seed: 4 }).test.inputs).not.toEqual(dataset.test.inputs);
  });

  it("takes the window length from the options", () => {
    const short = meshLinkFailureDataset({ ...options, seconds: 120, window: 4 });
    expect(short.featureNames).toHaveLength(4 + 8);
    expect(short.test.inputSize).toBe(12);
  });
});
