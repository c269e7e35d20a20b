import type { FaultCleared, FaultInjected } from "../../domains/chaos/index.ts";
import {
  evolve,
  initialState,
  type CommandApplied,
  type CommandFailed,
  type HealEvent,
  type HealingCommandIssued,
  type IncidentState,
  type IncidentStatus,
} from "../../domains/healing/index.ts";

/*
 * The HEAL stream as operators read it: each incident folded with the domain's `evolve`, with
 * the chain of events that made it; operator commands outside any incident, with their
 * outcome; injected faults. Rebuilt from HEAL alone, by `x0 up`'s projection and by the CLI's
 * replay alike. Mutable container, idempotent by stream sequence per record: an event at or
 * below a record's sequence is a replay and changes nothing.
 */

/** One event of a chain: where it is stored, what it is, and the chain it belongs to. */
export interface ChainLink {
  readonly seq: number;
  readonly subject: string;
  readonly type: string;
  readonly eventId: string;
  readonly producerId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** RFC 3339, from the envelope. */
  readonly occurredAt: string;
  /** The event changed nothing (a repeat, or a fact that does not fit the state); kept because it is in the stream. */
  readonly ignored?: true;
}

/** What the log reads of a verified event: the runner's `VerifiedEvent` and a replay's `ReadEvent` both fit. */
export interface LoggedEvent {
  readonly seq: number;
  readonly meta: Omit<ChainLink, "seq" | "ignored">;
  readonly payload: unknown;
}

/** Which of an incident's measurements have been exported as metrics (persisted, so a replay does not export them again). */
export interface Reported {
  readonly detection: boolean;
  readonly outcome: boolean;
}

export interface IncidentRecord {
  readonly incidentId: string;
  /** Stream sequence of the incident's first event: the list is newest first by it. */
  readonly firstSeq: number;
  /** Stream sequence of the last event applied to it. */
  readonly seq: number;
  readonly state: IncidentState;
  readonly chain: readonly ChainLink[];
  readonly reported: Reported;
}

/** An operator's command outside any incident (`x0 heal`), with the node's answer. */
export interface OperatorCommandRecord {
  readonly commandId: string;
  readonly firstSeq: number;
  readonly seq: number;
  readonly issued: HealingCommandIssued;
  /** Producer that signed the command. */
  readonly issuer: string;
  /** RFC 3339, the command's occurredAt. */
  readonly issuedAt: string;
  readonly applied?: CommandApplied;
  readonly failed?: CommandFailed;
  readonly chain: readonly ChainLink[];
}

export interface FaultRecord {
  readonly faultId: string;
  readonly firstSeq: number;
  readonly seq: number;
  readonly injected?: FaultInjected;
  readonly cleared?: FaultCleared;
  readonly chain: readonly ChainLink[];
}

/** The KV key of a record; also what `apply` returns for the record it changed. */
export type RecordKey = `incident.${string}` | `command.${string}` | `fault.${string}`;

/** `open` is any incident detected and not yet over. */
export type IncidentStatusFilter = "open" | "recovered" | "escalated";

export interface IncidentFilter {
  readonly status?: IncidentStatusFilter;
  readonly kind?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type ChainOwner = { seq: number; chain: ChainLink[] };

const terminal = (s: IncidentStatus): boolean => s === "recovered" || s === "escalated";

export const matchesStatus = (status: IncidentStatus, filter: IncidentStatusFilter): boolean =>
  filter === "open" ? status !== "none" && !terminal(status) : status === filter;

/** Seconds from the failure's onset to its detection; only when the detection names an onset. */
export const detectionSeconds = (state: IncidentState): number | undefined => {
  const d = state.detected;
  return d?.onsetAt === undefined ? undefined : Math.max(0, d.detectedAt - d.onsetAt) / 1000;
};

/** Seconds from onset (else detection) to the verified recovery. */
export const timeToRecoverSeconds = (state: IncidentState): number | undefined => {
  const d = state.detected;
  if (!d || !state.recovered) return undefined;
  return Math.max(0, state.recovered.verifiedAt - (d.onsetAt ?? d.detectedAt)) / 1000;
};

const link = (event: LoggedEvent, ignored: boolean): ChainLink => {
  const { subject, type, eventId, producerId, correlationId, causationId, occurredAt } = event.meta;
  return { seq: event.seq, subject, type, eventId, producerId, correlationId, causationId, occurredAt, ...(ignored ? { ignored: true as const } : {}) };
};

const newestFirst = (a: { firstSeq: number }, b: { firstSeq: number }) => b.firstSeq - a.firstSeq;

export class IncidentLog {
  private readonly byIncident = new Map<string, Mutable<IncidentRecord> & ChainOwner>();
  private readonly byCommand = new Map<string, Mutable<OperatorCommandRecord> & ChainOwner>();
  private readonly byFault = new Map<string, Mutable<FaultRecord> & ChainOwner>();
  /** Which incident a loop command belongs to, so an outcome that does not name its incident finds it. */
  private readonly incidentOfCommand = new Map<string, string>();

  /** Applies one verified HEAL or chaos event; returns the key of the record it touched. */
  apply(event: LoggedEvent): RecordKey | undefined {
    const type = event.meta.type;
    if (type === "chaos.FaultInjected" || type === "chaos.FaultCleared") return this.applyFault(event);
    const heal = { type, data: event.payload } as HealEvent;
    switch (heal.type) {
      case "heal.HealingCommandIssued":
        return heal.data.incidentId === undefined ? this.applyOperatorCommand(event, heal.data) : this.applyToIncident(heal.data.incidentId, event, heal);
      case "heal.CommandApplied":
      case "heal.CommandFailed": {
        const { commandId } = heal.data;
        const incidentId = heal.data.incidentId ?? this.incidentOfCommand.get(commandId);
        if (incidentId !== undefined) return this.applyToIncident(incidentId, event, heal);
        return this.byCommand.has(commandId) ? this.applyOperatorOutcome(event, heal) : undefined;
      }
      case "heal.IncidentDetected":
      case "heal.ActionPlanned":
      case "heal.Recovered":
      case "heal.Escalated":
        return this.applyToIncident(heal.data.incidentId, event, heal);
      default:
        return undefined;
    }
  }

  private applyToIncident(incidentId: string, event: LoggedEvent, heal: HealEvent): RecordKey | undefined {
    let record = this.byIncident.get(incidentId);
    if (record && event.seq <= record.seq) return undefined;
    const before = record?.state ?? initialState();
    const state = evolve(before, heal);
    if (!record) {
      record = { incidentId, firstSeq: event.seq, seq: event.seq, state, chain: [], reported: { detection: false, outcome: false } };
      this.byIncident.set(incidentId, record);
    }
    record.seq = event.seq;
    record.state = state;
    record.chain.push(link(event, state === before));
    if (heal.type === "heal.HealingCommandIssued" && !this.incidentOfCommand.has(heal.data.commandId)) this.incidentOfCommand.set(heal.data.commandId, incidentId);
    return `incident.${incidentId}`;
  }

  private applyOperatorCommand(event: LoggedEvent, issued: HealingCommandIssued): RecordKey | undefined {
    const key = `command.${issued.commandId}` as const;
    const existing = this.byCommand.get(issued.commandId);
    if (existing) return this.touch(existing, event, true) ? key : undefined;
    this.byCommand.set(issued.commandId, {
      commandId: issued.commandId,
      firstSeq: event.seq,
      seq: event.seq,
      issued,
      issuer: event.meta.producerId,
      issuedAt: event.meta.occurredAt,
      chain: [link(event, false)],
    });
    return key;
  }

  private applyOperatorOutcome(event: LoggedEvent, heal: HealEvent & { type: "heal.CommandApplied" | "heal.CommandFailed" }): RecordKey | undefined {
    const record = this.byCommand.get(heal.data.commandId)!;
    // First outcome wins, as in the incident decider; an outcome from a node that was not the target changes nothing.
    const fits = !record.applied && !record.failed && heal.data.targetNodeId === record.issued.targetNodeId;
    if (!this.touch(record, event, !fits)) return undefined;
    if (fits) {
      if (heal.type === "heal.CommandApplied") record.applied = heal.data;
      else record.failed = heal.data;
    }
    return `command.${record.commandId}`;
  }

  private applyFault(event: LoggedEvent): RecordKey | undefined {
    const payload = event.payload as FaultInjected | FaultCleared;
    const key = `fault.${payload.faultId}` as const;
    let record = this.byFault.get(payload.faultId);
    if (!record) {
      record = { faultId: payload.faultId, firstSeq: event.seq, seq: 0, chain: [] };
      this.byFault.set(payload.faultId, record);
    }
    const injected = event.meta.type === "chaos.FaultInjected";
    const fits = injected ? !record.injected : !record.cleared;
    if (!this.touch(record, event, !fits)) return undefined;
    if (fits && injected) record.injected = payload as FaultInjected;
    else if (fits) record.cleared = payload as FaultCleared;
    return key;
  }

  /** Appends the event to a record's chain unless it is a replay; false for a replay. */
  private touch(record: ChainOwner, event: LoggedEvent, ignored: boolean): boolean {
    if (event.seq <= record.seq) return false;
    record.seq = event.seq;
    record.chain.push(link(event, ignored));
    return true;
  }

  /** Marks measurements of an incident as exported. */
  markReported(incidentId: string, reported: Reported): void {
    const record = this.byIncident.get(incidentId);
    if (record) record.reported = reported;
  }

  /** Restores a persisted record (from KV) without replaying its events. */
  load(key: RecordKey, value: unknown): void {
    if (key.startsWith("incident.")) {
      const record = value as IncidentRecord;
      this.byIncident.set(record.incidentId, { ...record, chain: [...record.chain] });
      for (const c of record.state.commands) if (!this.incidentOfCommand.has(c.issued.commandId)) this.incidentOfCommand.set(c.issued.commandId, record.incidentId);
    } else if (key.startsWith("command.")) {
      const record = value as OperatorCommandRecord;
      this.byCommand.set(record.commandId, { ...record, chain: [...record.chain] });
    } else if (key.startsWith("fault.")) {
      const record = value as FaultRecord;
      this.byFault.set(record.faultId, { ...record, chain: [...record.chain] });
    }
  }

  /** The record stored under a key, as persisted. */
  record(key: RecordKey): IncidentRecord | OperatorCommandRecord | FaultRecord | undefined {
    const dot = key.indexOf(".");
    const id = key.slice(dot + 1);
    switch (key.slice(0, dot)) {
      case "incident":
        return this.byIncident.get(id);
      case "command":
        return this.byCommand.get(id);
      default:
        return this.byFault.get(id);
    }
  }

  incident(incidentId: string): IncidentRecord | undefined {
    return this.byIncident.get(incidentId);
  }

  /** Incidents, newest first (by the stream sequence of their first event). */
  incidents(filter: IncidentFilter = {}): IncidentRecord[] {
    const out: IncidentRecord[] = [];
    for (const r of this.byIncident.values()) {
      if (filter.status !== undefined && !matchesStatus(r.state.status, filter.status)) continue;
      if (filter.kind !== undefined && r.state.detected?.kind !== filter.kind) continue;
      out.push(r);
    }
    return out.sort(newestFirst);
  }

  operatorCommand(commandId: string): OperatorCommandRecord | undefined {
    return this.byCommand.get(commandId);
  }

  /** Operator commands outside incidents, newest first; `node` keeps those addressed to one node. */
  operatorCommands(filter: { readonly node?: string } = {}): OperatorCommandRecord[] {
    return [...this.byCommand.values()].filter((c) => filter.node === undefined || c.issued.targetNodeId === filter.node).sort(newestFirst);
  }

  fault(faultId: string): FaultRecord | undefined {
    return this.byFault.get(faultId);
  }

  /** Injected faults, newest first. */
  faults(): FaultRecord[] {
    return [...this.byFault.values()].sort(newestFirst);
  }

  get size(): { readonly incidents: number; readonly operatorCommands: number; readonly faults: number } {
    return { incidents: this.byIncident.size, operatorCommands: this.byCommand.size, faults: this.byFault.size };
  }
}
