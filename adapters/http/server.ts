import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Counter, Gauge } from "prom-client";
import type { AuditProofs } from "../../projections/audit/index.ts";
import type { IncidentLog } from "../../projections/incidents/index.ts";
import type { KnowledgeBase } from "../../projections/knowledge-base/index.ts";
import { metricsRegistry } from "../../streams/metrics.ts";
import type { ProducerRegistry } from "../../streams/producer-registry.ts";
import type { ApiContext, EventStreamRegistry, LivenessSource, NatsState, Route } from "./context.ts";
import { openApiDocument } from "./openapi.ts";
import { ReplayedKnowledgeBases } from "./past-knowledge-bases.ts";
import { auditRoutes } from "./routes/audit.ts";
import { streamEvents } from "./routes/events.ts";
import { getIncident, listCommands, listFaults, listIncidents } from "./routes/incidents.ts";
import { getNode, getNodeHealth, listNodes } from "./routes/nodes.ts";
import { healthz, metrics, openApiJson } from "./routes/operations.ts";
import { getTopology } from "./routes/topology.ts";
import { quote, RequestRefusedError, sendError } from "./respond.ts";

export interface HttpApiOptions {
  /** The knowledge base to serve: the `kb` of a running KnowledgeBaseProjection. */
  readonly kb: KnowledgeBase;
  /** NATS connection used to tail streams for GET /events and reported by GET /healthz. */
  readonly nc: NatsConnection;
  /** Address to bind. Default `127.0.0.1`: the API has no authentication, so it is local unless asked otherwise. */
  readonly host?: string;
  /** Port to listen on. Default 8080; 0 picks a free port (see the returned `port`). */
  readonly port?: number;
  /** Whether the control plane is ready to answer (projections restored). Default: always ready. */
  readonly ready?: () => boolean;
  /** Receives one line per server-side failure. Default: discarded. */
  readonly log?: (line: string) => void;
  /** Interval of the keep-alive comment on GET /events streams. Default 15000 ms. */
  readonly keepAliveMs?: number;
  /** Most GET /events streams open at once; each holds a consumer and verifies every event. Default 32. */
  readonly maxEventStreams?: number;
  /**
   * The control plane's live producer keys, so GET /events verifies a new node's events as soon
   * as the projection has bound its key. Default: the `producers` KV bucket, read when a stream opens.
   */
  readonly producers?: ProducerRegistry;
  /**
   * The incident log to serve on GET /incidents, /commands and /faults: the `log` of a running
   * IncidentProjection. Default: none (those routes answer 503).
   */
  readonly incidents?: IncidentLog;
  /** A live failure detector whose view GET /nodes/{id}/health includes. Default: none. */
  readonly liveness?: LivenessSource;
  /**
   * Checkpoints and proofs of the auditor running in this process, served on GET /audit/...
   * (`new AuditProofs(nc, auditor)`). Default: none (those routes answer 503).
   */
  readonly audit?: AuditProofs;
  /** Past knowledge bases GET /nodes?asOf= keeps for repeated requests. Default 4. */
  readonly pastKnowledgeBases?: number;
}

export interface HttpApi {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  /** Ends every open event stream, stops accepting requests and waits for the server to close. */
  close(): Promise<void>;
}

/** Longest request target (path and query) accepted; nothing the API takes needs more. */
const maxTargetLength = 2048;
/** Longest query string accepted. */
const maxQueryLength = 1024;
/** How long close() lets in-flight JSON requests finish before cutting their connections. */
const closeGraceMs = 2_000;

const routes: readonly Route[] = [
  listNodes,
  getNode,
  getNodeHealth,
  getTopology,
  listIncidents,
  getIncident,
  listCommands,
  listFaults,
  streamEvents,
  ...auditRoutes,
  healthz,
  metrics,
  openApiJson,
];

// Looked up before being created: a second server in the same process shares the same series.
const httpRequests =
  (metricsRegistry.getSingleMetric("x0_http_requests_total") as Counter<"route" | "status"> | undefined) ??
  new Counter({
    name: "x0_http_requests_total",
    help: "Requests answered by the query API, by route template and status code",
    labelNames: ["route", "status"] as const,
    registers: [metricsRegistry],
  });

const openEventStreams =
  (metricsRegistry.getSingleMetric("x0_http_event_streams") as Gauge | undefined) ??
  new Gauge({ name: "x0_http_event_streams", help: "GET /events streams open now", registers: [metricsRegistry] });

/** Query string to parameters; a parameter given twice becomes an array, which every Schema refuses. */
const parseQuery = (search: string): Record<string, string | readonly string[]> => {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(search)) {
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen as string, value];
  }
  return query;
};

/** Follows the connection's status events, so /healthz reports a NATS outage while the client reconnects. */
const watchNats = (nc: NatsConnection): { state: () => NatsState; stop: () => void } => {
  let state: NatsState = nc.isClosed() ? "closed" : "connected";
  const statuses = nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (status.type === "disconnect") state = "disconnected";
      else if (status.type === "reconnect") state = "connected";
      else if (status.type === "close") state = "closed";
    }
  })().catch(() => undefined);
  // The iterator nats.js returns can be stopped; the interface does not say so.
  const stop = () => (statuses as { stop?: () => void }).stop?.();
  return { state: () => (nc.isClosed() ? "closed" : state), stop };
};

/**
 * Starts the read-only query API on node:http: the knowledge base (now, or as of a past time)
 * and node health as JSON, the incident log (incidents with their event chains, operator
 * commands, faults), the audit log (signed checkpoints, inclusion and consistency proofs), any
 * stream as a resumable Server-Sent Event tail, health, metrics and the OpenAPI document.
 */
export const startHttpApi = async (options: HttpApiOptions): Promise<HttpApi> => {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? (() => undefined);
  const nats = watchNats(options.nc);
  const streams = new Set<{ stop: () => void; ended: Promise<void> }>();
  const eventStreams: EventStreamRegistry = {
    get size() {
      return streams.size;
    },
    add(stop, ended) {
      const entry = { stop, ended };
      streams.add(entry);
      openEventStreams.inc();
      void ended.then(() => {
        streams.delete(entry);
        openEventStreams.dec();
      });
    },
  };
  let manager: Promise<JetStreamManager> | undefined;
  let document: unknown;
  let url = "";
  const past = new ReplayedKnowledgeBases(options.nc, {
    ...(options.producers ? { producers: options.producers } : {}),
    ...(options.pastKnowledgeBases !== undefined ? { entries: options.pastKnowledgeBases } : {}),
  });
  const api: ApiContext = {
    kb: options.kb,
    nc: options.nc,
    ready: options.ready ?? (() => true),
    log,
    natsState: nats.state,
    jetstreamManager: () => {
      manager ??= jetstreamManager(options.nc).catch((error: unknown) => {
        manager = undefined; // the next request tries again
        throw error;
      });
      return manager;
    },
    eventStreams,
    keepAliveMs: options.keepAliveMs ?? 15_000,
    maxEventStreams: options.maxEventStreams ?? 32,
    ...(options.producers ? { producers: options.producers } : {}),
    ...(options.incidents ? { incidents: options.incidents } : {}),
    ...(options.liveness ? { liveness: options.liveness } : {}),
    ...(options.audit ? { audit: options.audit } : {}),
    pastKnowledgeBases: past,
    openApi: () => (document ??= openApiDocument({ serverUrl: url })),
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let route: Route | undefined;
    res.once("close", () => httpRequests.inc({ route: route?.path ?? "unmatched", status: String(res.statusCode) }));
    try {
      const target = req.url ?? "/";
      if (target.length > maxTargetLength) throw new RequestRefusedError(414, "request target too long", `at most ${maxTargetLength} characters`);
      if (!target.startsWith("/")) throw new RequestRefusedError(400, "invalid request target", "expected an absolute path such as /nodes");
      const mark = target.indexOf("?");
      const path = mark < 0 ? target : target.slice(0, mark);
      const search = mark < 0 ? "" : target.slice(mark + 1);
      route = routes.find((candidate) => candidate.pattern.test(path));
      if (!route) throw new RequestRefusedError(404, "not found", `no route ${quote(path)}; GET /openapi.json lists the routes`);
      if (req.method !== "GET") {
        throw new RequestRefusedError(405, "method not allowed", `${route.path} answers GET only`, { headers: { allow: "GET" } });
      }
      if (search.length > maxQueryLength) throw new RequestRefusedError(414, "query string too long", `at most ${maxQueryLength} characters`);
      const params = path.match(route.pattern)?.slice(1) ?? [];
      await route.handle({ req, res, api, query: parseQuery(search), params });
    } catch (error) {
      if (res.headersSent) {
        // Too late for a status code: cut the response so the client sees it incomplete.
        log(`${req.method} ${route?.path ?? "?"} failed after responding: ${(error as Error).message}`);
        res.destroy();
      } else if (error instanceof RequestRefusedError) {
        sendError(res, error);
      } else {
        // The cause stays in the log: it may name servers, accounts or internals.
        log(`${req.method} ${route?.path ?? "?"} failed: ${(error as Error).stack ?? String(error)}`);
        sendError(res, new RequestRefusedError(500, "internal error", "the server's log has the cause"));
      }
    }
  };

  const server = createServer((req, res) => void answer(req, res));
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(new Error(`query API cannot listen on ${host}:${options.port ?? 8080}: ${error.message}`, { cause: error }));
    server.once("error", failed);
    server.listen(options.port ?? 8080, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  server.on("error", (error) => log(`query API server error: ${error.message}`));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 8080);
  url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () =>
      (closing ??= (async () => {
        nats.stop();
        past.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const open = [...streams];
        for (const stream of open) stream.stop();
        await Promise.all(open.map((stream) => stream.ended));
        server.closeIdleConnections();
        const grace = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        grace.unref();
        await closed;
        clearTimeout(grace);
      })()),
  };
};
