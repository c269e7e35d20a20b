/**
 * Root-cause localization on the mesh topology: turns "these nodes are silent, these links
 * are dead or degraded" into as few causes as explain it.
 *
 * The control plane hears a node only through the mesh, via its observers (gateways whose
 * reports reach us). So a node that is silent may be dead, or alive behind something that
 * failed; a group of silent nodes is blamed on the one element they all depend on. The
 * structure comes from the physical adjacency (every link the knowledge base has seen, in
 * either direction), not from which links currently work.
 *
 * Classes, and how each is told apart:
 * - `upstream-failure`: several nodes are silent and all of them hang off one element, so
 *   that element is blamed once, in this order of preference:
 *   1. a heard node that everything silent around it hangs off (every silent component
 *      touching it touches no other heard node, and two or more of its silent nodes sit
 *      next to it): one failure of its own links explains them, rather than several deaths;
 *   2. a silent cut vertex, found with Tarjan's articulation points on the silent nodes
 *      with everything heard contracted into one root: it, or its only link towards the
 *      heard part (named in `blamed.link`), failed — the two look alike from outside;
 *   3. silent nodes not next to any heard node and behind several failures are listed
 *      once per silent component, blaming the nodes around them (a `cut`).
 * - `node-dead`: one silent node, not behind another failure, whose heard neighbours all
 *   report the link to it dead.
 * - `node-silent`: the same, but some heard neighbour still sees it: the node forwards yet
 *   its own reports stopped (hung agent), so it is not dead.
 * - `partition`: the heard nodes fall apart into groups with no working link between them
 *   (each group heard through its own observer). The largest group (most observers, then
 *   most nodes) is the main part; every other group is one finding, blaming the cut: the
 *   dead links and silent nodes between it and the rest.
 * - `link-dead` / `link-degraded`: both ends heard and the link is not part of a cut.
 *   Dead or degraded links with a silent end are explained by that end's finding.
 *
 * Findings come in a fixed order: by class (as listed above, partition first), then by
 * the blamed element's name.
 */

/** An undirected link between two node ids. */
export type Link = readonly [string, string];

export interface TopologySnapshot {
  /** Every node the knowledge base knows. */
  readonly nodes: readonly string[];
  /** Physical adjacency: every link ever seen, either direction, duplicates allowed. */
  readonly links: readonly Link[];
  /** Nodes the failure detector currently suspects (nothing heard from them). */
  readonly silent: readonly string[];
  /** Links reported dead (the neighbour vanished from a link table); default none. */
  readonly deadLinks?: readonly Link[];
  /** Links reported degraded against their baseline; default none. */
  readonly degradedLinks?: readonly Link[];
  /** Nodes whose reports reach the control plane directly (gateways). */
  readonly observers: readonly string[];
}

export type RootCauseKind = "partition" | "upstream-failure" | "node-dead" | "node-silent" | "link-dead" | "link-degraded";

export type Blamed =
  | { readonly kind: "node"; readonly node: string; /** the single link it hangs on, when there is one */ readonly link?: Link }
  | { readonly kind: "link"; readonly link: Link }
  | { readonly kind: "cut"; readonly nodes: readonly string[]; readonly links: readonly Link[] };

export interface RootCause {
  readonly kind: RootCauseKind;
  readonly blamed: Blamed;
  /** Nodes that lost service because of it, sorted. */
  readonly affected: readonly string[];
  readonly reason: string;
}

const kindOrder: readonly RootCauseKind[] = ["partition", "upstream-failure", "node-dead", "node-silent", "link-dead", "link-degraded"];

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compare);
const normal = (a: string, b: string): Link => (a < b ? [a, b] : [b, a]);
// Node ids are NATS tokens ([A-Za-z0-9_-]), so "|" cannot occur in them.
const key = ([a, b]: Link): string => (a < b ? `${a}|${b}` : `${b}|${a}`);
const byLink = (x: Link, y: Link): number => compare(x[0], y[0]) || compare(x[1], y[1]);
const blamedName = (b: Blamed): string =>
  b.kind === "node" ? b.node : b.kind === "link" ? key(b.link) : [...b.nodes, ...b.links.map(key)].join(",");
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Localizes the current failures to root causes; pure and deterministic. */
export const localizeRootCauses = (snapshot: TopologySnapshot): RootCause[] => {
  const adjacency = new Map<string, Set<string>>();
  const addNode = (n: string) => {
    if (!adjacency.has(n)) adjacency.set(n, new Set());
  };
  for (const n of [...snapshot.nodes, ...snapshot.silent, ...snapshot.observers]) addNode(n);
  for (const [a, b] of snapshot.links) {
    if (a === b) continue;
    addNode(a);
    addNode(b);
    adjacency.get(a)!.add(b);
    adjacency.get(b)!.add(a);
  }
  const neighbours = (n: string): string[] => sorted(adjacency.get(n) ?? []);
  const silent = new Set(snapshot.silent);
  const heard = (n: string) => !silent.has(n);
  const dead = new Set((snapshot.deadLinks ?? []).map(key));
  const findings: RootCause[] = [];

  findings.push(...silentCauses(sorted(silent), neighbours, heard, dead));

  // Partitions: components of heard nodes over links that still work.
  const heardNodes = sorted([...adjacency.keys()].filter(heard));
  const component = new Map<string, number>();
  const components: string[][] = [];
  for (const start of heardNodes) {
    if (component.has(start)) continue;
    const members: string[] = [];
    component.set(start, components.length);
    for (const queue = [start]; queue.length > 0; ) {
      const n = queue.pop()!;
      members.push(n);
      for (const m of neighbours(n))
        if (heard(m) && !component.has(m) && !dead.has(key([n, m]))) {
          component.set(m, components.length);
          queue.push(m);
        }
    }
    components.push(members.sort(compare));
  }
  const observers = new Set(snapshot.observers);
  const weight = (c: readonly string[]) => c.filter((n) => observers.has(n)).length;
  const main = components.reduce<number>((best, c, i) => {
    const b = components[best]!;
    return weight(c) > weight(b) || (weight(c) === weight(b) && c.length > b.length) ? i : best;
  }, 0);
  const cutLinks = new Set<string>();
  components.forEach((members, i) => {
    if (i === main) return;
    const inside = new Set(members);
    const links: Link[] = [];
    const between = new Set<string>();
    for (const n of members)
      for (const m of neighbours(n)) {
        if (inside.has(m)) continue;
        if (heard(m)) {
          links.push(normal(n, m));
          cutLinks.add(key([n, m]));
        } else if (neighbours(m).some((x) => heard(x) && !inside.has(x))) between.add(m); // a silent node that bridged to the rest
      }
    links.sort(byLink);
    const nodes = sorted(between);
    // Heard but never linked to anything known (its first link report has not come): no cut to blame.
    if (links.length === 0 && nodes.length === 0) return;
    const parts = [links.length > 0 ? `dead ${plural(links.length, "link")} ${links.map(key).join(", ")}` : "", nodes.length > 0 ? `silent ${nodes.join(", ")}` : ""];
    findings.push({
      kind: "partition",
      blamed: { kind: "cut", nodes, links },
      affected: members,
      reason: `${plural(members.length, "heard node")} cut off from the main part by ${parts.filter(Boolean).join(" and ") || "no known link"}`,
    });
  });

  for (const [a, b] of uniqueLinks(snapshot.deadLinks ?? [])) {
    if (!heard(a) || !heard(b) || cutLinks.has(key([a, b]))) continue;
    findings.push({ kind: "link-dead", blamed: { kind: "link", link: [a, b] }, affected: [], reason: `both ${a} and ${b} are heard but the link between them is dead; traffic takes other paths` });
  }
  for (const [a, b] of uniqueLinks(snapshot.degradedLinks ?? [])) {
    if (!heard(a) || !heard(b) || dead.has(key([a, b]))) continue;
    findings.push({ kind: "link-degraded", blamed: { kind: "link", link: [a, b] }, affected: [], reason: `both ${a} and ${b} are heard; the link between them is below its baseline` });
  }

  return findings.sort((x, y) => kindOrder.indexOf(x.kind) - kindOrder.indexOf(y.kind) || compare(blamedName(x.blamed), blamedName(y.blamed)));
};

const uniqueLinks = (links: readonly Link[]): Link[] => {
  const seen = new Map<string, Link>();
  for (const [a, b] of links) if (a !== b) seen.set(key([a, b]), normal(a, b));
  return [...seen.values()].sort(byLink);
};

const ROOT = "\u0000heard";

/**
 * Causes for the silent nodes. Every heard node is contracted into one root; on that graph
 * a silent node's separators are the articulation points on its DFS-tree path to the root
 * (Tarjan: ancestor u separates child c's subtree when low[c] >= disc[u]). The topmost
 * separator, or the node itself when none, is what its silence is blamed on.
 */
const silentCauses = (
  silentNodes: readonly string[],
  neighbours: (n: string) => string[],
  heard: (n: string) => boolean,
  dead: ReadonlySet<string>,
): RootCause[] => {
  if (silentNodes.length === 0) return [];
  const graph = new Map<string, string[]>();
  const rootEdges = new Set<string>();
  for (const n of silentNodes) {
    const adj = new Set<string>();
    for (const m of neighbours(n)) {
      if (heard(m)) {
        adj.add(ROOT);
        rootEdges.add(n);
      } else adj.add(m);
    }
    graph.set(n, sorted(adj));
  }
  graph.set(ROOT, sorted(rootEdges));

  // Iterative Tarjan DFS from the root (recursion would overflow on long chains).
  const disc = new Map<string, number>();
  const low = new Map<string, number>();
  const parent = new Map<string, string>();
  const order: string[] = [];
  disc.set(ROOT, 0);
  low.set(ROOT, 0);
  const stack: { node: string; next: number }[] = [{ node: ROOT, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const adj = graph.get(frame.node)!;
    if (frame.next < adj.length) {
      const m = adj[frame.next++]!;
      if (!disc.has(m)) {
        disc.set(m, disc.size);
        low.set(m, disc.get(m)!);
        parent.set(m, frame.node);
        order.push(m);
        stack.push({ node: m, next: 0 });
      } else if (m !== parent.get(frame.node)) low.set(frame.node, Math.min(low.get(frame.node)!, disc.get(m)!));
    } else {
      stack.pop();
      const p = parent.get(frame.node);
      if (p !== undefined) low.set(p, Math.min(low.get(p)!, low.get(frame.node)!));
    }
  }

  // top(c): the topmost silent node every path from c to the heard part goes through.
  const top = new Map<string, string | undefined>();
  for (const c of order) {
    const u = parent.get(c)!;
    top.set(c, u === ROOT ? undefined : (top.get(u) ?? (low.get(c)! >= disc.get(u)! ? u : undefined)));
  }

  // Silent components (over silent-silent links) and the heard nodes each one touches.
  const heardNeighbours = (n: string) => neighbours(n).filter(heard);
  const componentOf = new Map<string, string[]>();
  for (const start of silentNodes) {
    if (componentOf.has(start)) continue;
    const members: string[] = [];
    componentOf.set(start, members);
    for (const queue = [start]; queue.length > 0; ) {
      const n = queue.pop()!;
      members.push(n);
      for (const m of neighbours(n))
        if (!heard(m) && !componentOf.has(m)) {
          componentOf.set(m, members);
          queue.push(m);
        }
    }
    members.sort(compare);
  }

  // Silent components hanging only off one heard node, with two or more nodes next to it:
  // that heard node's own links explain them all, so it is blamed once.
  const findings: RootCause[] = [];
  const explained = new Set<string>();
  const byHub = new Map<string, string[][]>();
  for (const members of new Set(componentOf.values())) {
    const hubs = new Set(members.flatMap(heardNeighbours));
    if (hubs.size !== 1) continue;
    const [hub] = hubs;
    byHub.set(hub!, [...(byHub.get(hub!) ?? []), members]);
  }
  for (const hub of sorted(byHub.keys())) {
    const members = byHub.get(hub)!.flat();
    if (members.filter((n) => rootEdges.has(n)).length < 2) continue;
    for (const n of members) explained.add(n);
    findings.push({
      kind: "upstream-failure",
      blamed: { kind: "node", node: hub },
      affected: sorted(members),
      reason: `${hub} is heard but all ${members.length} silent nodes behind it hang only off it: ${hub}'s links towards them failed`,
    });
  }

  // Several adjacent silent nodes whose every link to the heard part is reported dead: the
  // group was cut off as a whole (or all of it failed at once, which from outside looks the
  // same and is rarer). Blamed once, on the cut links, not as one dead node each.
  for (const members of new Set(componentOf.values())) {
    if (members.length < 2 || members.some((n) => explained.has(n))) continue;
    const boundary: Link[] = [];
    for (const n of members) for (const m of heardNeighbours(n)) boundary.push(normal(n, m));
    if (boundary.length < 2 || !boundary.every((l) => dead.has(key(l)))) continue;
    for (const n of members) explained.add(n);
    findings.push({
      kind: "partition",
      blamed: { kind: "cut", nodes: [], links: boundary.sort(byLink) },
      affected: sorted(members),
      reason: `${plural(members.length, "silent node")} next to each other lost all ${plural(boundary.length, "link")} to the rest of the mesh at once: they are cut off`,
    });
  }

  const groups = new Map<string, string[]>(); // blamed silent node -> silent nodes it explains
  const enclosed: string[] = []; // not next to a heard node and behind several failures
  const unreachable: string[] = []; // no heard node anywhere near
  for (const n of silentNodes) {
    if (explained.has(n)) continue;
    if (!disc.has(n)) {
      unreachable.push(n);
      continue;
    }
    const blamed = top.get(n) ?? n;
    if (blamed === n && !rootEdges.has(n)) enclosed.push(n);
    else {
      const group = groups.get(blamed);
      if (group) group.push(n);
      else groups.set(blamed, [n]);
    }
  }

  for (const [entry, members] of groups) {
    const hs = heardNeighbours(entry);
    const onlyLink: Link | undefined = hs.length === 1 ? normal(hs[0]!, entry) : undefined;
    const blamed: Blamed = onlyLink ? { kind: "node", node: entry, link: onlyLink } : { kind: "node", node: entry };
    if (members.length > 1) {
      findings.push({
        kind: "upstream-failure",
        blamed,
        affected: sorted(members),
        reason: `${entry} and the ${plural(members.length - 1, "node")} behind it are silent together: ${entry}${onlyLink ? ` or its link to ${hs[0]}` : ""} failed`,
      });
      continue;
    }
    const stillSeen = hs.filter((h) => !dead.has(key([h, entry])));
    findings.push(
      stillSeen.length === 0
        ? { kind: "node-dead", blamed, affected: [entry], reason: `${entry} is silent and its neighbours ${hs.join(", ")} report it gone` }
        : { kind: "node-silent", blamed, affected: [entry], reason: `${entry} is silent but ${stillSeen.join(", ")} still see it: alive in the mesh, its reports stopped` },
    );
  }

  // One finding per silent component for what no single element explains.
  for (const [leftOver, why] of [
    [enclosed, "silent behind several failures, no single one explains them"],
    [unreachable, "no heard node borders them"],
  ] as const) {
    const byComponent = new Map<readonly string[], string[]>();
    for (const n of leftOver) {
      const c = componentOf.get(n)!;
      byComponent.set(c, [...(byComponent.get(c) ?? []), n]);
    }
    for (const nodes of byComponent.values()) {
      const inside = new Set(nodes);
      const around = sorted(new Set(nodes.flatMap((n) => neighbours(n).filter((m) => !inside.has(m)))));
      findings.push({
        kind: "upstream-failure",
        blamed: { kind: "cut", nodes: around, links: [] },
        affected: sorted(nodes),
        reason: `${plural(nodes.length, "node")} ${why}`,
      });
    }
  }
  return findings;
};
