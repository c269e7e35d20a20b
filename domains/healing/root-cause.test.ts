import { describe, expect, it } from "vitest";
import { type Link, localizeRootCauses, type TopologySnapshot } from "./root-cause.ts";

/** given a mesh (links as "A-B") heard through `observers` → a snapshot to localize. */
const given = (links: string[], observers: string[]) => {
  const pairs = links.map((l) => l.split("-") as unknown as Link);
  const nodes = [...new Set(pairs.flat())].sort();
  return {
    /** when these nodes are silent and these links dead / degraded → the findings. */
    when: (failure: { silent?: string[]; dead?: string[]; degraded?: string[] }) => {
      const snapshot: TopologySnapshot = {
        nodes,
        links: pairs,
        observers,
        silent: failure.silent ?? [],
        deadLinks: (failure.dead ?? []).map((l) => l.split("-") as unknown as Link),
        degradedLinks: (failure.degraded ?? []).map((l) => l.split("-") as unknown as Link),
      };
      return localizeRootCauses(snapshot);
    },
  };
};

const chain = given(["A-B", "B-C", "C-D"], ["A"]);
const ring = given(["A-B", "B-C", "C-D", "D-A"], ["A"]);

describe("root-cause localization", () => {
  it("given a healthy mesh, there is nothing to blame", () => {
    expect(ring.when({})).toEqual([]);
  });

  it("given a chain A-B-C-D heard at A, when C dies and D behind it goes silent, C is blamed once as an upstream failure", () => {
    const findings = chain.when({ silent: ["C", "D"], dead: ["B-C"] });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: "upstream-failure", blamed: { kind: "node", node: "C", link: ["B", "C"] }, affected: ["C", "D"] });
    expect(findings[0]!.reason).toContain("C or its link to B");
  });

  it("given a ring, when one node dies and both neighbours report it gone, it is a dead node", () => {
    expect(ring.when({ silent: ["C"], dead: ["B-C", "D-C"] })).toEqual([
      { kind: "node-dead", blamed: { kind: "node", node: "C" }, affected: ["C"], reason: "C is silent and its neighbours B, D report it gone" },
    ]);
  });

  it("given a ring, when a node is silent but a neighbour still sees it, it is alive and silent, not dead", () => {
    expect(ring.when({ silent: ["C"], dead: ["B-C"] })).toMatchObject([{ kind: "node-silent", blamed: { node: "C" }, affected: ["C"] }]);
  });

  it("given observers on both sides, when the bridge B-C dies, C and D are a partition blamed on that link", () => {
    const findings = given(["A-B", "B-C", "C-D"], ["A", "D"]).when({ dead: ["B-C"] });
    expect(findings).toEqual([
      {
        kind: "partition",
        blamed: { kind: "cut", nodes: [], links: [["B", "C"]] },
        affected: ["C", "D"],
        reason: "2 heard nodes cut off from the main part by dead 1 link B|C",
      },
    ]);
  });

  it("given only A observes, when the bridge B-C dies, everything behind it is silent: one upstream finding, not two", () => {
    expect(chain.when({ silent: ["C", "D"], dead: ["B-C"] })).toMatchObject([{ kind: "upstream-failure", blamed: { node: "C", link: ["B", "C"] } }]);
  });

  it("given a ring, when a link dies with both ends heard, traffic goes round: a dead link, no partition", () => {
    expect(ring.when({ dead: ["B-C"] })).toMatchObject([{ kind: "link-dead", blamed: { kind: "link", link: ["B", "C"] }, affected: [] }]);
  });

  it("given a degraded link with both ends heard, it is a degraded link", () => {
    expect(ring.when({ degraded: ["D-A"] })).toMatchObject([{ kind: "link-degraded", blamed: { kind: "link", link: ["A", "D"] } }]);
  });

  it("a dead or degraded link towards a silent node is explained by that node, not reported again", () => {
    expect(ring.when({ silent: ["C"], dead: ["B-C", "C-D"], degraded: ["B-C"] }).map((f) => f.kind)).toEqual(["node-dead"]);
  });

  it("given a hub C heard with two silent leaves, C's links are blamed once rather than two dead leaves", () => {
    const findings = given(["A-C", "C-D", "C-E"], ["A"]).when({ silent: ["D", "E"], dead: ["C-D", "C-E"] });
    expect(findings).toMatchObject([{ kind: "upstream-failure", blamed: { kind: "node", node: "C" }, affected: ["D", "E"] }]);
  });

  it("given a mesh split by a dead node with observers on both sides, the node is dead and the far side is a partition", () => {
    const findings = given(["A-B", "B-C"], ["A", "C"]).when({ silent: ["B"], dead: ["A-B", "C-B"] });
    expect(findings).toMatchObject([
      { kind: "partition", blamed: { kind: "cut", nodes: ["B"], links: [] }, affected: ["C"] },
      { kind: "node-dead", blamed: { node: "B" }, affected: ["B"] },
    ]);
  });

  it("given a ring heard only at A, when all three other nodes go silent, A's links are blamed once", () => {
    expect(ring.when({ silent: ["B", "C", "D"], dead: ["A-B", "A-D"] })).toMatchObject([
      { kind: "upstream-failure", blamed: { kind: "node", node: "A" }, affected: ["B", "C", "D"] },
    ]);
  });

  it("given a ring heard at A and E, when B, C, D go silent and both links into them die, the segment is cut off: one partition, not three failures", () => {
    const findings = given(["A-B", "B-C", "C-D", "D-E", "E-A"], ["A"]).when({ silent: ["B", "C", "D"], dead: ["A-B", "E-D"] });
    expect(findings).toMatchObject([{ kind: "partition", blamed: { kind: "cut", nodes: [], links: [["A", "B"], ["D", "E"]] }, affected: ["B", "C", "D"] }]);
  });

  it("given the same ring, when one link into the silent segment still works, B and D are not cut off together: the enclosed C is blamed on them", () => {
    const findings = given(["A-B", "B-C", "C-D", "D-E", "E-A"], ["A"]).when({ silent: ["B", "C", "D"], dead: ["A-B"] });
    expect(findings.map((f) => f.kind)).not.toContain("partition");
  });

  it("findings come in the same order whatever order the input lists things in", () => {
    const mesh = ["A-B", "B-C", "C-D", "D-A", "D-E", "E-F"];
    const failure = { silent: ["E", "F", "B"], dead: ["A-B", "C-B", "D-E"], degraded: ["C-D"] };
    const forward = given(mesh, ["A"]).when(failure);
    const reversed = given([...mesh].reverse(), ["A"]).when({ silent: [...failure.silent].reverse(), dead: [...failure.dead].reverse(), degraded: failure.degraded });
    expect(reversed).toEqual(forward);
    expect(forward.map((f) => f.kind)).toEqual(["upstream-failure", "node-dead", "link-degraded"]);
  });

  it("a long silent chain is handled without recursion limits", () => {
    const links = Array.from({ length: 20_000 }, (_, i) => `n${i}-n${i + 1}`);
    const silent = Array.from({ length: 19_990 }, (_, i) => `n${i + 11}`);
    const findings = given(links, ["n0"]).when({ silent });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: "upstream-failure", blamed: { node: "n11", link: ["n10", "n11"] } });
    expect(findings[0]!.affected).toHaveLength(19_990);
  });
});
