import { readFile } from "node:fs/promises";
import { Rng, mixSeed } from "../../domains/kernel/rng.ts";

/** How a link is carried, with meshviewer's names: radio, a VPN tunnel (fastd/wireguard) or a cable. */
export type LinkKind = "wifi" | "vpn" | "other";

export interface GeoLocation {
  readonly latitude: number;
  readonly longitude: number;
}

/** One mesh node of a topology, before it is brought to life by the twin. */
export interface MeshNodeSpec {
  /** Node id, also the producer id: /^[A-Za-z0-9_-]{1,64}$/. */
  readonly id: string;
  /** Position in the topology's node list; keys and random streams derive from it. */
  readonly index: number;
  /** batman-adv originator address (primary interface MAC). */
  readonly primaryMac: string;
  /** Every hard-interface MAC, primary first: what neighbours see as `neigh_address`. */
  readonly macs: readonly string[];
  /** Whether the node is up. Offline nodes of a snapshot are kept in the topology but stay silent. */
  readonly online: boolean;
  /** Has an uplink and serves as batman-adv gateway (meshviewer `is_gateway`): the twin's default observers. */
  readonly gateway?: boolean;
  /** Metres east/north of the topology's origin, when the node has a position. */
  readonly position?: { readonly x: number; readonly y: number };
  readonly location?: GeoLocation;
  readonly hostname?: string;
  readonly hardware: { readonly model?: string; readonly nproc?: number };
  readonly firmware?: string;
  /** Figures from a snapshot the twin starts its node metrics from. */
  readonly baseline: {
    readonly clients?: number;
    readonly loadavg?: number;
    /** Fraction of memory in use, 0-1. */
    readonly memoryUsage?: number;
    readonly uptimeSeconds?: number;
  };
}

/** One undirected link between nodes `a` and `b` (indices into `nodes`). */
export interface MeshLinkSpec {
  readonly a: number;
  readonly b: number;
  readonly kind: LinkKind;
  /** The interface MAC of `a` on this link: what `b` reports as `neigh_address`. */
  readonly aMac: string;
  readonly bMac: string;
  /** Distance in metres when both ends have a position. */
  readonly distanceM?: number;
  /**
   * TQ 0-255 as measured by each end, when the topology came with it (meshviewer):
   * `tqAB` is what `a` reports for `b`. 0 means that end did not list the neighbour.
   */
  readonly tqAB?: number;
  readonly tqBA?: number;
  /** Added by the generator to join two components that radio range alone left apart. */
  readonly bridge?: boolean;
}

export interface MeshTopology {
  readonly source: "generated" | "meshviewer";
  readonly nodes: readonly MeshNodeSpec[];
  readonly links: readonly MeshLinkSpec[];
  /** Radio range in metres the link model scales distance by (generated topologies). */
  readonly radioRangeM?: number;
  /** When the snapshot was taken (meshviewer `timestamp`), ms since epoch. */
  readonly takenAt?: number;
}

export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** A topology file that cannot be used: says which file and which entry. */
export class TopologyFileError extends Error {
  override readonly name = "TopologyFileError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Graph helpers

/** Distinct neighbour indices of every node (several links between two nodes count once). */
export const adjacency = (topology: MeshTopology): Set<number>[] => {
  const adj = topology.nodes.map(() => new Set<number>());
  for (const l of topology.links) {
    adj[l.a]!.add(l.b);
    adj[l.b]!.add(l.a);
  }
  return adj;
};

/** Mean number of distinct neighbours per node. */
export const meanDegree = (topology: MeshTopology): number => {
  if (topology.nodes.length === 0) return 0;
  return adjacency(topology).reduce((sum, n) => sum + n.size, 0) / topology.nodes.length;
};

/** Connected components as lists of node indices, largest first. */
export const components = (topology: MeshTopology): number[][] => {
  const uf = new UnionFind(topology.nodes.length);
  for (const l of topology.links) uf.union(l.a, l.b);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < topology.nodes.length; i++) {
    const root = uf.find(i);
    const group = groups.get(root);
    if (group) group.push(i);
    else groups.set(root, [i]);
  }
  return [...groups.values()].sort((x, y) => y.length - x.length);
};

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    let root = i;
    while (this.parent[root] !== root) root = this.parent[root]!;
    while (this.parent[i] !== root) {
      const next = this.parent[i]!;
      this.parent[i] = root;
      i = next;
    }
    return root;
  }
  union(a: number, b: number): boolean {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return false;
    this.parent[ra] = rb;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Random geometric graph

export interface GenerateOptions {
  /** Number of nodes, at least 1. */
  readonly nodes: number;
  /** Default 1. */
  readonly seed?: number;
  /**
   * Mean number of radio neighbours per node before components are joined. Default 7.
   * Capped at (nodes - 1) / 2 so a small mesh still needs more than one hop.
   */
  readonly meanDegree?: number;
  /** Radio range in metres: two nodes closer than this hear each other. Default 150. */
  readonly radioRangeM?: number;
  /** Where the area's south-west corner sits on the map. Default Bremen (53.05 N, 8.75 E). */
  readonly origin?: GeoLocation;
}

const DEFAULT_ORIGIN: GeoLocation = { latitude: 53.05, longitude: 8.75 };
const METRES_PER_DEGREE_LAT = 111_320;

/** Hardware a community mesh is typically built from; generated nodes draw from it. */
const GENERATED_MODELS: readonly { model: string; nproc: number }[] = [
  { model: "TP-Link TL-WR841N/ND v9", nproc: 1 },
  { model: "TP-Link TL-WDR4300 v1", nproc: 1 },
  { model: "TP-Link Archer C7 v2", nproc: 1 },
  { model: "Ubiquiti NanoStation M2", nproc: 1 },
  { model: "GL.iNet GL-MT300N v2", nproc: 1 },
  { model: "Raspberry Pi 4 Model B", nproc: 4 },
];

const hex2 = (n: number) => (n & 0xff).toString(16).padStart(2, "0");

/**
 * A deterministic, locally administered, unicast MAC (first octet 0x02): two seed-derived
 * octets, then the node index in three octets, so every node of one topology is distinct.
 */
export const generatedMac = (seed: number, index: number): string => {
  const s = mixSeed(seed, 0x6d6163);
  return ["02", hex2(s >>> 8), hex2(s), hex2(index >>> 16), hex2(index >>> 8), hex2(index)].join(":");
};

/** `node-001` … : zero-padded to at least three digits so ids sort in index order. */
/**
 * `node-007` for the default seed 1, `s2-node-007` for seed 2: another seed is another mesh
 * with other keys, so its nodes must not claim ids the first mesh's nodes already bound.
 */
export const generatedNodeId = (index: number, count: number, seed = 1): string =>
  `${seed === 1 ? "" : `s${seed}-`}node-${String(index + 1).padStart(Math.max(3, String(count).length), "0")}`;

/**
 * Expected fraction of node pairs closer than r when both are uniform in the unit square
 * (border effects included): π r² − 8/3 r³ + r⁴/2, for r ≤ 1.
 */
const pairProbability = (r: number): number => Math.PI * r * r - (8 / 3) * r ** 3 + r ** 4 / 2;

/**
 * A random geometric graph: nodes uniform in a square, linked when closer than the radio range.
 *
 * The square's size is chosen so the mean degree is exactly `meanDegree` (up to rounding):
 * the radio range is set between the M-th and (M+1)-th shortest node distance, M = N·k/2 links,
 * and the square is then scaled so that range is `radioRangeM` metres.
 *
 * Connectivity is guaranteed: while the graph has more than one component, the smallest one is
 * joined to the rest by a link between their two closest nodes (marked `bridge`, as an operator
 * would mount a directional antenna or lay a cable to join an island).
 */
export const generateTopology = (options: GenerateOptions): MeshTopology => {
  const n = options.nodes;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`nodes must be a positive integer, got ${n}`);
  if (n > 0xffffff) throw new RangeError(`at most ${0xffffff} nodes`);
  const seed = options.seed ?? 1;
  const rangeM = options.radioRangeM ?? 150;
  const origin = options.origin ?? DEFAULT_ORIGIN;
  const k = Math.min(options.meanDegree ?? 7, (n - 1) / 2);
  const rng = new Rng(seed, 0x746f706f);

  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = rng.float();
    ys[i] = rng.float();
  }
  const dist = (i: number, j: number) => Math.hypot(xs[i]! - xs[j]!, ys[i]! - ys[j]!);

  const wanted = Math.round((n * k) / 2);
  const pairs = wanted > 0 ? closestPairs(xs, ys, wanted, k) : [];
  // The cut radius lies halfway between the last pair kept and the first pair left out.
  const kept = pairs.slice(0, wanted);
  const r =
    pairs.length > wanted ? (pairs[wanted - 1]!.d + pairs[wanted]!.d) / 2 : kept.length > 0 ? kept[kept.length - 1]!.d * 1.0001 : 1;
  const metresPerUnit = rangeM / r;

  const links: { a: number; b: number; d: number; bridge: boolean }[] = kept.map((p) => ({ ...p, bridge: false }));
  const uf = new UnionFind(n);
  for (const l of links) uf.union(l.a, l.b);
  // Join components, smallest first, each to its closest node outside it.
  for (;;) {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const root = uf.find(i);
      const g = groups.get(root);
      if (g) g.push(i);
      else groups.set(root, [i]);
    }
    if (groups.size <= 1) break;
    const smallest = [...groups.values()].sort((x, y) => x.length - y.length || x[0]! - y[0]!)[0]!;
    const root = uf.find(smallest[0]!);
    let best = { a: -1, b: -1, d: Infinity };
    for (const a of smallest) {
      for (let b = 0; b < n; b++) {
        if (uf.find(b) === root) continue;
        const d = dist(a, b);
        if (d < best.d) best = { a, b, d };
      }
    }
    links.push({ ...best, bridge: true });
    uf.union(best.a, best.b);
  }

  const cosLat = Math.cos((origin.latitude * Math.PI) / 180);
  const nodes: MeshNodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    const x = xs[i]! * metresPerUnit;
    const y = ys[i]! * metresPerUnit;
    const hw = rng.pick(GENERATED_MODELS);
    const mac = generatedMac(seed, i);
    nodes.push({
      id: generatedNodeId(i, n, seed),
      index: i,
      primaryMac: mac,
      macs: [mac],
      online: true,
      position: { x, y },
      location: {
        latitude: round6(origin.latitude + y / METRES_PER_DEGREE_LAT),
        longitude: round6(origin.longitude + x / (METRES_PER_DEGREE_LAT * cosLat)),
      },
      hardware: { model: hw.model, nproc: hw.nproc },
      baseline: {
        clients: rng.int(12),
        loadavg: round2(0.05 + rng.float() * 0.5 * hw.nproc),
        memoryUsage: round2(0.35 + rng.float() * 0.35),
        // Up for a few minutes to a few weeks: a community mesh reboots on firmware updates.
        uptimeSeconds: Math.floor(600 + rng.float() * 21 * 86_400),
      },
    });
  }

  return {
    source: "generated",
    radioRangeM: rangeM,
    nodes,
    links: links
      .map((l) => {
        const [a, b] = l.a < l.b ? [l.a, l.b] : [l.b, l.a];
        return {
          a,
          b,
          kind: "wifi" as const,
          aMac: nodes[a]!.primaryMac,
          bMac: nodes[b]!.primaryMac,
          distanceM: round2(l.d * metresPerUnit),
          ...(l.bridge ? { bridge: true } : {}),
        };
      })
      .sort((x, y) => x.a - y.a || x.b - y.b),
  };
};

/**
 * The `wanted` shortest node pairs (plus the next one, to place the cut between them), sorted by
 * distance. Buckets nodes in a grid so only nearby pairs are measured: O(N) for a fixed degree.
 */
const closestPairs = (xs: Float64Array, ys: Float64Array, wanted: number, k: number) => {
  const n = xs.length;
  // Radius that gives mean degree k in expectation (bisection on the border-corrected formula).
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if ((n - 1) * pairProbability(mid) < k) lo = mid;
    else hi = mid;
  }
  let radius = Math.min(Math.SQRT2, hi * 1.5);
  for (;;) {
    const pairs = pairsWithin(xs, ys, radius);
    if (pairs.length > wanted || radius >= Math.SQRT2) {
      pairs.sort((p, q) => p.d - q.d || p.a - q.a || p.b - q.b);
      return pairs.slice(0, wanted + 1);
    }
    radius = Math.min(Math.SQRT2, radius * 1.5);
  }
};

const pairsWithin = (xs: Float64Array, ys: Float64Array, radius: number) => {
  const n = xs.length;
  const cells = Math.max(1, Math.min(1024, Math.floor(1 / radius)));
  const cellOf = (v: number) => Math.min(cells - 1, Math.floor(v * cells));
  const grid = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = cellOf(xs[i]!) * cells + cellOf(ys[i]!);
    const bucket = grid.get(key);
    if (bucket) bucket.push(i);
    else grid.set(key, [i]);
  }
  const pairs: { a: number; b: number; d: number }[] = [];
  for (let a = 0; a < n; a++) {
    const cx = cellOf(xs[a]!);
    const cy = cellOf(ys[a]!);
    for (let gx = Math.max(0, cx - 1); gx <= Math.min(cells - 1, cx + 1); gx++) {
      for (let gy = Math.max(0, cy - 1); gy <= Math.min(cells - 1, cy + 1); gy++) {
        for (const b of grid.get(gx * cells + gy) ?? []) {
          if (b <= a) continue;
          const d = Math.hypot(xs[a]! - xs[b]!, ys[a]! - ys[b]!);
          if (d < radius) pairs.push({ a, b, d });
        }
      }
    }
  }
  return pairs;
};

const round2 = (v: number) => Math.round(v * 100) / 100;
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

// ---------------------------------------------------------------------------------------------
// meshviewer.json (yanic "meshviewer-ffrgb")

/**
 * Reads a meshviewer.json file (the format yanic writes for the Freifunk map).
 * See `parseMeshviewer` for how its fields map onto the twin.
 */
export const loadMeshviewer = async (path: string): Promise<MeshTopology> => {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new TopologyFileError(`cannot read topology file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TopologyFileError(`${path} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseMeshviewer(json, path);
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** TQ scaled 0..1 in meshviewer → batman-adv's 0-255 integer. */
const tq255 = (v: unknown): number | undefined => {
  const tq = num(v);
  return tq === undefined ? undefined : Math.max(0, Math.min(255, Math.round(tq * 255)));
};

/**
 * Maps meshviewer fields onto the twin:
 * - `node_id` is the node id; `mac` the primary MAC; each link's `source_addr`/`target_addr`
 *   adds that interface MAC to its node's `macs`, so neighbour addresses resolve.
 * - `source_tq` is the TQ the source node reports for the target (from the source's
 *   neighbour table), `target_tq` the reverse; 0..1 becomes 0-255. 0 means that end did not
 *   list the link, and the twin keeps it out of that end's reports.
 * - `is_gateway: true` marks a gateway (uplinked: the twin's observers by default).
 * - `is_online: false` nodes are kept but stay silent; `location`, `model`, `nproc`,
 *   `firmware.release`, `clients`, `loadavg`, `memory_usage` and `uptime` seed the node.
 */
export const parseMeshviewer = (json: unknown, origin = "meshviewer.json"): MeshTopology => {
  const fail = (message: string): never => {
    throw new TopologyFileError(`${origin}: ${message}`);
  };
  if (!isObject(json) || !Array.isArray(json.nodes) || !Array.isArray(json.links)) {
    return fail("not a meshviewer file: expected an object with `nodes` and `links` arrays");
  }
  const takenAt = Date.parse(str(json.timestamp) ?? "");
  const byId = new Map<string, number>();
  const macOwner = new Map<string, number>();
  const raw: { id: string; mac: string; macs: string[]; entry: Json }[] = [];

  const claimMac = (mac: string, index: number, where: string) => {
    const lower = mac.toLowerCase();
    if (!MAC.test(lower)) fail(`${where}: "${mac}" is not a MAC address`);
    const owner = macOwner.get(lower);
    if (owner !== undefined && owner !== index) fail(`${where}: MAC ${lower} already belongs to node ${raw[owner]!.id}`);
    macOwner.set(lower, index);
    const node = raw[index]!;
    if (!node.macs.includes(lower)) node.macs.push(lower);
    return lower;
  };

  json.nodes.forEach((entry, index) => {
    if (!isObject(entry)) return fail(`nodes[${index}] is not an object`);
    const id = str(entry.node_id) ?? fail(`nodes[${index}] has no node_id`);
    if (!NODE_ID.test(id)) fail(`nodes[${index}]: node_id "${id}" is not 1-64 of A-Z a-z 0-9 _ -`);
    if (byId.has(id)) fail(`nodes[${index}]: node_id "${id}" appears twice`);
    byId.set(id, index);
    // A node without `mac`: yanic's node_id is the primary MAC without colons.
    const mac = str(entry.mac) ?? (/^[0-9a-fA-F]{12}$/.test(id) ? id.match(/../g)!.join(":") : undefined);
    raw.push({ id, mac: "", macs: [], entry });
    raw[index]!.mac = mac ? claimMac(mac, index, `nodes[${index}]`) : "";
  });

  const links: MeshLinkSpec[] = json.links.map((entry, i) => {
    if (!isObject(entry)) return fail(`links[${i}] is not an object`);
    const a = byId.get(str(entry.source) ?? "") ?? fail(`links[${i}]: unknown source node "${String(entry.source)}"`);
    const b = byId.get(str(entry.target) ?? "") ?? fail(`links[${i}]: unknown target node "${String(entry.target)}"`);
    if (a === b) fail(`links[${i}] links node ${raw[a]!.id} to itself`);
    const aMac = claimMac(str(entry.source_addr) ?? (raw[a]!.mac || fail(`links[${i}] has no source_addr`)), a, `links[${i}].source_addr`);
    const bMac = claimMac(str(entry.target_addr) ?? (raw[b]!.mac || fail(`links[${i}] has no target_addr`)), b, `links[${i}].target_addr`);
    const type = str(entry.type);
    const tqAB = tq255(entry.source_tq);
    const tqBA = tq255(entry.target_tq);
    return {
      a,
      b,
      kind: type === "wifi" || type === "vpn" ? type : "other",
      aMac,
      bMac,
      ...(tqAB !== undefined ? { tqAB } : {}),
      ...(tqBA !== undefined ? { tqBA } : {}),
    };
  });

  // Positions in metres around the mean location, for distances (latency) and maps.
  const located = raw.map((r) => geo(r.entry.location));
  const known = located.filter((l): l is GeoLocation => l !== undefined);
  const lat0 = known.length > 0 ? known.reduce((s, l) => s + l.latitude, 0) / known.length : 0;
  const lon0 = known.length > 0 ? known.reduce((s, l) => s + l.longitude, 0) / known.length : 0;
  const cosLat = Math.cos((lat0 * Math.PI) / 180);
  const position = (l: GeoLocation | undefined) =>
    l && { x: (l.longitude - lon0) * METRES_PER_DEGREE_LAT * cosLat, y: (l.latitude - lat0) * METRES_PER_DEGREE_LAT };

  const nodes: MeshNodeSpec[] = raw.map((r, index) => {
    const e = r.entry;
    const location = located[index];
    const pos = position(location);
    const firmware = isObject(e.firmware) ? (str(e.firmware.release) ?? str(e.firmware.base)) : undefined;
    const model = str(e.model);
    const nproc = num(e.nproc);
    const bootedAt = Date.parse(str(e.uptime) ?? "");
    const uptimeSeconds = Number.isFinite(takenAt) && Number.isFinite(bootedAt) ? Math.max(0, (takenAt - bootedAt) / 1000) : undefined;
    const clients = num(e.clients);
    const loadavg = num(e.loadavg);
    const memoryUsage = num(e.memory_usage);
    const hostname = str(e.hostname);
    // A node with no `mac` and no links still needs an originator address.
    const primaryMac = r.macs[0] ?? claimMac(generatedMac(mixSeed(0x6d76), index), index, `nodes[${index}]`);
    return {
      id: r.id,
      index,
      primaryMac,
      macs: r.macs,
      online: e.is_online !== false,
      ...(e.is_gateway === true ? { gateway: true } : {}),
      ...(pos ? { position: pos } : {}),
      ...(location ? { location } : {}),
      ...(hostname ? { hostname } : {}),
      hardware: {
        ...(model ? { model } : {}),
        ...(nproc !== undefined && Number.isInteger(nproc) && nproc >= 0 ? { nproc } : {}),
      },
      ...(firmware ? { firmware } : {}),
      baseline: {
        ...(clients !== undefined && clients >= 0 ? { clients: Math.floor(clients) } : {}),
        ...(loadavg !== undefined && loadavg >= 0 ? { loadavg } : {}),
        ...(memoryUsage !== undefined && memoryUsage >= 0 && memoryUsage <= 1 ? { memoryUsage } : {}),
        ...(uptimeSeconds !== undefined ? { uptimeSeconds } : {}),
      },
    };
  });

  const withDistance = links.map((l) => {
    const pa = nodes[l.a]!.position;
    const pb = nodes[l.b]!.position;
    return pa && pb ? { ...l, distanceM: round2(Math.hypot(pa.x - pb.x, pa.y - pb.y)) } : l;
  });

  return { source: "meshviewer", nodes, links: withDistance, ...(Number.isFinite(takenAt) ? { takenAt } : {}) };
};

const geo = (v: unknown): GeoLocation | undefined => {
  if (!isObject(v)) return undefined;
  const latitude = num(v.latitude);
  const longitude = num(v.longitude);
  if (latitude === undefined || longitude === undefined) return undefined;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return undefined;
  return { latitude, longitude };
};
