import { parseArgs } from "node:util";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Auditor, AuditProofs } from "../../../projections/audit/index.ts";
import { IdentityProjection } from "../../../projections/identity/index.ts";
import { IncidentProjection } from "../../../projections/incidents/index.ts";
import { KnowledgeBaseProjection } from "../../../projections/knowledge-base/index.ts";
import { connectNats, serversFromEnv } from "../../../streams/connection.ts";
import { DEFAULT_STORAGE_BYTES, ensureStreams } from "../../../streams/topology.ts";
import { log } from "../../../streams/log.ts";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import { ProjectionRunner } from "../../../streams/projection-runner.ts";
import { VerifyPool } from "../../../streams/verify-pool.ts";
import { Producer } from "../../../streams/event-store.ts";
import { loadOrCreateSigningKey } from "../../../streams/keys.ts";
import { HealingController } from "../../healing-loop/index.ts";
import { startHttpApi } from "../../http/index.ts";
import { startNatsServer, type RunningNatsServer } from "../../nats-server/index.ts";
import { runSim } from "../../twin/index.ts";
import { dataDirFrom, parseIntOption, parseSize, UsageError } from "../options.ts";

export const upUsage = `x0 up [options]
  Starts the control plane: an embedded nats-server when NATS_URL is unset, the streams,
  the projections (identity: enrolled producers' keys; knowledge base: MESH; incidents: HEAL),
  the healing loop (MAPE-K: failures found in MESH become HealingCommand events on HEAL),
  the auditor (a Merkle log over every event of MESH, HEAL, FL, GOV and IDENTITY, with signed
  checkpoints on AUDIT) and the HTTP query API. Stops cleanly on Ctrl-C / SIGTERM.

  --data-dir DIR     where the embedded server keeps its store (default $X0_DATA_DIR or ./.x0)
  --host ADDR        HTTP API address (default 127.0.0.1)
  --port N           HTTP API port (default 8080)
  --replicas N       stream and bucket replicas: 1 on one server, 3 on a cluster (default 1)
  --storage SIZE     JetStream bytes the streams may use together, e.g. 20G (default: 40% of the
                     free disk under --data-dir for the embedded server, else 16G; $X0_STORAGE)
  --sim N            also run an N-node digital-twin mesh in this process (default 0)
  --sim-interval MS  the twin's reporting interval (default 1000)
  --sim-seed S       the twin's random seed (default 1)
  --sim-heartbeat MS the twin's heartbeat interval (default: --sim-interval)
  --no-heal          do not run the healing loop (the projections and API still run)
  --heal-id ID       the loop's producer id; its key is <data-dir>/keys/<ID>.key, created
                     0600 on first start and enrolled on IDENTITY (default control-plane)
  --no-audit         do not run the auditor (GET /audit/... then answers 503)
  --auditor-id ID    the auditor's producer id; its key is <data-dir>/keys/<ID>.key, created
                     0600 on first start and enrolled on IDENTITY with role auditor (default:
                     auditor-<key id>, the key being <data-dir>/keys/auditor.key, so every data
                     dir has its own auditor and keeps it across restarts)
  --audit-every N    sign a checkpoint once N events wait, and put at most N in one
                     (default 100000)
  --audit-interval S ...or once S seconds have passed since the last checkpoint with at least
                     one event waiting (default 60)
  --audit-copies-mb N  keep local copies of the newest audited events, up to N MiB, in
                     <data-dir>/audit/<auditor id>/, so inclusion proofs read their event from
                     disk, not from nats-server; 0 for none (default 2048)`;

/** The streams' storage budget: the flag, else 40% of the embedded store's free disk, else the default. */
const storageBudget = async (flag: string | undefined, embeddedStore: string | undefined): Promise<number> => {
  if (flag !== undefined) return parseSize("storage", flag);
  if (!embeddedStore) return DEFAULT_STORAGE_BYTES;
  const fs = await statfs(embeddedStore);
  return Math.max(64 * 1024 ** 2, Math.floor(fs.bavail * fs.bsize * 0.4));
};

/**
 * The auditor's identity: `--auditor-id ID` with the key <data-dir>/keys/<ID>.key, else the key
 * <data-dir>/keys/auditor.key and the id auditor-<its key id> — stable across restarts (a host
 * name is not, in a container) and distinct for every data dir, so two control planes on one
 * NATS cluster are two auditors whose checkpoints interleave on one chain.
 */
const auditorProducer = async (dataDir: string, id: string | undefined): Promise<Producer> => {
  const key = await loadOrCreateSigningKey(join(dataDir, "keys", `${id ?? "auditor"}.key`));
  return new Producer(id ?? `auditor-${key.keyId}`, key);
};

/** Resolves when the process is told to stop. */
const stopSignal = () =>
  new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });

export const up = async (argv: string[]): Promise<number> => {
  const { values } = parseArgs({
    args: argv,
    options: {
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      replicas: { type: "string" },
      storage: { type: "string" },
      sim: { type: "string" },
      "sim-interval": { type: "string" },
      "sim-seed": { type: "string" },
      "sim-heartbeat": { type: "string" },
      "no-heal": { type: "boolean" },
      "heal-id": { type: "string" },
      "no-audit": { type: "boolean" },
      "auditor-id": { type: "string" },
      "audit-every": { type: "string" },
      "audit-interval": { type: "string" },
      "audit-copies-mb": { type: "string" },
    },
    strict: true,
  });
  const dataDir = dataDirFrom(values["data-dir"]);
  const port = parseIntOption("port", values.port, 8080);
  const replicas = parseIntOption("replicas", values.replicas, 1, 1);
  const simNodes = parseIntOption("sim", values.sim, 0);
  const auditEvery = parseIntOption("audit-every", values["audit-every"], 100_000, 1);
  const auditIntervalSeconds = parseIntOption("audit-interval", values["audit-interval"], 60, 1);
  const auditCopiesMiB = parseIntOption("audit-copies-mb", values["audit-copies-mb"], 2048, 0);
  const auditorId = values["auditor-id"];
  if (auditorId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/u.test(auditorId)) throw new UsageError(`--auditor-id must be 1-64 of A-Z a-z 0-9 _ -, got "${auditorId}"`);
  const stopped = stopSignal();

  let server: RunningNatsServer | undefined;
  let servers = serversFromEnv();
  if (!servers) {
    server = await startNatsServer({ dataDir: join(dataDir, "nats"), onLog: (line) => log.debug(line, { source: "nats-server" }) });
    servers = [server.url];
    log.info("embedded nats-server started", { url: server.url, store: join(dataDir, "nats") });
  }
  const cleanups: (() => Promise<unknown>)[] = [];
  const shutdown = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => log.warn("shutdown step failed", { error: error.message }));
    await server?.stop();
  };
  try {
    const nc: NatsConnection = await connectNats({ servers, name: "x0-control-plane" });
    cleanups.push(() => nc.drain());
    log.info("connected to NATS", { server: nc.info?.version ?? "unknown", servers: servers.join(",") });
    const storageBytes = await storageBudget(values.storage ?? process.env.X0_STORAGE, server ? join(dataDir, "nats") : undefined);
    await ensureStreams(await jetstreamManager(nc), { replicas, storageBytes });
    log.info("streams ready", { storageBytes, replicas });
    const producers = await ProducerRegistry.open(nc, { replicas });
    // One verification pool for every runner: one worker per core, not one per core per projection.
    const verifyPool = new VerifyPool();
    cleanups.push(() => verifyPool.close());
    // Enrolled keys first, caught up to the end of IDENTITY, so HEAL events signed by the loop
    // or an operator verify when the incident runner reaches them.
    const identity = new IdentityProjection(nc, { replicas, registry: producers });
    const identityRunner = new ProjectionRunner(nc, identity, producers, { verifyPool });
    await identityRunner.start();
    cleanups.push(() => identityRunner.stop());
    const identityEnd = (await (await jetstreamManager(nc)).streams.info("IDENTITY")).state.last_seq;
    await identityRunner.waitFor(identityEnd, { timeoutMs: 120_000 });
    log.info("identity restored", { producers: identity.producers.size, sequence: identityRunner.appliedSequence });
    // The healing loop watches MESH through the knowledge base's runner: every event verified once.
    const healId = values["heal-id"] ?? "control-plane";
    const controller = values["no-heal"]
      ? undefined
      : new HealingController({ nc, producers, producer: new Producer(healId, await loadOrCreateSigningKey(join(dataDir, "keys", `${healId}.key`))) });
    const projection = new KnowledgeBaseProjection(nc, { replicas });
    const runner = new ProjectionRunner(nc, projection, producers, { verifyPool, ...(controller ? { onApplied: (event) => controller.observe(event) } : {}) });
    await runner.start();
    cleanups.push(() => runner.stop());
    log.info("knowledge base restored", { nodes: projection.kb.size, sequence: runner.durableSequence });
    const incidents = new IncidentProjection(nc, identity.producers, { replicas });
    const incidentRunner = new ProjectionRunner(nc, incidents, producers, { verifyPool });
    await incidentRunner.start();
    cleanups.push(() => incidentRunner.stop());
    log.info("incident log restored", { ...incidents.log.size, sequence: incidentRunner.durableSequence });
    if (controller) {
      await controller.start();
      cleanups.push(() => controller.stop());
    }
    // After identity is restored: an auditor enrolled on an earlier start is bound already and not enrolled again.
    const auditorIdentity = values["no-audit"] ? undefined : await auditorProducer(dataDir, auditorId);
    const auditor = auditorIdentity
      ? new Auditor(nc, {
          producer: auditorIdentity,
          registry: producers,
          replicas,
          checkpointEvery: auditEvery,
          checkpointIntervalMs: auditIntervalSeconds * 1000,
          ...(auditCopiesMiB > 0 ? { copies: { dir: join(dataDir, "audit", auditorIdentity.producerId), maxBytes: auditCopiesMiB * 1024 ** 2 } } : {}),
        })
      : undefined;
    if (auditor) {
      await auditor.start();
      cleanups.push(() => auditor.stop());
      log.info("auditor started", { producer: auditor.producerId, keyId: auditor.keyId, treeSize: auditor.hashes.size, checkpoint: auditor.head?.number ?? 0 });
    }
    const api = await startHttpApi({
      kb: projection.kb,
      incidents: incidents.log,
      ...(controller ? { liveness: { nodeLiveness: (id: string) => controller.liveness(id) } } : {}),
      ...(auditor ? { audit: new AuditProofs(nc, auditor) } : {}),
      nc,
      producers,
      host: values.host ?? "127.0.0.1",
      port,
      ready: () => !nc.isClosed(),
      log: (line) => log.info(line),
    });
    cleanups.push(() => api.close());
    if (simNodes > 0) {
      const sim = await runSim({
        servers,
        nodes: simNodes,
        intervalMs: parseIntOption("sim-interval", values["sim-interval"], 1000, 10),
        heartbeatIntervalMs: parseIntOption("sim-heartbeat", values["sim-heartbeat"], parseIntOption("sim-interval", values["sim-interval"], 1000, 10), 10),
        seed: parseIntOption("sim-seed", values["sim-seed"], 1),
        log: (line) => log.info(line, { source: "twin" }),
      });
      cleanups.push(() => sim.stop());
    }
    process.stdout.write(
      `x0tta6bl4 is up\n  NATS_URL=${servers.join(",")}\n  API      ${api.url}  (GET /nodes[?asOf=] /nodes/{id} /nodes/{id}/health /topology /incidents /incidents/{id} /commands /faults /events /audit/checkpoints /audit/proof/inclusion /audit/proof/consistency /healthz /metrics /openapi.json)\n` +
        (controller ? `  healing  loop running as ${healId} (x0 incidents to follow it)\n` : `  healing  off (--no-heal)\n`) +
        (auditor
          ? `  audit    auditor ${auditor.producerId} signs a checkpoint every ${auditEvery} events or ${auditIntervalSeconds} s (x0 audit verify to check the log)\n` +
            (auditor.leafCopies ? `           proofs read events from local copies in ${auditor.leafCopies.dir} (up to ${auditCopiesMiB} MiB)\n` : "")
          : `  audit    off (--no-audit)\n`) +
        (simNodes > 0 ? `  twin     ${simNodes} simulated nodes\n` : "") +
        `  stop     Ctrl-C\n`,
    );
    const signal = await stopped;
    log.info("stopping", { signal });
    await shutdown();
    return 0;
  } catch (error) {
    await shutdown();
    throw error;
  }
};
