import type { Fault } from "../../domains/chaos/index.ts";
import type { CommandApplied, CommandFailed, FindingKind, HealingAction, IncidentState, IncidentStatus, TrafficSource } from "../../domains/healing/index.ts";
import { detectionSeconds, timeToRecoverSeconds, type ChainLink, type FaultRecord, type IncidentRecord, type OperatorCommandRecord } from "./model.ts";

/*
 * The incident log rendered for readers (the HTTP API, `x0 incidents --json`): summary times as
 * RFC 3339, the domain state as the events carry it (epoch ms), chains in stream order.
 */

const iso = (ms: number): string => new Date(ms).toISOString();

export interface IncidentSummaryView {
  readonly incidentId: string;
  readonly status: IncidentStatus;
  readonly kind?: FindingKind;
  readonly reason?: string;
  readonly affectedCount?: number;
  readonly onsetAt?: string;
  readonly detectedAt?: string;
  readonly actionId?: string;
  readonly policy?: string;
  readonly commands: { readonly issued: number; readonly applied: number; readonly failed: number };
  readonly recoveredAt?: string;
  readonly escalatedAt?: string;
  readonly escalationReason?: string;
  readonly detectionSeconds?: number;
  readonly timeToRecoverSeconds?: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly eventCount: number;
}

export interface IncidentDetailView {
  readonly incident: IncidentSummaryView;
  readonly state: IncidentState;
  readonly chain: readonly ChainLink[];
}

export interface OperatorCommandView {
  readonly commandId: string;
  readonly targetNodeId: string;
  readonly action: HealingAction;
  readonly issuer: string;
  readonly issuedAt: string;
  readonly status: "issued" | "applied" | "failed";
  readonly applied?: CommandApplied;
  readonly failed?: CommandFailed;
  readonly seq: number;
  readonly chain: readonly ChainLink[];
}

export interface FaultView {
  readonly faultId: string;
  readonly scenario?: string;
  readonly fault?: Fault;
  readonly injectedAt?: string;
  readonly clearedAt?: string;
  readonly active: boolean;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

const commandCounts = (state: IncidentState) => {
  let applied = 0;
  let failed = 0;
  for (const c of state.commands) {
    if (c.applied) applied++;
    if (c.failed) failed++;
  }
  return { issued: state.commands.length, applied, failed };
};

export const incidentSummary = (record: IncidentRecord): IncidentSummaryView => {
  const { state } = record;
  const d = state.detected;
  const detection = detectionSeconds(state);
  const recovery = timeToRecoverSeconds(state);
  return {
    incidentId: record.incidentId,
    status: state.status,
    ...(d ? { kind: d.kind, reason: d.reason, affectedCount: d.affectedCount } : {}),
    ...(d?.onsetAt !== undefined ? { onsetAt: iso(d.onsetAt) } : {}),
    ...(d ? { detectedAt: iso(d.detectedAt) } : {}),
    ...(state.plan ? { actionId: state.plan.actionId, policy: state.plan.policy } : {}),
    commands: commandCounts(state),
    ...(state.recovered ? { recoveredAt: iso(state.recovered.verifiedAt) } : {}),
    ...(state.escalated ? { escalatedAt: iso(state.escalated.escalatedAt), escalationReason: state.escalated.reason } : {}),
    ...(detection !== undefined ? { detectionSeconds: detection } : {}),
    ...(recovery !== undefined ? { timeToRecoverSeconds: recovery } : {}),
    firstSeq: record.firstSeq,
    lastSeq: record.seq,
    eventCount: record.chain.length,
  };
};

export const incidentDetail = (record: IncidentRecord): IncidentDetailView => ({
  incident: incidentSummary(record),
  state: record.state,
  chain: record.chain,
});

export const operatorCommandView = (record: OperatorCommandRecord): OperatorCommandView => ({
  commandId: record.commandId,
  targetNodeId: record.issued.targetNodeId,
  action: record.issued.action,
  issuer: record.issuer,
  issuedAt: record.issuedAt,
  status: record.applied ? "applied" : record.failed ? "failed" : "issued",
  ...(record.applied ? { applied: record.applied } : {}),
  ...(record.failed ? { failed: record.failed } : {}),
  seq: record.firstSeq,
  chain: record.chain,
});

export const faultView = (record: FaultRecord): FaultView => ({
  faultId: record.faultId,
  ...(record.injected ? { scenario: record.injected.scenario, fault: record.injected.fault, injectedAt: iso(record.injected.injectedAt) } : {}),
  ...(record.cleared ? { clearedAt: iso(record.cleared.clearedAt) } : {}),
  active: record.injected !== undefined && record.cleared === undefined,
  firstSeq: record.firstSeq,
  lastSeq: record.seq,
});

const sourceText = (source: TrafficSource): string => (source.kind === "mac" ? source.mac : source.kind === "ipv4" ? source.address : source.prefix);

/** The one-line description of an action an operator reads, e.g. `hop-penalty 60 on wlan0`. */
export const describeAction = (action: HealingAction): string => {
  switch (action.kind) {
    case "hop-penalty":
      return `hop-penalty ${action.value}${action.hardIf ? ` on ${action.hardIf}` : ""}`;
    case "gateway": {
      const selClass = action.selClass !== undefined ? ` class ${action.selClass}` : "";
      const bandwidth = action.downKbps !== undefined || action.upKbps !== undefined ? ` ${action.downKbps ?? "?"}/${action.upKbps ?? "?"} kbit/s` : "";
      return `gateway ${action.mode}${selClass}${bandwidth}`;
    }
    case "quarantine":
    case "release":
      return `${action.kind} ${sourceText(action.source)}`;
    case "rate-limit":
      return `rate-limit ${sourceText(action.source)} ${action.pps} pps burst ${action.burst}`;
    case "restart-interface":
      return `restart-interface ${action.ifname}`;
  }
};
