import type { EventDefinition } from "../../domains/kernel/index.ts";
import type { HealingAction, HealingCommandIssued } from "../../domains/healing/index.ts";
import { generatedMac } from "./topology.ts";
import type { GeoLocation, LinkKind, MeshLinkSpec, MeshNodeSpec, MeshTopology } from "./topology.ts";
import type { ManualEventFlags, ManualSink } from "./twin.ts";

/** Tests only: small meshes drawn by hand, a recording manual sink, commands. */

export interface HandmadeLink {
  readonly kind?: LinkKind;
  /** Default 40 m of a 150 m radio range: about 2 % loss each way. */
  readonly distanceM?: number;
}

/**
 * A topology from node ids and `a-b` links, e.g. `handmade(["A", "B", "C"], ["A-B", "B-C"])`.
 * Nodes sit 40 m apart on a line (west to east, in the given order) unless `locations` says otherwise.
 */
export const handmade = (
  ids: readonly string[],
  links: readonly (string | readonly [string, HandmadeLink])[],
  options: { readonly gateways?: readonly string[]; readonly locations?: Readonly<Record<string, GeoLocation>> } = {},
): MeshTopology => {
  const index = new Map(ids.map((id, i) => [id, i]));
  const nodes: MeshNodeSpec[] = ids.map((id, i) => {
    const mac = generatedMac(77, i);
    return {
      id,
      index: i,
      primaryMac: mac,
      macs: [mac],
      online: true,
      ...(options.gateways?.includes(id) ? { gateway: true } : {}),
      location: options.locations?.[id] ?? { latitude: 53.05, longitude: 8.75 + (i * 40) / 66_950 },
      hardware: { model: "test", nproc: 1 },
      baseline: { clients: 4, loadavg: 0.1, memoryUsage: 0.5, uptimeSeconds: 3_600 },
    };
  });
  const specs: MeshLinkSpec[] = links.map((entry) => {
    const [pair, extra] = typeof entry === "string" ? [entry, {}] : entry;
    const [a, b] = pair.split("-").map((id) => {
      const i = index.get(id);
      if (i === undefined) throw new RangeError(`unknown node ${id} in link ${pair}`);
      return i;
    }) as [number, number];
    return { a, b, kind: extra.kind ?? "wifi", aMac: nodes[a]!.primaryMac, bMac: nodes[b]!.primaryMac, distanceM: extra.distanceM ?? 40 };
  });
  return { source: "generated", radioRangeM: 150, nodes, links: specs };
};

export interface Recorded {
  readonly nodeId: string;
  readonly type: string;
  readonly payload: unknown;
  readonly atMs: number;
  readonly badSignature: boolean;
}

/** A manual sink that keeps everything, with lookups by node and type. */
export const recorder = () => {
  const events: Recorded[] = [];
  const sink: ManualSink = (nodeId: string, definition: EventDefinition, payload: unknown, atMs: number, flags: ManualEventFlags) => {
    events.push({ nodeId, type: definition.type, payload, atMs, badSignature: flags.badSignature });
  };
  const of = (nodeId: string, type?: string) => events.filter((e) => e.nodeId === nodeId && (type === undefined || e.type === type));
  return { events, sink, of };
};

let commandCount = 0;
/** A loop command for one node, with a fresh id unless given one. */
export const command = (targetNodeId: string, action: HealingAction, commandId = `cmd-${++commandCount}`): HealingCommandIssued => ({
  commandId,
  incidentId: "inc-1",
  targetNodeId,
  action,
  step: 0,
  issuedBy: "loop",
});
