import { parseArgs } from "node:util";
import { log } from "../../../streams/log.ts";
import { runSim } from "../../twin/index.ts";
import { dataDirFrom, parseIntOption, resolveServers } from "../options.ts";

export const simUsage = `x0 sim [options]
  Runs a digital-twin mesh: every simulated node has its own key pair and signs its own
  announcements, heartbeats, link and node metrics. Uses NATS_URL, or the server of a local \`x0 up\`.

  --nodes N          nodes of a random geometric topology (default 50)
  --topology FILE    a meshviewer JSON topology instead (e.g. a Freifunk community's)
  --interval MS      link and node metrics interval per node (default 1000)
  --heartbeat-interval MS  heartbeat interval per node (default: --interval)
  --no-agent         do not answer healing commands (by default the twin's nodes apply
                     heal.<node>.command like a real node agent and answer with outcomes)
  --seed S           random seed: same seed, same mesh and keys (default 1)
  --duration S       stop after S seconds (default: run until Ctrl-C)
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)`;

export const sim = async (argv: string[]): Promise<number> => {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: "string" },
      topology: { type: "string" },
      interval: { type: "string" },
      "heartbeat-interval": { type: "string" },
      "no-agent": { type: "boolean" },
      seed: { type: "string" },
      duration: { type: "string" },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  const servers = await resolveServers(dataDirFrom(values["data-dir"]));
  const durationS = parseIntOption("duration", values.duration, 0);
  const intervalMs = parseIntOption("interval", values.interval, 1000, 10);
  // Listen before starting: a Ctrl-C during start-up stops the sim once it is up, instead of killing it half-started.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const running = await runSim({
    servers,
    nodes: parseIntOption("nodes", values.nodes, 50, 1),
    ...(values.topology ? { topologyFile: values.topology } : {}),
    intervalMs,
    heartbeatIntervalMs: parseIntOption("heartbeat-interval", values["heartbeat-interval"], intervalMs, 10),
    seed: parseIntOption("seed", values.seed, 1),
    ...(values["no-agent"] ? { agent: false } : {}),
    log: (line) => log.info(line, { source: "twin" }),
  });
  await Promise.race([stopped, ...(durationS > 0 ? [new Promise<void>((resolve) => setTimeout(resolve, durationS * 1000).unref())] : [])]);
  await running.stop();
  return 0;
};
