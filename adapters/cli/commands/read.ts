import { parseArgs } from "node:util";
import { connectNats } from "../../../streams/connection.ts";
import { readEvents, stringifyEvent, streamForSubject, type ReadOptions, type ReadStart } from "../../../streams/event-reader.ts";
import { streams } from "../../../streams/topology.ts";
import type { AuditedStream } from "../../../domains/audit/index.ts";
import { ReplayAuditCheck, withAuditVerdict } from "../../../projections/audit/index.ts";
import { dataDirFrom, parseIntOption, parseTime, resolveServers, UsageError } from "../options.ts";

export const tailUsage = `x0 tail <subject-filter> [options]
  Prints new events as JSON lines, signatures verified, until Ctrl-C.
  e.g. x0 tail 'mesh.>'   x0 tail 'mesh.node-007.*'

  --from-seq N       start at stream sequence N instead of new events
  --since TIME       start at a time (RFC 3339, or a duration ago: 15m, 2h)
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)`;

export const replayUsage = `x0 replay --stream S [options]
  Prints the stream's events in order as JSON lines with each signature verified, then exits.
  Exit code 1 when any event does not verify (its line says why); a summary goes to stderr.

  --stream S         ${streams.map((s) => s.name).join(", ")}
  --subject F        only subjects matching F (default: the whole stream)
  --from-seq N       start at stream sequence N
  --since TIME       start at a time (RFC 3339, or a duration ago: 15m, 2h)
  --until TIME|SEQ   stop after this time or sequence (inclusive)
  --verify           also check each event against the audit log: an inclusion proof against the
                     latest signed checkpoint (adds "audit" to each line: included, pending,
                     mismatch or unverifiable); exit code 1 on a mismatch. Audited streams only.
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)`;

/** The stream of a subject filter, or a usage error naming the subjects there are. */
const streamOf = (subject: string) => {
  try {
    return streamForSubject(subject);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

const startFrom = (values: { "from-seq"?: string | undefined; since?: string | undefined }, fallback: ReadStart): ReadStart => {
  if (values["from-seq"] !== undefined && values.since !== undefined) throw new UsageError("give --from-seq or --since, not both");
  if (values["from-seq"] !== undefined) return { seq: parseIntOption("from-seq", values["from-seq"], 1, 1) };
  if (values.since !== undefined) return { time: parseTime("since", values.since) };
  return fallback;
};

/** Writes a line to stdout, waiting when the pipe is full (so `| head` and slow readers work). */
const writeLine = (line: string) =>
  new Promise<void>((resolve) => {
    if (process.stdout.write(`${line}\n`)) resolve();
    else process.stdout.once("drain", resolve);
  });

export const tail = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "from-seq": { type: "string" }, since: { type: "string" }, "data-dir": { type: "string" } },
    strict: true,
  });
  const subject = positionals[0];
  if (!subject || positionals.length > 1) throw new UsageError("give exactly one subject filter, e.g. 'mesh.>'");
  streamOf(subject);
  const nc = await connectNats({ servers: await resolveServers(dataDirFrom(values["data-dir"])), name: "x0-tail" });
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for await (const event of readEvents(nc, { subject, start: startFrom(values, "new"), follow: true, signal: abort.signal })) {
      await writeLine(stringifyEvent(event));
      if (abort.signal.aborted) break;
    }
  } finally {
    await nc.close();
  }
  return 0;
};

export const replay = async (argv: string[]): Promise<number> => {
  const { values } = parseArgs({
    args: argv,
    options: {
      stream: { type: "string" },
      subject: { type: "string" },
      "from-seq": { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      verify: { type: "boolean" },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  const definition = streams.find((s) => s.name === values.stream?.toUpperCase());
  if (!definition) throw new UsageError(`--stream must be one of ${streams.map((s) => s.name).join(", ")}`);
  const subject = values.subject ?? definition.subjects[0]!;
  if (streamOf(subject) !== definition.name) throw new UsageError(`subject ${subject} is not in stream ${definition.name}`);
  let until: ReadOptions["until"];
  if (values.until !== undefined) until = /^\d+$/.test(values.until) ? { seq: Number(values.until) } : { time: parseTime("until", values.until) };
  if (values.verify && !definition.audited) throw new UsageError(`--verify needs an audited stream; ${definition.name} is not in the audit log`);
  const nc = await connectNats({ servers: await resolveServers(dataDirFrom(values["data-dir"])), name: "x0-replay" });
  const counts = new Map<string, number>();
  const audited = new Map<string, number>();
  let total = 0;
  const audit = values.verify ? await ReplayAuditCheck.open(nc, definition.name as AuditedStream) : undefined;
  try {
    for await (const event of readEvents(nc, { subject, start: startFrom(values, "all"), ...(until ? { until } : {}) })) {
      total++;
      counts.set(event.status, (counts.get(event.status) ?? 0) + 1);
      const verdict = await audit?.check(event.seq);
      if (verdict) audited.set(verdict.status, (audited.get(verdict.status) ?? 0) + 1);
      await writeLine(verdict ? withAuditVerdict(stringifyEvent(event), verdict) : stringifyEvent(event));
    }
  } finally {
    await audit?.close();
    await nc.close();
  }
  if (audit) process.stderr.write(`audit log: ${[...audited].map(([status, n]) => `${status}=${n}`).join(" ") || "no events"}\n`);
  const verified = counts.get("verified") ?? 0;
  const refused = [...counts].filter(([status]) => status !== "verified").map(([status, n]) => `${status}=${n}`);
  process.stderr.write(`replayed ${total} events from ${definition.name}: ${verified} verified${refused.length ? `, not verified: ${refused.join(" ")}` : ""}\n`);
  return verified === total && !audited.has("mismatch") ? 0 : 1;
};
