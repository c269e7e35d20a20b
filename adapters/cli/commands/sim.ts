import { parseArgs } from "node:util";
import { log } from "../../../streams/log.ts";
import { runSim } from "../../twin/index.ts";
import { dataDirFrom, parseIntOption, resolveServers } from "../options.ts";

export const simUsage = `x0 sim [options]
  Runs a digital-twin mesh: every simulated node has its own key pair and signs its own
  announcements, heartbeats, link and node metrics. Uses NATS_URL, or the server of a local \`x0 up\`.

  --nodes N          nodes of a random geometric topology (default 50)
  --topology FILE    a meshviewer JSON topology instead (e.g. a Freifunk community's)
  --interval MS      reporting interval per node (default 1000)
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
      seed: { type: "string" },
      duration: { type: "string" },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  const servers = await resolveServers(dataDirFrom(values["data-dir"]));
  const durationS = parseIntOption("duration", values.duration, 0);
  const running = await runSim({
    servers,
    nodes: parseIntOption("nodes", values.nodes, 50, 1),
    ...(values.topology ? { topologyFile: values.topology } : {}),
    intervalMs: parseIntOption("interval", values.interval, 1000, 10),
    seed: parseIntOption("seed", values.seed, 1),
    log: (line) => log.info(line, { source: "twin" }),
  });
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    if (durationS > 0) setTimeout(resolve, durationS * 1000).unref();
  });
  await running.stop();
  return 0;
};
