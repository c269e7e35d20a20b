import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runChaos } from "../../chaos/index.ts";
import { expectedRootCauses, parseScenario, percentile, type FaultOutcome } from "../../../domains/chaos/index.ts";
import { Producer } from "../../../streams/event-store.ts";
import { loadOrCreateSigningKey } from "../../../streams/keys.ts";
import { log } from "../../../streams/log.ts";
import { dataDirFrom, resolveServers, UsageError } from "../options.ts";

export const chaosUsage = `x0 chaos <scenario.json> [options]
  Runs a chaos scenario against a running control plane (x0 up): simulates the scenario's
  mesh as a twin that answers healing commands, injects each fault at its time (recorded on
  HEAL as chaos.FaultInjected / FaultCleared, signed), then reads HEAL back and reports per
  fault: the incident, its root cause, the policy, detection time and time to repair.
  Exits 1 when a fault went undetected or missed its expectation. Library: adapters/chaos/scenarios/.

  --data-dir DIR   where to find a local x0 up's server and keep the chaos key (default ./.x0)
  --id ID          the chaos producer id; key <data-dir>/keys/<ID>.key (default chaos)
  --json           print the report as JSON instead of a table`;

const ms = (v: number | undefined) => (v === undefined ? "-" : `${v}`);

/** Whether a fault's outcome meets the scenario's expectation (default: detected with the right root cause). */
export const meetsExpectation = (o: FaultOutcome, expect?: { rootCause?: readonly string[]; outcome?: string; policy?: string }): string | undefined => {
  if (o.status === "undetected") return "not detected";
  const first = o.incidents[0]!;
  const kinds = expect?.rootCause ?? expectedRootCauses[o.fault.fault.kind];
  if (!kinds.includes(first.kind)) return `root cause ${first.kind}, expected ${kinds.join(" or ")}`;
  if (expect?.outcome && o.status !== expect.outcome) return `${o.status}, expected ${expect.outcome}`;
  if (expect?.policy && first.policy !== expect.policy) return `policy ${first.policy ?? "none"}, expected ${expect.policy}`;
  return undefined;
};

export const chaos = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "data-dir": { type: "string" }, id: { type: "string" }, json: { type: "boolean" } },
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("give exactly one scenario file");
  const file = positionals[0]!;
  const scenario = parseScenario(await readFile(file, "utf8"), file);
  const dataDir = dataDirFrom(values["data-dir"]);
  const id = values.id ?? "chaos";
  const producer = new Producer(id, await loadOrCreateSigningKey(join(dataDir, "keys", `${id}.key`)));
  const servers = await resolveServers(dataDir);
  const result = await runChaos({ servers, scenario, producer, log: (line) => log.info(line, { source: "chaos" }) });
  const rows = result.report.faults.map((o) => {
    const spec = scenario.faults.find((f) => f.id === o.fault.faultId);
    return { outcome: o, miss: meetsExpectation(o, spec?.expect) };
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ scenario: scenario.name, faults: rows.map((r) => ({ ...r.outcome, verdict: r.miss ?? "ok" })), unexplained: result.report.unexplained })}\n`);
  } else {
    const lines = [`scenario ${scenario.name}: ${rows.length} fault(s), ${result.report.unexplained.length} incident(s) no fault explains`];
    lines.push(["fault", "kind", "status", "root cause", "policy", "detect ms", "repair ms", "verdict"].join("\t"));
    for (const { outcome: o, miss } of rows) {
      const first = o.incidents[0];
      lines.push([o.fault.faultId, o.fault.fault.kind, o.status, first?.kind ?? "-", first?.policy ?? "-", ms(o.detectionMs), ms(o.timeToRepairMs), miss ?? "ok"].join("\t"));
    }
    const repairs = rows.flatMap((r) => (r.outcome.timeToRepairMs !== undefined ? [r.outcome.timeToRepairMs] : []));
    lines.push(`time to repair p50=${ms(percentile(repairs, 50))} ms p95=${ms(percentile(repairs, 95))} ms over ${repairs.length} recovered fault(s)`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  return rows.some((r) => r.miss !== undefined) ? 1 : 0;
};
