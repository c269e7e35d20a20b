import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../../streams/connection.ts";
import { EventStore } from "../../streams/event-store.ts";
import { TwinAgent, type TwinAgentOptions } from "./agent.ts";
import { MeshTwin, type TwinStats } from "./twin.ts";

export interface RunSimOptions {
  /**
   * NATS server URL(s). The MESH stream must already exist (`x0 up` creates it); no stream is
   * created here (the agent creates its KV bucket and durable consumer).
   */
  readonly servers: string | readonly string[];
  /** Nodes of a generated mesh. Default 50; ignored with `topologyFile`. */
  readonly nodes?: number;
  /** A meshviewer.json to simulate instead. */
  readonly topologyFile?: string;
  /** Reporting interval per node, ms. Default 1 000. */
  readonly intervalMs?: number;
  /** Heartbeat interval per node, ms. Default: `intervalMs`. */
  readonly heartbeatIntervalMs?: number;
  /** Default 1. */
  readonly seed?: number;
  /** Observer node ids (see `MeshTwinOptions.observers`). Default: the twin's choice. */
  readonly observers?: readonly string[];
  /**
   * Answer healing commands (`TwinAgent`). Default: true when the server has a HEAL stream;
   * true without one fails.
   */
  readonly agent?: boolean;
  /** Options of the agent. Default: its own. */
  readonly agentOptions?: TwinAgentOptions;
  /** Stop by itself after this long, ms. Default: run until `stop()`. */
  readonly durationMs?: number;
  /** Where progress lines go. Default: nowhere. */
  readonly log?: (line: string) => void;
  /** How often a progress line is written, ms. Default 5 000. */
  readonly progressEveryMs?: number;
}

export interface RunningSim {
  readonly twin: MeshTwin;
  /** The agent answering healing commands, when it runs. */
  readonly agent: TwinAgent | undefined;
  /** Resolves once the simulation has stopped (by `stop()` or after `durationMs`). */
  readonly done: Promise<void>;
  /** Stops the nodes, waits for their pending appends, closes the connection. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The `x0 sim` entry: connects, starts a twin, and reports progress. Publishing errors (a server
 * restarting, a missing stream) are counted and shown, never fatal; only a failed first
 * connection or an unreadable topology file rejects.
 */
export const runSim = async (options: RunSimOptions): Promise<RunningSim> => {
  const log = options.log ?? (() => undefined);
  const twin = new MeshTwin({
    ...(options.nodes !== undefined ? { nodes: options.nodes } : {}),
    ...(options.topologyFile !== undefined ? { topologyFile: options.topologyFile } : {}),
    ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.observers !== undefined ? { observers: options.observers } : {}),
  });
  await twin.load();
  const nc = await connectNats({ servers: options.servers, name: `x0-twin-${twin.seed}` });
  const servers = typeof options.servers === "string" ? options.servers : options.servers.join(",");
  log(`twin: ${twin.describe()} -> ${servers}`);

  // Connection changes explain error bursts, so they go in the same log.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") log(`twin: disconnected from ${status.server}; appends fail until the client reconnects`);
      else if (status.type === "reconnect") log(`twin: reconnected to ${status.server}`);
    }
  })().catch(() => undefined);

  await twin.start(new EventStore(nc));
  let agent: TwinAgent | undefined;
  try {
    if (options.agent ?? (await hasStream(nc, "HEAL"))) {
      agent = await TwinAgent.start(nc, twin, { log, ...options.agentOptions });
      log(`twin: answering healing commands for its nodes (durable consumer ${agent.name})`);
    }
  } catch (error) {
    await twin.stop();
    await nc.close();
    throw error;
  }
  const startedAt = performance.now();
  let last: TwinStats = twin.stats;
  let lastAt = startedAt;
  let reportedError: string | undefined;
  const progress = () => {
    const now = performance.now();
    const s = twin.stats;
    const rate = ((s.published - last.published) * 1000) / Math.max(1, now - lastAt);
    let line =
      `twin: ${s.published} events published (${rate.toFixed(0)}/s), ${s.announcedNodes} nodes announced, ` +
      `${s.errors} errors (+${s.errors - last.errors}), ${s.roundsSkipped} rounds skipped, ${s.inFlight} in flight`;
    if (s.linksTrimmed > 0) line += `, ${s.linksTrimmed} neighbour entries trimmed to fit the event`;
    if (s.roundsUnheard > 0) line += `, ${s.roundsUnheard} rounds unheard (hung or cut off from the observers)`;
    const a = agent?.stats;
    if (a && a.applied + a.failed + a.refused + a.unanswered > 0) {
      line += `; commands: ${a.applied} applied, ${a.failed} failed, ${a.unanswered} unanswered, ${a.refused} refused`;
    }
    // Repeat the last error only when it changes, so a long outage does not flood the log.
    if (s.lastError && s.errors > last.errors && s.lastError !== reportedError) {
      line += `; last error: ${s.lastError}`;
      reportedError = s.lastError;
    }
    log(line);
    last = s;
    lastAt = now;
  };
  const progressTimer = setInterval(progress, options.progressEveryMs ?? 5_000);
  progressTimer.unref();

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(progressTimer);
      if (durationTimer) clearTimeout(durationTimer);
      await agent?.stop().catch((error: Error) => log(`twin: agent stopped with an error: ${error.message}`));
      await twin.stop();
      progress();
      log(`twin: stopped after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
      await nc.drain().catch(() => nc.close());
      resolveDone();
    })());
  const durationTimer = options.durationMs !== undefined ? setTimeout(() => void stop(), options.durationMs) : undefined;
  return { twin, agent, done, stop };
};

const hasStream = async (nc: Parameters<typeof jetstreamManager>[0], name: string): Promise<boolean> => {
  try {
    await (await jetstreamManager(nc)).streams.info(name);
    return true;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return false;
    throw error;
  }
};
