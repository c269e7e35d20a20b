import * as Schema from "effect/Schema";
import { defineEvent, Fraction, NonNegative, NonNegativeInt, ProducerId } from "../kernel/index.ts";

/**
 * Injected faults are events too: a chaos run appends `chaos.FaultInjected` when it breaks
 * something and `chaos.FaultCleared` when it stops, on `heal.fault.<faultId>` (the HEAL
 * stream, beside the incidents they cause), so detection time and MTTR are computed from the
 * log alone. Times are epoch ms, passed in.
 */

const token = (description: string) =>
  Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/u, { description })));

/** A subject token; `command` and `outcome` are refused so `heal.fault.<id>` never reads as a node's subject. */
export const FaultId = token("fault id: 1-64 of A-Z a-z 0-9 _ -").pipe(
  Schema.check(Schema.makeFilter((s: string) => (s === "command" || s === "outcome" ? `"${s}" is a reserved subject token` : true))),
);

const NodePair = Schema.Tuple([ProducerId, ProducerId]);

/**
 * The fault library. Each kind says what breaks, in the twin's terms:
 * - `node-crash`: the node stops; its neighbours lose it.
 * - `node-hang`: the node keeps forwarding (its links stay up) but stops reporting.
 * - `link-degradation`: extra loss (0-1) and latency on both directions of one link.
 * - `link-flap`: the link goes down for `downMs` out of every `periodMs`.
 * - `partition`: every link between `nodes` and the rest of the mesh goes down.
 * - `byzantine`: the node floods (traffic × 20), lies in its metrics (claims perfect links
 *   its neighbours do not see), or sends badly signed events.
 * - `jamming`: every link with an end within `radiusM` of the centre takes `loss`.
 */
export const Fault = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("node-crash"), node: ProducerId }),
  Schema.Struct({ kind: Schema.Literal("node-hang"), node: ProducerId }),
  Schema.Struct({
    kind: Schema.Literal("link-degradation"),
    link: NodePair,
    loss: Fraction,
    latencyMs: Schema.optionalKey(NonNegative.pipe(Schema.check(Schema.isLessThanOrEqualTo(60_000)))),
  }),
  Schema.Struct({
    kind: Schema.Literal("link-flap"),
    link: NodePair,
    periodMs: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 100, maximum: 3_600_000 }))),
    downMs: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 50, maximum: 3_600_000 }))),
  }),
  Schema.Struct({ kind: Schema.Literal("partition"), nodes: Schema.Array(ProducerId).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1024))) }),
  Schema.Struct({ kind: Schema.Literal("byzantine"), node: ProducerId, behaviour: Schema.Literals(["flood", "lie", "bad-signatures"]) }),
  Schema.Struct({
    kind: Schema.Literal("jamming"),
    center: Schema.Struct({
      latitude: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: -90, maximum: 90 }))),
      longitude: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: -180, maximum: 180 }))),
    }),
    radiusM: NonNegative.pipe(Schema.check(Schema.isLessThanOrEqualTo(100_000))),
    loss: Fraction,
  }),
]);
export type Fault = typeof Fault.Type;
export type FaultKind = Fault["kind"];

export const FaultInjected = defineEvent(
  "chaos.FaultInjected",
  Schema.Struct({
    faultId: FaultId,
    /** The scenario that injected it (its `name`). */
    scenario: Schema.String.pipe(Schema.check(Schema.isMaxLength(128))),
    fault: Fault,
    injectedAt: NonNegativeInt,
  }),
  { maxPayloadBytes: 80 * 1024 },
);

export const FaultCleared = defineEvent(
  "chaos.FaultCleared",
  Schema.Struct({ faultId: FaultId, clearedAt: NonNegativeInt }),
  { maxPayloadBytes: 1024 },
);

export const chaosEvents = [FaultInjected, FaultCleared] as const;
export type FaultInjected = typeof FaultInjected.schema.Type;
export type FaultCleared = typeof FaultCleared.schema.Type;

export const faultSubject = (faultId: string): string => `heal.fault.${faultId}`;
