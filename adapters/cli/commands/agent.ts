import { parseArgs } from "node:util";
import { AgentStartError, EdgeAgent } from "../../agent/index.ts";
import { XdpCommandError, XdpUnavailableError } from "../../xdp/index.ts";
import { connectNats } from "../../../streams/connection.ts";
import { log } from "../../../streams/log.ts";
import { dataDirFrom, parseIntOption, resolveServers, UsageError } from "../options.ts";

export const agentUsage = `x0 agent --node-id ID [options]
  The edge agent of one mesh node (run as root on the node). Keeps the node's Ed25519 key,
  announces the node (mesh.NodeAnnounced with its MACs), publishes its links (batctl oj/nj),
  its counters (batman-adv, XDP, /proc) and a heartbeat every originator interval, and carries
  out the healing commands on heal.<ID>.command (durable consumer agent-<ID>): hop-penalty,
  gateway and restart-interface through batctl and ip, quarantine, release and rate-limit
  through the XDP filter. Each command is applied once by command id and answered with a
  signed CommandApplied or CommandFailed; commands not signed by an enrolled control plane or
  operator are refused. Stops cleanly on Ctrl-C / SIGTERM; XDP rules stay in place.

  --node-id ID         this node's id: its producer id and subject token (required)
  --mesh-if IF         the batman-adv mesh interface (default bat0); without batman-adv the
                       agent still runs: batman-adv commands then fail with batctl's error
  --xdp-if IF          attach the XDP filter to IF (repeatable, or comma-separated); quarantine,
                       release and rate-limit apply to every such interface (default none)
  --xdp-mode M         auto | native | generic (default auto: native where the driver has it)
  --netns NAME         the node's interfaces are in network namespace NAME (a lab of several
                       nodes on one host; default: the agent's own)
  --metrics-interval MS  how often to report (default batman-adv's orig_interval, at least 1000)
  --no-telemetry       carry out commands only; publish nothing but the announcement and outcomes
  --data-dir DIR       the key (<DIR>/keys/<ID>.key, 0600, created on first run), the command
                       journal (<DIR>/agent/<ID>.journal) and a local x0 up's server
                       (default $X0_DATA_DIR or ./.x0)

  NATS_URL selects the server (else the one a local x0 up started). Exit code 1 when the node id
  is bound to another key, the node has no MAC to announce (no mesh interface, no --xdp-if), or
  an XDP interface cannot be filtered; 2 for bad options.`;

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/u;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/u;

const stopSignal = () =>
  new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });

export const agent = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "node-id": { type: "string" },
      "mesh-if": { type: "string" },
      "xdp-if": { type: "string", multiple: true },
      "xdp-mode": { type: "string" },
      netns: { type: "string" },
      "metrics-interval": { type: "string" },
      "no-telemetry": { type: "boolean" },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const nodeId = values["node-id"];
  if (nodeId === undefined) throw new UsageError("--node-id is required");
  if (!NODE_ID.test(nodeId) || nodeId === "incident" || nodeId === "fault") throw new UsageError(`--node-id must be 1-64 of A-Z a-z 0-9 _ - (not "incident" or "fault"), got "${nodeId}"`);
  const meshIf = values["mesh-if"] ?? "bat0";
  const xdpIfs = (values["xdp-if"] ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  for (const name of [meshIf, ...xdpIfs]) if (!IFNAME.test(name)) throw new UsageError(`"${name}" is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`);
  const xdpMode = values["xdp-mode"] ?? "auto";
  if (xdpMode !== "auto" && xdpMode !== "native" && xdpMode !== "generic") throw new UsageError(`--xdp-mode must be auto, native or generic, got "${xdpMode}"`);
  const metricsIntervalMs = values["metrics-interval"] === undefined ? undefined : parseIntOption("metrics-interval", values["metrics-interval"], 1000, 100);
  const dataDir = dataDirFrom(values["data-dir"]);

  const stopped = stopSignal();
  const servers = await resolveServers(dataDir);
  let nc: Awaited<ReturnType<typeof connectNats>>;
  try {
    nc = await connectNats({ servers, name: `x0-agent-${nodeId}` });
  } catch (error) {
    // At start only: once connected, the client reconnects for ever.
    process.stderr.write(`x0 agent: cannot reach NATS at ${servers.join(",")}: ${(error as Error).message}\n`);
    return 1;
  }
  let running: EdgeAgent;
  try {
    running = await EdgeAgent.start(nc, {
      nodeId,
      dataDir,
      meshIf,
      xdpIfs,
      xdpMode,
      ...(values.netns ? { netns: values.netns } : {}),
      ...(metricsIntervalMs !== undefined ? { metricsIntervalMs } : {}),
      telemetry: values["no-telemetry"] !== true,
      log: (line) => log.info(line, { node: nodeId }),
    });
  } catch (error) {
    await nc.close();
    if (error instanceof AgentStartError || error instanceof XdpUnavailableError || error instanceof XdpCommandError) {
      process.stderr.write(`x0 agent: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  process.stdout.write(
    `x0 agent ${nodeId} is up\n  key      ${running.producer.key.keyId}\n  commands heal.${nodeId}.command (durable ${running.consumerName})\n  mesh     ${meshIf}\n  xdp      ${xdpIfs.length > 0 ? running.filters.map((f) => `${f.iface} (${f.mode})`).join(", ") : "none"}\n  stop     Ctrl-C\n`,
  );
  const signal = await stopped;
  log.info("stopping", { node: nodeId, signal });
  await running.stop();
  await nc.drain().catch(() => undefined);
  return 0;
};
