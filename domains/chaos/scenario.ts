import * as Schema from "effect/Schema";
import { NonNegativeInt } from "../kernel/index.ts";
import { FaultId } from "./events.ts";
import { expectedRootCauses } from "./report.ts";

/**
 * A chaos scenario file (JSON): the mesh to simulate, when each fault starts and stops, and
 * what the loop is expected to make of it. Node and link references in a fault may be ids or
 * `@` picks the runner resolves against the simulated topology, deterministically per seed:
 *
 * | pick | resolves to |
 * |---|---|
 * | `@inner` | a node that is neither an observer nor a cut vertex, with two or more neighbours |
 * | `@leaf` | a node with one neighbour, not an observer |
 * | `@observer` | an observer (a node whose reports reach the control plane directly) |
 * | `@detour-link` (a link) | a link between two `@inner`-like nodes that is no bridge |
 * | `@cluster` (partition nodes) | an `@inner` node and its neighbours that are not observers |
 * | `@near:<pick>` (jamming centre) | the location of the node the pick resolves to |
 *
 * Picks in one scenario never resolve to the same node twice.
 */

const ScenarioName = Schema.String.pipe(Schema.check(Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,63}$/u, { description: "scenario name: lower-case kebab, 1-64" })));

export const ScenarioFault = Schema.Struct({
  id: FaultId,
  /** Start, ms after the warm-up. */
  atMs: NonNegativeInt,
  /** How long the fault lasts; absent: until the scenario ends. */
  clearAfterMs: Schema.optionalKey(NonNegativeInt),
  /** A `chaos/events.ts` Fault whose node and link references may be `@` picks. */
  fault: Schema.Record(Schema.String, Schema.Unknown),
  expect: Schema.optionalKey(
    Schema.Struct({
      /** Root-cause classes that count as right; default `expectedRootCauses` of the fault kind. */
      rootCause: Schema.optionalKey(Schema.Array(Schema.String)),
      /** How the first incident must end. */
      outcome: Schema.optionalKey(Schema.Literals(["recovered", "escalated"])),
      /** The policy the loop must choose. */
      policy: Schema.optionalKey(Schema.String),
    }),
  ),
});
export type ScenarioFault = typeof ScenarioFault.Type;

export const Scenario = Schema.Struct({
  name: ScenarioName,
  description: Schema.optionalKey(Schema.String),
  mesh: Schema.Struct({
    /** Nodes of a generated mesh (ignored with `topologyFile`). */
    nodes: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 2, maximum: 20_000 })))),
    seed: Schema.optionalKey(NonNegativeInt),
    topologyFile: Schema.optionalKey(Schema.String),
    /** Link and node metrics interval, ms. */
    intervalMs: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 50, maximum: 60_000 })))),
    heartbeatIntervalMs: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 50, maximum: 60_000 })))),
  }),
  /** Time the mesh runs before the first fault, so baselines and detectors are learnt. Default 15 000. */
  warmUpMs: Schema.optionalKey(NonNegativeInt),
  /** Time after the warm-up until the run ends. */
  durationMs: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 86_400_000 }))),
  faults: Schema.Array(ScenarioFault).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1_000))),
});
export type Scenario = typeof Scenario.Type;

/** A scenario file that is not JSON or does not match the schema. */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
}

export const parseScenario = (text: string, source = "scenario"): Scenario => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(`${source}: not JSON: ${(error as Error).message}`);
  }
  const decoded = Schema.decodeUnknownExit(Scenario)(raw, { onExcessProperty: "error" });
  if (decoded._tag === "Failure") throw new ScenarioError(`${source}: ${String(decoded.cause)}`);
  const s = decoded.value;
  const ids = new Set<string>();
  for (const f of s.faults) {
    if (ids.has(f.id)) throw new ScenarioError(`${source}: fault id ${f.id} is used twice`);
    ids.add(f.id);
    if (typeof f.fault.kind !== "string" || !(f.fault.kind in expectedRootCauses))
      throw new ScenarioError(`${source}: fault ${f.id}: kind must be one of ${Object.keys(expectedRootCauses).join(", ")}`);
    if (f.atMs > s.durationMs) throw new ScenarioError(`${source}: fault ${f.id} starts after the scenario ends (${f.atMs} > ${s.durationMs} ms)`);
  }
  return s;
};
