import type { Fault } from "../../domains/chaos/index.ts";
import type { GeoLocation } from "./topology.ts";
import type { MeshModel } from "./mesh-model.ts";
import type { DirectedLink, SimulatedNode } from "./node.ts";

/**
 * The chaos fault library in twin terms. Each fault changes the model only through keys it owns
 * (`fault:<id>` on links, `fault:<id>` in a node's sets), so clearing it removes exactly what
 * it added and faults compose: two faults on one link multiply their delivery ratios, and a
 * node down for two reasons comes back only when both are cleared.
 *
 * | kind | in the twin |
 * |---|---|
 * | `node-crash` | the node is down: publishes nothing, answers nothing, its links carry nothing; clearing reboots it (uptime and counters from zero, announces again) |
 * | `node-hang` | the node forwards and its links stay up, but it publishes and answers nothing |
 * | `link-degradation` | extra loss and latency on both directions of every link between the two nodes |
 * | `link-flap` | both directions cut for `downMs` out of every `periodMs`, starting down at injection |
 * | `partition` | every link between the set and the rest cut, both directions |
 * | `byzantine` flood | the node's rx/tx/forward counters grow 20× its baseline, and it sends at least 1 Mbit/s more than it would; neighbours receive and forward the excess (minus what their rate limits drop) |
 * | `byzantine` lie | the node reports TQ 255 / loss 0 on every link and a phantom neighbour no one else sees |
 * | `byzantine` bad-signatures | the node's events carry its key id but a signature by another key (consumers quarantine them as `bad-signature`) |
 * | `jamming` | every link with an end within `radiusM` of the centre takes `loss`, both directions |
 */

/** An injected fault and how to take it back. */
export interface ActiveFault {
  readonly faultId: string;
  readonly fault: Fault;
  readonly injectedAt: number;
  /** Removes exactly what the fault added; returns nodes to reboot (a crash that ended). */
  readonly undo: () => SimulatedNode[];
}

/** A fault that names nodes or links the twin does not have. */
export class FaultTargetError extends Error {
  override readonly name = "FaultTargetError";
}

const METRES_PER_DEGREE_LAT = 111_320;

/** Ground distance in metres (equirectangular: exact enough at the few kilometres jamming covers). */
export const distanceM = (a: GeoLocation, b: GeoLocation): number => {
  const lat = ((a.latitude + b.latitude) / 2) * (Math.PI / 180);
  const dx = (b.longitude - a.longitude) * METRES_PER_DEGREE_LAT * Math.cos(lat);
  const dy = (b.latitude - a.latitude) * METRES_PER_DEGREE_LAT;
  return Math.hypot(dx, dy);
};

const nodeOf = (model: MeshModel, nodeId: string): SimulatedNode => {
  const node = model.byId.get(nodeId);
  if (!node) throw new FaultTargetError(`no node ${nodeId} in the twin`);
  return node;
};

const linkOf = (model: MeshModel, [a, b]: readonly [string, string]): DirectedLink[] => {
  const links = model.linksBetween(nodeOf(model, a), nodeOf(model, b));
  if (links.length === 0) throw new FaultTargetError(`no link between ${a} and ${b}`);
  return links;
};

/** Lays one effect on links under the fault's key; the undo takes it off again. */
const onLinks = (model: MeshModel, key: string, links: readonly DirectedLink[], effect: Parameters<MeshModel["setEffect"]>[2]) => {
  for (const l of links) model.setEffect(l, key, effect);
  return () => {
    for (const l of links) model.deleteEffect(l, key);
    return [];
  };
};

/**
 * Applies a fault to the model at `t` and returns how to clear it. Throws FaultTargetError,
 * leaving the model unchanged, when the fault names a node or link the twin does not have.
 */
export const injectFault = (model: MeshModel, faultId: string, fault: Fault, t: number): ActiveFault => {
  const key = `fault:${faultId}`;
  const active = (undo: () => SimulatedNode[]): ActiveFault => ({ faultId, fault, injectedAt: t, undo });
  switch (fault.kind) {
    case "node-crash": {
      const node = nodeOf(model, fault.node);
      node.downBy.add(key);
      model.changed();
      return active(() => {
        node.downBy.delete(key);
        model.changed();
        return node.down ? [] : [node];
      });
    }
    case "node-hang": {
      const node = nodeOf(model, fault.node);
      node.hungBy.add(key);
      return active(() => {
        node.hungBy.delete(key);
        return [];
      });
    }
    case "link-degradation":
      return active(onLinks(model, key, linkOf(model, fault.link), { loss: fault.loss, latencyMs: fault.latencyMs ?? 0 }));
    case "link-flap":
      return active(
        onLinks(model, key, linkOf(model, fault.link), {
          loss: 1,
          latencyMs: 0,
          window: { startMs: t, downMs: fault.downMs, periodMs: fault.periodMs },
        }),
      );
    case "partition": {
      const inside = new Set(fault.nodes.map((id) => nodeOf(model, id).index));
      const cut = model.links.filter((l) => inside.has(l.from) !== inside.has(l.to));
      return active(onLinks(model, key, cut, { loss: 1, latencyMs: 0 }));
    }
    case "byzantine": {
      const node = nodeOf(model, fault.node);
      node.byzantine.set(key, fault.behaviour);
      // A flood changes what neighbours' counters show, not which links work; nothing to invalidate.
      return active(() => {
        node.byzantine.delete(key);
        return [];
      });
    }
    case "jamming": {
      const near = (n: SimulatedNode) => n.spec.location !== undefined && distanceM(n.spec.location, fault.center) <= fault.radiusM;
      const jammed = new Set(model.nodes.filter(near).map((n) => n.index));
      const links = model.links.filter((l) => jammed.has(l.from) || jammed.has(l.to));
      return active(onLinks(model, key, links, { loss: fault.loss, latencyMs: 0 }));
    }
  }
};
