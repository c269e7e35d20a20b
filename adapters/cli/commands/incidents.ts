import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { FindingKindSchema } from "../../../domains/healing/index.ts";
import type { ProducerEnrolled } from "../../../domains/identity/index.ts";
import { NodeAnnounced, type NodeAnnounced as Announcement } from "../../../domains/mesh/index.ts";
import { EnrolledProducers } from "../../../projections/identity/index.ts";
import {
  authorizeHealEvent,
  describeAction,
  incidentDetail,
  incidentSummary,
  IncidentLog,
  operatorCommandView,
  type IncidentStatusFilter,
  type IncidentSummaryView,
  type OperatorCommandView,
} from "../../../projections/incidents/index.ts";
import { connectNats } from "../../../streams/connection.ts";
import { inspect, readEvents } from "../../../streams/event-reader.ts";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import { dataDirFrom, parseIntOption, resolveServers, UsageError } from "../options.ts";

export const incidentsUsage = `x0 incidents [list] [options]
x0 incidents show ID [--json]
x0 incidents commands [--node ID] [options]
  Rebuilds the incident log by replaying the HEAL stream (signatures verified, producers'
  roles from IDENTITY), as the control plane's incident projection does; no API needed.
  list (default)     incidents, newest first: a table, or JSON lines with --json
  show ID            one incident with its whole event chain
  commands           operator commands outside incidents (x0 heal), newest first, with outcomes

  --status S         list only open, recovered or escalated incidents
  --kind K           list only incidents of this kind (${FindingKindSchema.literals.join(", ")})
  --node ID          commands: only those addressed to this node
  --limit N          at most N rows (default: all)
  --json             JSON lines (show: one JSON object), the API's shapes
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)`;

const statusFilters: readonly IncidentStatusFilter[] = ["open", "recovered", "escalated"];

/** How a replay went: events left out of the log, by why. */
export type LeftOut = Map<string, number>;

const count = (leftOut: LeftOut, why: string) => leftOut.set(why, (leftOut.get(why) ?? 0) + 1);

/**
 * Replays IDENTITY: binds enrolled keys in `registry` (as the identity projection's runner does)
 * and returns who enrolled in which role, refusing what the projection refuses.
 */
export const replayIdentity = async (nc: NatsConnection, registry: ProducerRegistry, leftOut: LeftOut = new Map()): Promise<EnrolledProducers> => {
  const producers = new EnrolledProducers();
  for await (const event of readEvents(nc, { subject: "identity.>", registry })) {
    if (event.status !== "verified" || !event.meta) {
      count(leftOut, event.status);
      continue;
    }
    const enrolment = event.payload as ProducerEnrolled;
    const boundBy = registry.get(enrolment.producerId)?.introducedAt.stream;
    if (producers.refusal(event.meta, enrolment, boundBy)) {
      count(leftOut, "unauthorized");
      continue;
    }
    producers.apply(enrolment, { seq: event.seq, keyId: event.meta.keyId, occurredAt: Date.parse(event.meta.occurredAt) });
  }
  return producers;
};

/**
 * Binds the keys of nodes that answered commands but whose keys the `producers` bucket lacks
 * (no control plane has read their announcements yet): the oldest announcement MESH still holds
 * for each, accepted as the knowledge base accepts it (self-signed, a node speaking for itself).
 */
const bindNodeKeys = async (nc: NatsConnection, registry: ProducerRegistry, nodeIds: ReadonlySet<string>): Promise<number> => {
  const jsm = await jetstreamManager(nc);
  let bound = 0;
  for (const nodeId of nodeIds) {
    const subject = `mesh.${nodeId}.announced`;
    const msg = await jsm.direct.getMessage("MESH", { seq: 1, next_by_subj: subject }).catch(() => jsm.streams.getMessage("MESH", { last_by_subj: subject }).catch(() => null));
    if (!msg) continue;
    const event = inspect({ subject: msg.subject, seq: msg.seq, headers: msg.header, data: msg.data, time: msg.time }, "MESH", ProducerRegistry.inMemory());
    const announcement = event.payload as Announcement | undefined;
    if (event.status !== "verified" || event.meta?.type !== NodeAnnounced.type || event.meta.producerId !== nodeId || announcement?.nodeId !== nodeId) continue;
    registry.introduce(nodeId, announcement.publicKey, { stream: "MESH", seq: msg.seq });
    bound++;
  }
  return bound;
};

/**
 * The incident log rebuilt in memory from HEAL, with the same model and the same rules as the
 * control plane's projection: events that do not verify, repeat an event id or are not
 * authorized are left out (and counted).
 */
export const replayIncidents = async (nc: NatsConnection): Promise<{ log: IncidentLog; leftOut: LeftOut }> => {
  const registry = await ProducerRegistry.open(nc);
  const identityLeftOut: LeftOut = new Map();
  const roles = await replayIdentity(nc, registry, identityLeftOut);
  const replay = async () => {
    const leftOut: LeftOut = new Map(identityLeftOut);
    const unknown = new Set<string>();
    const log = new IncidentLog();
    const seen = new Set<string>();
    for await (const event of readEvents(nc, { subject: "heal.>", registry })) {
      if (event.status !== "verified" || !event.meta) {
        count(leftOut, event.status);
        if (event.status === "unknown-producer" && event.meta) unknown.add(event.meta.producerId);
        continue;
      }
      if (seen.has(event.meta.eventId)) {
        count(leftOut, "duplicate");
        continue;
      }
      seen.add(event.meta.eventId);
      if (authorizeHealEvent(event.meta, event.payload, roles) !== undefined) {
        count(leftOut, "unauthorized");
        continue;
      }
      log.apply({ seq: event.seq, meta: event.meta, payload: event.payload });
    }
    return { log, leftOut, unknown };
  };
  const first = await replay();
  // HEAL is small: when nodes' keys had to be looked up, replaying it again is the simple way to apply their events in order.
  if (first.unknown.size === 0 || (await bindNodeKeys(nc, registry, first.unknown)) === 0) return first;
  return replay();
};

/** Writes a line to stdout, waiting when the pipe is full. */
const writeLine = (line: string) =>
  new Promise<void>((resolve) => {
    if (process.stdout.write(`${line}\n`)) resolve();
    else process.stdout.once("drain", resolve);
  });

/** Columns padded to their widest cell; on a terminal, lines are cut to its width. */
export const table = (header: readonly string[], rows: readonly (readonly string[])[], width = process.stdout.isTTY ? process.stdout.columns : Infinity): string[] => {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((row) => {
    const line = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
    return line.length > width ? `${line.slice(0, Math.max(width - 1, 0))}…` : line;
  });
};

const shortTime = (iso: string | undefined) => (iso ? `${iso.slice(0, 19)}Z` : "-");
const seconds = (s: number | undefined) => (s === undefined ? "" : s < 60 ? `${s.toFixed(1)}s` : `${(s / 60).toFixed(1)}m`);

const incidentRow = (i: IncidentSummaryView): string[] => [
  i.incidentId,
  i.status,
  i.kind ?? "-",
  shortTime(i.detectedAt),
  `${i.commands.applied}/${i.commands.issued}${i.commands.failed ? ` (${i.commands.failed} failed)` : ""}`,
  i.status === "recovered" ? `recovered in ${seconds(i.timeToRecoverSeconds)}` : i.status === "escalated" ? `escalated: ${i.escalationReason ?? ""}` : (i.reason ?? ""),
];

const commandRow = (c: OperatorCommandView): string[] => [
  c.commandId,
  c.targetNodeId,
  describeAction(c.action),
  c.issuer,
  shortTime(c.issuedAt),
  c.status === "applied" ? `applied: ${c.applied?.detail ?? ""}` : c.status === "failed" ? `failed (exit ${c.failed?.exitCode}): ${c.failed?.stderr ?? ""}` : "issued, no outcome yet",
];

const leftOutNote = (leftOut: LeftOut) => {
  if (leftOut.size === 0) return;
  const counts = [...leftOut].map(([why, n]) => `${why}=${n}`).join(" ");
  process.stderr.write(`left out events that the control plane quarantines too: ${counts} (x0 replay --stream HEAL shows them)\n`);
};

export const incidents = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      status: { type: "string" },
      kind: { type: "string" },
      node: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  const [verb = "list", ...rest] = positionals;
  if (!["list", "show", "commands"].includes(verb)) throw new UsageError(`unknown subcommand "${verb}": list, show ID or commands`);
  if (verb === "show" && rest.length !== 1) throw new UsageError("x0 incidents show takes one incident id");
  if (verb !== "show" && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const status = values.status as IncidentStatusFilter | undefined;
  if (status !== undefined && !statusFilters.includes(status)) throw new UsageError(`--status must be one of ${statusFilters.join(", ")}, got "${status}"`);
  if (values.kind !== undefined && !(FindingKindSchema.literals as readonly string[]).includes(values.kind)) {
    throw new UsageError(`--kind must be one of ${FindingKindSchema.literals.join(", ")}, got "${values.kind}"`);
  }
  if (verb !== "list" && (status !== undefined || values.kind !== undefined)) throw new UsageError("--status and --kind apply to the incident list only");
  if (verb !== "commands" && values.node !== undefined) throw new UsageError("--node applies to x0 incidents commands only");
  const limit = values.limit === undefined ? undefined : parseIntOption("limit", values.limit, 0, 1);

  const nc = await connectNats({ servers: await resolveServers(dataDirFrom(values["data-dir"])), name: "x0-incidents" });
  let replayed: Awaited<ReturnType<typeof replayIncidents>>;
  try {
    replayed = await replayIncidents(nc);
  } finally {
    await nc.close();
  }
  const { log, leftOut } = replayed;
  leftOutNote(leftOut);

  if (verb === "show") {
    const record = log.incident(rest[0]!);
    if (!record) {
      process.stderr.write(`x0 incidents: no incident ${rest[0]} on HEAL; x0 incidents lists them\n`);
      return 1;
    }
    const detail = incidentDetail(record);
    if (values.json) {
      await writeLine(JSON.stringify(detail));
      return 0;
    }
    const i = detail.incident;
    const lines = [
      `incident ${i.incidentId}: ${i.status}${i.kind ? `, ${i.kind}` : ""}`,
      ...(i.reason ? [`  reason     ${i.reason}`] : []),
      ...(i.onsetAt ? [`  onset      ${i.onsetAt}`] : []),
      ...(i.detectedAt ? [`  detected   ${i.detectedAt}${i.detectionSeconds !== undefined ? ` (${seconds(i.detectionSeconds)} after onset)` : ""}`] : []),
      ...(record.state.plan ? [`  plan       ${record.state.plan.actionId} by ${record.state.plan.policy}: ${record.state.plan.expectedEffect}`] : []),
      ...record.state.commands.map(
        (c) =>
          `  command    ${c.issued.commandId} -> ${c.issued.targetNodeId}: ${describeAction(c.issued.action)}: ${c.applied ? "applied" : c.failed ? `failed (exit ${c.failed.exitCode})` : "no outcome yet"}`,
      ),
      ...(i.recoveredAt ? [`  recovered  ${i.recoveredAt} (${seconds(i.timeToRecoverSeconds)}): ${record.state.recovered?.evidence ?? ""}`] : []),
      ...(i.escalatedAt ? [`  escalated  ${i.escalatedAt}: ${i.escalationReason ?? ""}`] : []),
      "",
      ...table(
        ["SEQ", "OCCURRED", "TYPE", "PRODUCER", "EVENT", "CAUSED BY"],
        detail.chain.map((l) => [String(l.seq), shortTime(l.occurredAt), `${l.type}${l.ignored ? " (ignored)" : ""}`, l.producerId, l.eventId, l.causationId === l.eventId ? "-" : l.causationId]),
      ),
    ];
    for (const line of lines) await writeLine(line);
    return 0;
  }

  if (verb === "commands") {
    const commands = log.operatorCommands(values.node !== undefined ? { node: values.node } : {}).slice(0, limit).map(operatorCommandView);
    if (values.json) for (const c of commands) await writeLine(JSON.stringify(c));
    else if (commands.length === 0) await writeLine("no operator commands");
    else for (const line of table(["COMMAND", "NODE", "ACTION", "ISSUER", "ISSUED", "OUTCOME"], commands.map(commandRow))) await writeLine(line);
    return 0;
  }

  const list = log.incidents({ ...(status ? { status } : {}), ...(values.kind ? { kind: values.kind } : {}) }).slice(0, limit).map(incidentSummary);
  if (values.json) {
    for (const i of list) await writeLine(JSON.stringify(i));
    return 0;
  }
  if (list.length === 0) await writeLine("no incidents");
  else for (const line of table(["INCIDENT", "STATUS", "KIND", "DETECTED", "APPLIED", "OUTCOME / REASON"], list.map(incidentRow))) await writeLine(line);
  const commands = log.size.operatorCommands;
  if (commands > 0) await writeLine(`\n${commands} operator command${commands === 1 ? "" : "s"} outside incidents: x0 incidents commands`);
  return 0;
};
