import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../domains/chaos/index.ts";
import { MeshTwin } from "../twin/index.ts";
import { TargetPicker } from "./picks.ts";

const dir = new URL("./scenarios/", import.meta.url);

describe("the scenario library", async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  it("covers every fault kind", async () => {
    const kinds = new Set<string>();
    for (const f of files) for (const fault of parseScenario(await readFile(new URL(f, dir), "utf8")).faults) kinds.add(String(fault.fault.kind));
    expect([...kinds].sort()).toEqual(["byzantine", "jamming", "link-degradation", "link-flap", "node-crash", "node-hang", "partition"]);
  });

  it.each(files)("%s parses and its picks resolve on its mesh", async (f) => {
    const scenario = parseScenario(await readFile(new URL(f, dir), "utf8"), f);
    const twin = new MeshTwin({ nodes: scenario.mesh.nodes ?? 50, seed: scenario.mesh.seed ?? 1 });
    const picker = new TargetPicker(twin);
    for (const fault of scenario.faults) {
      const resolved = picker.resolve(fault.fault);
      expect(JSON.stringify(resolved)).not.toContain("@");
    }
  });
});
