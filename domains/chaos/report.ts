/**
 * Detection time and time to repair, from the HEAL log alone: the faults a chaos run
 * injected (`chaos.FaultInjected`) and the incidents the loop recorded. Pure.
 *
 * An incident answers a fault when it was detected while the fault was active (from its
 * injection to `matchWithinMs` after it was cleared) and blames what the fault broke: the
 * node itself, one of its links, or a cut or affected set that contains it. Each incident
 * answers at most one fault (the earliest injected it matches).
 *
 * - detection time = `IncidentDetected.detectedAt - injectedAt`
 * - time to repair = `Recovered.verifiedAt - injectedAt` (undefined when escalated or open)
 */
import type { ActionPlanned, Escalated, IncidentDetected, Recovered } from "../healing/events.ts";
import type { Fault, FaultCleared, FaultInjected, FaultKind } from "./events.ts";

export interface LoggedFault {
  readonly faultId: string;
  readonly scenario: string;
  readonly fault: Fault;
  readonly injectedAt: number;
  readonly clearedAt?: number;
}

export interface LoggedIncident {
  readonly incidentId: string;
  readonly kind: string;
  readonly blamed: { readonly kind: string; readonly node?: string; readonly link?: readonly string[]; readonly nodes?: readonly string[]; readonly links?: readonly (readonly string[])[] };
  readonly affected: readonly string[];
  readonly detectedAt: number;
  readonly policy?: string;
  readonly recoveredAt?: number;
  readonly escalatedAt?: number;
  readonly escalationReason?: string;
}

/** The root causes a fault of each kind should be localized as. */
export const expectedRootCauses: Readonly<Record<FaultKind, readonly string[]>> = {
  "node-crash": ["node-dead"],
  "node-hang": ["node-silent"],
  "link-degradation": ["link-degraded"],
  "link-flap": ["link-dead", "link-degraded"],
  partition: ["partition", "upstream-failure"],
  byzantine: ["node-misbehaving"],
  jamming: ["link-degraded", "link-dead", "upstream-failure", "partition", "node-dead"],
};

export interface FaultOutcome {
  readonly fault: LoggedFault;
  /** Incidents that answered it, earliest first. */
  readonly incidents: readonly LoggedIncident[];
  /** The first incident's kind is one the fault should be localized as. */
  readonly rootCauseRight: boolean;
  readonly detectionMs: number | undefined;
  readonly timeToRepairMs: number | undefined;
  readonly status: "recovered" | "escalated" | "open" | "undetected";
}

export interface ChaosReport {
  readonly faults: readonly FaultOutcome[];
  /** Incidents that answer no fault: false positives of this run. */
  readonly unexplained: readonly LoggedIncident[];
}

/** Nodes a fault touches, for matching; `jamming` needs the caller's view of the region. */
export const faultNodes = (fault: Fault, regionNodes?: (fault: Fault) => readonly string[]): string[] => {
  switch (fault.kind) {
    case "node-crash":
    case "node-hang":
    case "byzantine":
      return [fault.node];
    case "link-degradation":
    case "link-flap":
      return [...fault.link];
    case "partition":
      return [...fault.nodes];
    case "jamming":
      return [...(regionNodes?.(fault) ?? [])];
  }
};

const blamedNodes = (i: LoggedIncident): Set<string> => {
  const b = i.blamed;
  const out = new Set<string>(i.affected);
  if (b.node) out.add(b.node);
  for (const n of b.link ?? []) out.add(n);
  for (const n of b.nodes ?? []) out.add(n);
  for (const l of b.links ?? []) for (const n of l) out.add(n);
  return out;
};

const answers = (fault: LoggedFault, incident: LoggedIncident, nodes: readonly string[]): boolean => {
  const f = fault.fault;
  const blamed = blamedNodes(incident);
  if (f.kind === "link-degradation" || f.kind === "link-flap") {
    const [a, b] = f.link;
    const link = incident.blamed.link;
    if (link) return (link[0] === a && link[1] === b) || (link[0] === b && link[1] === a);
    return (incident.blamed.links ?? []).some(([x, y]) => (x === a && y === b) || (x === b && y === a));
  }
  return nodes.some((n) => blamed.has(n));
};

export const chaosReport = (
  faults: readonly LoggedFault[],
  incidents: readonly LoggedIncident[],
  options: { readonly matchWithinMs?: number; readonly regionNodes?: (fault: Fault) => readonly string[] } = {},
): ChaosReport => {
  const within = options.matchWithinMs ?? 5_000;
  const byTime = [...incidents].sort((x, y) => x.detectedAt - y.detectedAt);
  const used = new Set<string>();
  const outcomes = [...faults]
    .sort((x, y) => x.injectedAt - y.injectedAt)
    .map((fault): FaultOutcome => {
      const nodes = faultNodes(fault.fault, options.regionNodes);
      const end = (fault.clearedAt ?? Infinity) + within;
      const mine = byTime.filter((i) => !used.has(i.incidentId) && i.detectedAt >= fault.injectedAt && i.detectedAt <= end && answers(fault, i, nodes));
      for (const i of mine) used.add(i.incidentId);
      const first = mine[0];
      if (!first) return { fault, incidents: [], rootCauseRight: false, detectionMs: undefined, timeToRepairMs: undefined, status: "undetected" };
      const status = first.recoveredAt !== undefined ? "recovered" : first.escalatedAt !== undefined ? "escalated" : "open";
      return {
        fault,
        incidents: mine,
        rootCauseRight: expectedRootCauses[fault.fault.kind].includes(first.kind),
        detectionMs: first.detectedAt - fault.injectedAt,
        timeToRepairMs: first.recoveredAt !== undefined ? first.recoveredAt - fault.injectedAt : undefined,
        status,
      };
    });
  return { faults: outcomes, unexplained: byTime.filter((i) => !used.has(i.incidentId)) };
};

/** The p-th percentile (0-100) by nearest rank; undefined for no values. */
export const percentile = (values: readonly number[], p: number): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};

/**
 * Folds HEAL events (type, payload), oldest first, into the faults and incidents a report
 * needs. Other event types are ignored.
 */
export const collectChaosLog = (events: Iterable<{ readonly type: string; readonly data: unknown }>): { faults: LoggedFault[]; incidents: LoggedIncident[] } => {
  const faults = new Map<string, LoggedFault>();
  const incidents = new Map<string, LoggedIncident>();
  const update = (id: string, patch: Partial<LoggedIncident>) => {
    const i = incidents.get(id);
    if (i) incidents.set(id, { ...i, ...patch });
  };
  for (const { type, data } of events) {
    switch (type) {
      case "chaos.FaultInjected": {
        const d = data as FaultInjected;
        faults.set(d.faultId, { faultId: d.faultId, scenario: d.scenario, fault: d.fault, injectedAt: d.injectedAt });
        break;
      }
      case "chaos.FaultCleared": {
        const d = data as FaultCleared;
        const f = faults.get(d.faultId);
        if (f) faults.set(d.faultId, { ...f, clearedAt: d.clearedAt });
        break;
      }
      case "heal.IncidentDetected": {
        const d = data as IncidentDetected;
        incidents.set(d.incidentId, { incidentId: d.incidentId, kind: d.kind, blamed: d.blamed, affected: d.affected, detectedAt: d.detectedAt });
        break;
      }
      case "heal.ActionPlanned": {
        const d = data as ActionPlanned;
        update(d.incidentId, { policy: d.policy });
        break;
      }
      case "heal.Recovered": {
        const d = data as Recovered;
        update(d.incidentId, { recoveredAt: d.verifiedAt });
        break;
      }
      case "heal.Escalated": {
        const d = data as Escalated;
        update(d.incidentId, { escalatedAt: d.escalatedAt, escalationReason: d.reason });
        break;
      }
    }
  }
  return { faults: [...faults.values()], incidents: [...incidents.values()] };
};
