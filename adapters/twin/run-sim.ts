import { connectNats } from "../../streams/connection.ts";
import { EventStore } from "../../streams/event-store.ts";
import { MeshTwin, type TwinStats } from "./twin.ts";

export interface RunSimOptions {
  /** NATS server URL(s). The MESH stream must already exist (`x0 up` creates it); nothing is created here. */
  readonly servers: string | readonly string[];
  /** Nodes of a generated mesh. Default 50; ignored with `topologyFile`. */
  readonly nodes?: number;
  /** A meshviewer.json to simulate instead. */
  readonly topologyFile?: string;
  /** Reporting interval per node, ms. Default 1 000. */
  readonly intervalMs?: number;
  /** Default 1. */
  readonly seed?: number;
  /** Stop by itself after this long, ms. Default: run until `stop()`. */
  readonly durationMs?: number;
  /** Where progress lines go. Default: nowhere. */
  readonly log?: (line: string) => void;
  /** How often a progress line is written, ms. Default 5 000. */
  readonly progressEveryMs?: number;
}

export interface RunningSim {
  readonly twin: MeshTwin;
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
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
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
      await twin.stop();
      progress();
      log(`twin: stopped after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
      await nc.drain().catch(() => nc.close());
      resolveDone();
    })());
  const durationTimer = options.durationMs !== undefined ? setTimeout(() => void stop(), options.durationMs) : undefined;
  return { twin, done, stop };
};
