import type { Fault } from "../../domains/chaos/index.ts";
import { ScenarioError, type ScenarioFault } from "../../domains/chaos/index.ts";
import { Rng } from "../twin/index.ts";
import type { MeshTwin } from "../twin/index.ts";

/** The monitor's default `usefulTq` (domains/healing/monitor.ts). */
const USEFUL_TQ = 64;
/** Routes to the observers a `@detour-link` carries at least, when the mesh has such links. */
const DETOUR_MIN_ROUTES = 3;

export interface TargetPickerOptions {
  /**
   * Picks may take nodes earlier picks took (a long schedule on a small mesh); the caller keeps
   * concurrent faults apart with `avoid`. Default false: a pick never repeats a node.
   */
  readonly reuse?: boolean;
  /** Mixed into the picker's random stream, so several schedules on one twin differ. Default 0. */
  readonly stream?: number;
}

/**
 * Resolves the `@` picks of a scenario against a twin's topology (see domains/chaos/scenario.ts),
 * deterministically for the twin's seed: `@inner`, `@leaf`, `@observer`, `@detour-link`,
 * `@cluster`, `@near:<pick>`. A pick never repeats a node another pick of the same run took
 * (unless `reuse`), nor takes a node in `avoid`.
 */
export class TargetPicker {
  private readonly adjacency = new Map<string, Set<string>>();
  private readonly observers: Set<string>;
  private readonly cut: Set<string>;
  private readonly taken = new Set<string>();
  private readonly rng: Rng;
  private readonly ids: string[];
  private readonly reuse: boolean;
  /** Nodes no pick may take now (e.g. those of faults still active, and their neighbours). */
  avoid: ReadonlySet<string> = new Set();

  constructor(
    private readonly twin: MeshTwin,
    options: TargetPickerOptions = {},
  ) {
    this.reuse = options.reuse ?? false;
    for (const n of twin.nodes) if (n.online) this.adjacency.set(n.id, new Set());
    for (const n of twin.nodes) {
      if (!n.online) continue;
      for (const m of n.neighbours) {
        if (!this.adjacency.has(m) || m === n.id) continue;
        this.adjacency.get(n.id)!.add(m);
        this.adjacency.get(m)!.add(n.id);
      }
    }
    this.observers = new Set(twin.observers);
    this.cut = articulationPoints(this.adjacency);
    this.ids = [...this.adjacency.keys()].sort();
    this.rng = new Rng(twin.seed, 0x70696b73, options.stream ?? 0);
  }

  private degree(n: string): number {
    return this.adjacency.get(n)?.size ?? 0;
  }

  /** The node's neighbours in the topology (online ones). */
  neighbours(n: string): ReadonlySet<string> {
    return this.adjacency.get(n) ?? new Set();
  }

  /** Whether a node is one the control plane's uplinks go through. */
  isObserver(n: string): boolean {
    return this.observers.has(n);
  }

  private free(n: string): boolean {
    return !this.taken.has(n) && !this.avoid.has(n);
  }

  private take(n: string): void {
    if (!this.reuse) this.taken.add(n);
  }

  private choose(candidates: readonly string[], what: string): string {
    const free = candidates.filter((n) => this.free(n));
    if (free.length === 0) throw new ScenarioError(`no ${what} left to pick in this mesh`);
    const pick = free[this.rng.int(free.length)]!;
    this.take(pick);
    return pick;
  }

  /** A node that is neither an observer nor a cut vertex, with two or more neighbours. */
  inner(): string {
    return this.choose(this.ids.filter((n) => !this.observers.has(n) && !this.cut.has(n) && this.degree(n) >= 2), "@inner node");
  }

  leaf(): string {
    return this.choose(this.ids.filter((n) => !this.observers.has(n) && this.degree(n) === 1), "@leaf node");
  }

  observer(): string {
    return this.choose(this.ids.filter((n) => this.observers.has(n)), "@observer");
  }

  /**
   * A link between two non-observers that is no bridge, that routes to the observers use (at
   * least `DETOUR_MIN_ROUTES` of them where the mesh has such links), and that is worth having
   * both ways now (TQ at least `USEFUL_TQ` in each direction: the monitor never blames a link
   * one way of which is marginal, as radio life).
   */
  detourLink(): [string, string] {
    // How many routes to the observers cross each direction: a link that carries several is
    // one whose degradation matters, and that batman-adv does not drop from its routes at the
    // first fade of its TQ.
    const used = new Map<string, number>();
    for (const o of this.observers) {
      for (const route of this.twin.routes(o).values()) for (const l of route.links) used.set(`${l.source}|${l.target}`, (used.get(`${l.source}|${l.target}`) ?? 0) + 1);
    }
    const usage = (a: string, b: string) => (used.get(`${a}|${b}`) ?? 0) + (used.get(`${b}|${a}`) ?? 0);
    const tq = new Map<string, number>();
    for (const l of this.twin.routeTopology().links) tq.set(`${l.source}|${l.target}`, Math.max(tq.get(`${l.source}|${l.target}`) ?? 0, l.tq));
    const useful = (a: string, b: string) => (tq.get(`${a}|${b}`) ?? 0) >= USEFUL_TQ && (tq.get(`${b}|${a}`) ?? 0) >= USEFUL_TQ;
    const all: [string, string][] = [];
    for (const a of this.ids) {
      if (this.observers.has(a) || !this.free(a)) continue;
      for (const b of this.adjacency.get(a)!) {
        if (b <= a || this.observers.has(b) || !this.free(b)) continue;
        if (usage(a, b) === 0) continue;
        if (!useful(a, b) || this.isBridge(a, b)) continue;
        all.push([a, b]);
      }
    }
    if (all.length === 0) throw new ScenarioError("no @detour-link left to pick in this mesh");
    const busy = all.filter(([a, b]) => usage(a, b) >= DETOUR_MIN_ROUTES);
    const candidates = busy.length > 0 ? busy : all;
    const link = candidates[this.rng.int(candidates.length)]!;
    this.take(link[0]);
    this.take(link[1]);
    return link;
  }

  /** An inner node and its neighbours that are not observers. */
  cluster(): string[] {
    const centre = this.inner();
    const members = [centre, ...[...this.adjacency.get(centre)!].filter((m) => !this.observers.has(m) && this.free(m)).sort()];
    for (const m of members) this.take(m);
    return members;
  }

  private isBridge(a: string, b: string): boolean {
    const seen = new Set([a]);
    for (const queue = [a]; queue.length > 0; ) {
      const n = queue.pop()!;
      for (const m of this.adjacency.get(n)!) {
        if ((n === a && m === b) || (n === b && m === a) || seen.has(m)) continue;
        if (m === b) return false;
        seen.add(m);
        queue.push(m);
      }
    }
    return true;
  }

  /** Resolves every pick in a scenario fault; plain ids pass through (the twin checks them). */
  resolve(fault: ScenarioFault["fault"]): Fault {
    const node = (ref: unknown): string => {
      if (typeof ref !== "string") throw new ScenarioError(`expected a node id or pick, got ${JSON.stringify(ref)}`);
      switch (ref) {
        case "@inner":
          return this.inner();
        case "@leaf":
          return this.leaf();
        case "@observer":
          return this.observer();
        default:
          if (ref.startsWith("@")) throw new ScenarioError(`unknown node pick ${ref}`);
          return ref;
      }
    };
    const out: Record<string, unknown> = { ...fault };
    if ("node" in fault) out.node = node(fault.node);
    if ("link" in fault) out.link = fault.link === "@detour-link" ? this.detourLink() : (fault.link as unknown[]).map(node);
    if ("nodes" in fault) out.nodes = fault.nodes === "@cluster" ? this.cluster() : (fault.nodes as unknown[]).map(node);
    if ("center" in fault && typeof fault.center === "string") {
      const ref = fault.center.startsWith("@near:") ? fault.center.slice("@near:".length) : fault.center;
      const id = node(ref);
      const location = this.twin.topology?.nodes.find((n) => n.id === id)?.location;
      if (!location) throw new ScenarioError(`node ${id} has no location to centre a jamming fault on`);
      out.center = { latitude: location.latitude, longitude: location.longitude };
    }
    return out as Fault;
  }
}

/** Cut vertices of an undirected graph (iterative Tarjan). */
const articulationPoints = (adjacency: ReadonlyMap<string, ReadonlySet<string>>): Set<string> => {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const cut = new Set<string>();
  let counter = 0;
  for (const root of adjacency.keys()) {
    if (index.has(root)) continue;
    index.set(root, counter);
    low.set(root, counter++);
    let rootChildren = 0;
    const stack: { node: string; parent: string | undefined; it: Iterator<string> }[] = [{ node: root, parent: undefined, it: adjacency.get(root)!.values() }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top.it.next();
      if (!next.done) {
        const m = next.value;
        if (m === top.parent) continue;
        if (index.has(m)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(m)!));
          continue;
        }
        index.set(m, counter);
        low.set(m, counter++);
        if (top.node === root) rootChildren++;
        stack.push({ node: m, parent: top.node, it: adjacency.get(m)!.values() });
        continue;
      }
      stack.pop();
      const parent = stack[stack.length - 1];
      if (!parent) continue;
      low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (parent.node !== root && low.get(top.node)! >= index.get(parent.node)!) cut.add(parent.node);
    }
    if (rootChildren > 1) cut.add(root);
  }
  return cut;
};
