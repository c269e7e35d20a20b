/**
 * From batctl's tables to the mesh domain's link samples (`mesh.LinkMetricsReported`). Pure.
 *
 * The mapping, per field of `LinkSample`:
 *
 * | field | from |
 * |---|---|
 * | one sample | each row of `nj`: a direct neighbour on one hard interface (a neighbour heard on two interfaces is two samples) |
 * | `neigh_address`, `hard_ifname`, `last_seen_msecs` | that `nj` row (`last_seen_msecs` is the freshness: batman-adv keeps a silent neighbour listed until its purge timeout, ~200 s) |
 * | `tq` | the `oj` row in which the neighbour is its own originator, heard directly on the same hard interface (`orig_address` = `neigh_address` = the neighbour): the TQ of the direct link, 0-255. No such row yet (its OGMs not accepted: the link is not bidirectional yet) is `tq` 0 |
 * | `throughput` | `nj`'s `throughput` (BATMAN_V), else that `oj` row's |
 * | `loss` | estimated as `1 - tq/255`: BATMAN_IV's TQ of a direct link is the product of the OGM delivery ratios in both directions |
 * | `latency_ms` | 0: not measured by the agent (batctl has no latency table; `batctl ping` per neighbour per interval costs too much) |
 *
 * `gwj` (the gateway table) and `mj`/`hj` (settings) have no place in a link sample: the agent
 * reports them in `mesh.NodeMetricsReported` (`batman`).
 *
 * BATMAN_V has no TQ, and `LinkSample.tq` is required: `linkSamples` returns undefined there
 * rather than inventing a TQ from throughput.
 */
import type { LinkSample } from "../../domains/mesh/index.ts";
import type { NeighbourRow, OriginatorRow } from "./tables.ts";

/** Most samples one event carries (`LinkMetricsReported.links`). */
export const MAX_LINK_SAMPLES = 256;

const sameInterface = (a: { hard_ifname?: string; hard_ifindex?: number }, b: { hard_ifname?: string; hard_ifindex?: number }): boolean =>
  a.hard_ifname !== undefined && b.hard_ifname !== undefined ? a.hard_ifname === b.hard_ifname : a.hard_ifindex === b.hard_ifindex;

/**
 * The node's link samples, freshest first when there are more than `MAX_LINK_SAMPLES`; undefined
 * under a routing algorithm without TQ (BATMAN_V).
 */
export const linkSamples = (neighbours: readonly NeighbourRow[], originators: readonly OriginatorRow[], algo = "BATMAN_IV"): LinkSample[] | undefined => {
  if (algo !== "BATMAN_IV") return undefined;
  const direct = new Map<string, OriginatorRow[]>();
  for (const o of originators) {
    if (o.orig_address !== o.neigh_address) continue;
    const list = direct.get(o.neigh_address);
    if (list) list.push(o);
    else direct.set(o.neigh_address, [o]);
  }
  const samples = neighbours.map((n): LinkSample => {
    const own = direct.get(n.neigh_address)?.find((o) => sameInterface(o, n));
    const tq = own?.tq ?? 0;
    const throughput = n.throughput ?? own?.throughput;
    return {
      neigh_address: n.neigh_address,
      ...(n.hard_ifname !== undefined ? { hard_ifname: n.hard_ifname } : {}),
      tq,
      last_seen_msecs: n.last_seen_msecs,
      ...(throughput !== undefined ? { throughput } : {}),
      loss: Math.round((1 - tq / 255) * 1000) / 1000,
      latency_ms: 0,
    };
  });
  return samples.length <= MAX_LINK_SAMPLES ? samples : samples.sort((a, b) => a.last_seen_msecs - b.last_seen_msecs).slice(0, MAX_LINK_SAMPLES);
};

/** The next hop towards `origAddress` (`best` row of `oj`), if batman-adv has one. */
export const nextHop = (originators: readonly OriginatorRow[], origAddress: string): OriginatorRow | undefined =>
  originators.find((o) => o.orig_address === origAddress && o.best === true);
