import * as Schema from "effect/Schema";
import { defineEvent, MacAddress, NonNegativeInt, ProducerId } from "../kernel/index.ts";
import type { ExpectedEffect as ExpectedEffectOf, FindingKind as FindingKindOf } from "./plan.ts";
import type { Blamed as RootCauseBlamed, RootCauseKind as RootCauseKindOf } from "./root-cause.ts";

/**
 * Events of the HEAL stream: one incident's lifecycle (`heal.incident.<incidentId>`), the
 * healing commands addressed to the nodes that must act (`heal.<nodeId>.command`) and their
 * answers (`heal.<nodeId>.outcome`).
 *
 * Correlation: every event of an incident carries `incidentId` in its payload, and its
 * envelope's correlation id is that incident id, so one incident's chain (across the
 * incident subject and the nodes' command and outcome subjects) replays alone. The causation
 * id is the event that led to it (IncidentDetected -> ActionPlanned -> HealingCommandIssued
 * -> CommandApplied ...). An operator command outside any incident correlates on its own
 * command id.
 *
 * Times are epoch milliseconds, passed in: nothing here reads a clock.
 */

const text = (maxLength: number) => Schema.String.pipe(Schema.check(Schema.isMaxLength(maxLength)));
const token = (description: string) =>
  Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/u, { description })));

/** Epoch milliseconds. */
export const EpochMs = NonNegativeInt;

/**
 * One NATS subject token that is also a valid envelope correlation id. `command` and
 * `outcome` are refused so `heal.incident.<incidentId>` never reads as a node's command or
 * outcome subject (the node id `incident` must be reserved for the same reason).
 */
export const IncidentId = token("incident id: 1-64 of A-Z a-z 0-9 _ -").pipe(
  Schema.check(Schema.makeFilter((s: string) => (s === "command" || s === "outcome" ? `"${s}" is a reserved subject token` : true))),
);
export const CommandId = token("command id: 1-64 of A-Z a-z 0-9 _ -");
export const ActionId = token("action id: 1-64 of A-Z a-z 0-9 _ -");
/** A healing policy's name, e.g. `reroute-around-link`. */
export const PolicyName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,63}$/u, { description: "policy name: lower-case kebab, 1-64" })),
);

/** The root-cause classes of `root-cause.ts`, as a schema. */
export const RootCauseKind = Schema.Literals(["partition", "upstream-failure", "node-dead", "node-silent", "link-dead", "link-degraded"]);
/** What an incident is about: a root cause, or a node misbehaving while heard (flooding, lying, bad signatures). */
export const FindingKind = Schema.Literals(["partition", "upstream-failure", "node-dead", "node-silent", "link-dead", "link-degraded", "node-misbehaving"]);

const NodePair = Schema.Tuple([ProducerId, ProducerId]);
/** What a root cause blames, as `root-cause.ts` reports it. */
export const Blamed = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("node"), node: ProducerId, link: Schema.optionalKey(NodePair) }),
  Schema.Struct({ kind: Schema.Literal("link"), link: NodePair }),
  Schema.Struct({
    kind: Schema.Literal("cut"),
    nodes: Schema.Array(ProducerId).pipe(Schema.check(Schema.isMaxLength(256))),
    links: Schema.Array(NodePair).pipe(Schema.check(Schema.isMaxLength(256))),
  }),
]);

// Compile-time guard: the schemas and root-cause.ts must describe the same shapes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type RootCauseSchemasMatch = [
  Assert<Same<typeof RootCauseKind.Type, RootCauseKindOf>>,
  Assert<Same<typeof FindingKind.Type, FindingKindOf>>,
  Assert<typeof Blamed.Type extends RootCauseBlamed ? true : false>,
  Assert<Same<typeof ExpectedEffect.Type, ExpectedEffectOf>>,
];

/**
 * What the loop checks after the settle time to call a plan a recovery (`plan.ts`'s
 * `ExpectedEffect`), carried in the plan so a restarted loop or an auditor can check it again.
 */
export const ExpectedEffect = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("route-avoids-link"), link: NodePair }),
  Schema.Struct({ kind: Schema.Literal("node-reachable"), node: ProducerId }),
  Schema.Struct({ kind: Schema.Literal("traffic-below"), node: ProducerId, pps: NonNegativeInt }),
  Schema.Struct({ kind: Schema.Literal("node-isolated"), node: ProducerId, atNodes: Schema.Array(ProducerId).pipe(Schema.check(Schema.isMaxLength(256))) }),
  Schema.Struct({ kind: Schema.Literal("gateway-serving"), node: ProducerId }),
  Schema.Struct({ kind: Schema.Literal("link-healthy"), link: NodePair }),
]);

/** A Linux interface name (IFNAMSIZ: at most 15 characters). */
export const InterfaceName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,15}$/u, { description: "interface name, 1-15 of A-Z a-z 0-9 _ . -" })),
);

const ipv4Octet = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
export const Ipv4Address = Schema.String.pipe(
  Schema.check(Schema.isPattern(new RegExp(`^${ipv4Octet}(\\.${ipv4Octet}){3}$`, "u"), { description: "IPv4 address, dotted quad" })),
);
/** Lower-case IPv6 prefix in CIDR form, e.g. `fd00:1:2::/64`; shape-checked, not fully parsed. */
export const Ipv6Prefix = Schema.String.pipe(
  Schema.check(
    Schema.isPattern(/^(?=.*:)[0-9a-f:]{2,39}\/(12[0-8]|1[01]\d|[1-9]?\d)$/u, { description: "IPv6 prefix, lower-case, e.g. fd00::/64" }),
    Schema.makeFilter((s: string) => ((s.match(/::/gu)?.length ?? 0) <= 1 ? true : "at most one '::'")),
  ),
);

/** Whose traffic a quarantine, release or rate limit matches: a MAC (batman-adv layer 2), an IPv4 address or an IPv6 prefix. */
export const TrafficSource = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("mac"), mac: MacAddress }),
  Schema.Struct({ kind: Schema.Literal("ipv4"), address: Ipv4Address }),
  Schema.Struct({ kind: Schema.Literal("ipv6-prefix"), prefix: Ipv6Prefix }),
]);
export type TrafficSource = typeof TrafficSource.Type;

const Kbps = NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(100_000_000)));
const PositiveInt = (maximum: number) => NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum })));

/**
 * What a node is told to do, one member per mechanism; names and ranges follow batctl:
 * - `hop-penalty`: `batctl hop_penalty <value>` (mesh-wide, `hardIf` absent) or
 *   `batctl hardif <hardIf> hop_penalty <value>` (batman-adv 2020.3+); 0-255.
 * - `gateway`: `batctl gw_mode off|client [selClass]|server [downKbps/upKbps]`.
 * - `quarantine` / `release`: drop (stop dropping) frames from `source` in XDP on the node;
 *   a quarantine with `ttlMs` is a fence the node lifts by itself.
 * - `rate-limit`: cap `source` at `pps` packets per second with a token bucket of `burst`.
 * - `restart-interface`: take `ifname` down and up again.
 */
export const HealingAction = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("hop-penalty"),
    hardIf: Schema.optionalKey(InterfaceName),
    value: NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(255))),
  }),
  Schema.Struct({
    kind: Schema.Literal("gateway"),
    mode: Schema.Literals(["off", "client", "server"]),
    /** Client only: batman-adv gateway selection class. */
    selClass: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(255)))),
    /** Server only: advertised bandwidth, kbit/s. */
    downKbps: Schema.optionalKey(Kbps),
    upKbps: Schema.optionalKey(Kbps),
  }).pipe(
    Schema.check(
      Schema.makeFilter((g: { readonly mode: string; readonly selClass?: number; readonly downKbps?: number; readonly upKbps?: number }) =>
        g.mode !== "client" && g.selClass !== undefined
          ? "selClass applies to mode client only"
          : g.mode !== "server" && (g.downKbps !== undefined || g.upKbps !== undefined)
            ? "downKbps/upKbps apply to mode server only"
            : true,
      ),
    ),
  ),
  Schema.Struct({
    kind: Schema.Literal("quarantine"),
    source: TrafficSource,
    /** A fence: the node lifts the block by itself after this long, ms. Absent: until released. */
    ttlMs: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 86_400_000 })))),
  }),
  Schema.Struct({ kind: Schema.Literal("release"), source: TrafficSource }),
  Schema.Struct({
    kind: Schema.Literal("rate-limit"),
    source: TrafficSource,
    pps: PositiveInt(10_000_000),
    burst: PositiveInt(10_000_000),
  }),
  Schema.Struct({ kind: Schema.Literal("restart-interface"), ifname: InterfaceName }),
]);
export type HealingAction = typeof HealingAction.Type;

/** Most nodes listed by name in one incident; `affectedCount` carries the true number. */
export const MAX_LISTED_AFFECTED = 1024;
/** Most nodes one planned action may address (quarantine at every neighbour of a gateway). */
export const MAX_ACTION_TARGETS = 256;

/** The loop localized a failure (`localizeRootCauses`) and opened an incident for it. */
export const IncidentDetected = defineEvent(
  "heal.IncidentDetected",
  Schema.Struct({
    incidentId: IncidentId,
    kind: FindingKind,
    blamed: Blamed,
    /** Affected nodes, sorted, at most `MAX_LISTED_AFFECTED` of them (a partition of a large mesh lists the first). */
    affected: Schema.Array(ProducerId).pipe(Schema.check(Schema.isMaxLength(MAX_LISTED_AFFECTED))),
    affectedCount: NonNegativeInt,
    reason: text(1024),
    detectedAt: EpochMs,
    /**
     * The earliest evidence of the failure (the last heartbeat of a silent node, the first
     * bad sample of a link): detection time is `detectedAt - onsetAt`, time to repair
     * `Recovered.verifiedAt - onsetAt`.
     */
    onsetAt: Schema.optionalKey(EpochMs),
  }).pipe(
    Schema.check(
      Schema.makeFilter((d: { readonly affected: readonly string[]; readonly affectedCount: number }) =>
        d.affectedCount >= d.affected.length ? true : "affectedCount is below the number of affected nodes listed",
      ),
    ),
  ),
  // 1024 ids of up to 64 characters plus the blamed cut: ~70 KB at worst.
  { maxPayloadBytes: 96 * 1024 },
);

/** Most steps one plan holds (a re-route raises hop_penalty on each end and interface). */
export const MAX_PLAN_STEPS = 16;

/** One action of a plan and the nodes that must each carry it out. */
export const PlanStep = Schema.Struct({
  action: HealingAction,
  targetNodeIds: Schema.Array(ProducerId).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_ACTION_TARGETS), Schema.isUnique())),
});
export type PlanStep = typeof PlanStep.Type;

/**
 * A policy chose a plan for the incident: its steps, each an action for its target nodes (one
 * command per step and target), and the effect to verify once every command was applied.
 */
export const ActionPlanned = defineEvent(
  "heal.ActionPlanned",
  Schema.Struct({
    incidentId: IncidentId,
    actionId: ActionId,
    policy: PolicyName,
    steps: Schema.Array(PlanStep).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_PLAN_STEPS))),
    /** What the loop checks after the settle time, in words an operator reads. */
    expectedEffect: text(512),
    /** The same, as the loop checks it. */
    effects: Schema.Array(ExpectedEffect).pipe(Schema.check(Schema.isMaxLength(1024))),
    /** How long after the last target applied the command the effect must be visible. */
    settleMs: NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(600_000))),
    /** Escalate if the incident is not recovered by then. */
    deadline: EpochMs,
  }),
  { maxPayloadBytes: 96 * 1024 },
);

/**
 * A command addressed to one node, on `heal.<targetNodeId>.command`. The loop's commands
 * belong to an incident; an operator's (`x0 heal ...`) may not.
 */
export const HealingCommandIssued = defineEvent(
  "heal.HealingCommandIssued",
  Schema.Struct({
    commandId: CommandId,
    incidentId: Schema.optionalKey(IncidentId),
    targetNodeId: ProducerId,
    action: HealingAction,
    /** The plan step this command carries out (loop commands). */
    step: Schema.optionalKey(NonNegativeInt.pipe(Schema.check(Schema.isLessThan(MAX_PLAN_STEPS)))),
    issuedBy: Schema.Literals(["operator", "loop"]),
  }).pipe(
    Schema.check(
      Schema.makeFilter((c: { readonly issuedBy: string; readonly incidentId?: string; readonly step?: number }) =>
        c.issuedBy === "loop" && (c.incidentId === undefined || c.step === undefined) ? "a loop command belongs to an incident and a plan step" : true,
      ),
    ),
  ),
  { maxPayloadBytes: 2048 },
);

/** The node carried the command out (exit code 0), on `heal.<targetNodeId>.outcome`. */
export const CommandApplied = defineEvent(
  "heal.CommandApplied",
  Schema.Struct({
    commandId: CommandId,
    /** Copied from the command, so the outcome joins its incident's chain. */
    incidentId: Schema.optionalKey(IncidentId),
    targetNodeId: ProducerId,
    exitCode: Schema.Literal(0),
    detail: text(1024),
    /** When the node finished applying it (the node's clock). */
    appliedAt: EpochMs,
  }),
  { maxPayloadBytes: 4096 },
);

/** Most stderr a failure carries; the node agent keeps the tail. */
export const MAX_STDERR = 4096;

/** The node could not carry the command out, on `heal.<targetNodeId>.outcome`. */
export const CommandFailed = defineEvent(
  "heal.CommandFailed",
  Schema.Struct({
    commandId: CommandId,
    incidentId: Schema.optionalKey(IncidentId),
    targetNodeId: ProducerId,
    /** Non-zero process exit code; 128 + n for a process killed by signal n, as the shell reports it. */
    exitCode: NonNegativeInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 255 }))),
    stderr: text(MAX_STDERR),
    failedAt: EpochMs,
  }),
  { maxPayloadBytes: 8 * 1024 },
);

/** The expected effect was observed: the incident is over. */
export const Recovered = defineEvent(
  "heal.Recovered",
  Schema.Struct({
    incidentId: IncidentId,
    verifiedAt: EpochMs,
    /** What was observed, e.g. "every surviving pair has a route again (412 pairs)". */
    evidence: text(2048),
  }),
  { maxPayloadBytes: 4096 },
);

/** Healing did not work (a command failed, the effect did not show, the deadline passed): over to the operator. */
export const Escalated = defineEvent(
  "heal.Escalated",
  Schema.Struct({
    incidentId: IncidentId,
    reason: text(1024),
    escalatedAt: EpochMs,
  }),
  { maxPayloadBytes: 2048 },
);

export const healEvents = [IncidentDetected, ActionPlanned, HealingCommandIssued, CommandApplied, CommandFailed, Recovered, Escalated] as const;

export type IncidentDetected = typeof IncidentDetected.schema.Type;
export type ActionPlanned = typeof ActionPlanned.schema.Type;
export type HealingCommandIssued = typeof HealingCommandIssued.schema.Type;
export type CommandApplied = typeof CommandApplied.schema.Type;
export type CommandFailed = typeof CommandFailed.schema.Type;
export type Recovered = typeof Recovered.schema.Type;
export type Escalated = typeof Escalated.schema.Type;

/** Where a node reads the commands addressed to it. */
export const healCommandSubject = (nodeId: string): string => `heal.${nodeId}.command`;
/** Where a node answers them. */
export const healOutcomeSubject = (nodeId: string): string => `heal.${nodeId}.outcome`;
/** An incident's own lifecycle events. */
export const incidentSubject = (incidentId: string): string => `heal.incident.${incidentId}`;

export type HealEvent =
  | { readonly type: typeof IncidentDetected.type; readonly data: IncidentDetected }
  | { readonly type: typeof ActionPlanned.type; readonly data: ActionPlanned }
  | { readonly type: typeof HealingCommandIssued.type; readonly data: HealingCommandIssued }
  | { readonly type: typeof CommandApplied.type; readonly data: CommandApplied }
  | { readonly type: typeof CommandFailed.type; readonly data: CommandFailed }
  | { readonly type: typeof Recovered.type; readonly data: Recovered }
  | { readonly type: typeof Escalated.type; readonly data: Escalated };

/** The subject an event is appended to: commands to their node, outcomes from it, the rest to the incident. */
export const healSubjectOf = (event: HealEvent): string => {
  switch (event.type) {
    case "heal.HealingCommandIssued":
      return healCommandSubject(event.data.targetNodeId);
    case "heal.CommandApplied":
    case "heal.CommandFailed":
      return healOutcomeSubject(event.data.targetNodeId);
    default:
      return incidentSubject(event.data.incidentId);
  }
};
