import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";

import { StorageBudgetError } from "./errors.ts";

const DAY_NS = 24 * 60 * 60 * 1e9;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** One stream of the topology: what a user reads in README, applied verbatim at start. */
export interface StreamDefinition {
  readonly name: StreamName;
  readonly subjects: readonly string[];
  /** Subject scheme, as documented in README. */
  readonly scheme: string;
  readonly description: string;
  /** Covered by the audit chain: the server refuses deletes and purges. */
  readonly audited: boolean;
  /** 0 = no age limit. */
  readonly maxAgeDays: number;
  /** Share of the storage budget this stream may use (shares add up to 1). */
  readonly storageShare: number;
  readonly maxMsgSize: number;
  /** Window in which the server drops a repeated `Nats-Msg-Id`. */
  readonly duplicateWindowSeconds: number;
}

export type StreamName = "MESH" | "HEAL" | "FL" | "GOV" | "IDENTITY" | "AUDIT" | "QUARANTINE";

/**
 * Limits-based retention everywhere: events are history, not work items, and several
 * projections read each stream independently. Audited streams keep every event and refuse
 * new ones when full (discard new: loud, never a silent loss of history) — except MESH,
 * whose telemetry ages out (discard old, 30 days); the audit chain's checkpoints record
 * where MESH history starts. See ADR 0008.
 */
export const streams: readonly StreamDefinition[] = [
  {
    name: "MESH",
    subjects: ["mesh.>"],
    scheme: "mesh.<nodeId>.<announced|heartbeat|links|metrics>",
    description: "Node announcements, heartbeats, link and node metrics, one subject per node and kind",
    audited: true,
    maxAgeDays: 30,
    storageShare: 0.5,
    maxMsgSize: 256 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "HEAL",
    subjects: ["heal.>"],
    scheme: "heal.<nodeId>.<command|outcome>, heal.incident.<incidentId>, heal.fault.<faultId>",
    description: "Healing commands addressed to nodes, their outcomes, incident lifecycle events, and injected faults",
    audited: true,
    maxAgeDays: 0,
    storageShare: 0.1,
    maxMsgSize: 256 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "FL",
    subjects: ["fl.>"],
    scheme: "fl.<modelId>.<round>.<phase>",
    description: "Federated learning rounds, local updates (by content id), commits of the global model",
    audited: true,
    maxAgeDays: 0,
    storageShare: 0.2,
    maxMsgSize: 512 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "GOV",
    subjects: ["gov.>"],
    scheme: "gov.<proposalId>.<proposed|voted|tallied|executed>",
    description: "Governance proposals and votes",
    audited: true,
    maxAgeDays: 0,
    storageShare: 0.04,
    maxMsgSize: 256 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "IDENTITY",
    subjects: ["identity.>"],
    scheme: "identity.<producerId>.<enrolled|rotated|revoked>",
    description: "Producer keys: enrolment, rotation, revocation",
    audited: true,
    maxAgeDays: 0,
    storageShare: 0.02,
    maxMsgSize: 64 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "AUDIT",
    subjects: ["audit.>"],
    scheme: "audit.checkpoint",
    description: "Signed Merkle checkpoints over the audited streams",
    audited: true,
    maxAgeDays: 0,
    storageShare: 0.04,
    maxMsgSize: 64 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "QUARANTINE",
    subjects: ["quarantine.>"],
    scheme: "quarantine.<STREAM>.<reason>",
    description: "Refused events: original bytes and headers plus the reason, for operators to inspect",
    audited: false,
    maxAgeDays: 30,
    storageShare: 0.1,
    // The server's max_payload (1 MiB): a refused event plus its quarantine headers must fit.
    maxMsgSize: MiB,
    duplicateWindowSeconds: 120,
  },
];

export const streamNamed = (name: StreamName): StreamDefinition => {
  const found = streams.find((s) => s.name === name);
  if (!found) throw new Error(`no stream ${name}`);
  return found;
};

export interface TopologyOptions {
  /** Replicas per stream: 1 on a single server, 3 on a NATS cluster. Default 1. */
  readonly replicas?: number;
  /**
   * Bytes of JetStream storage the streams may use together, split by `storageShare`.
   * nats-server reserves each stream's limit up front, so the sum must fit its store.
   * Default 16 GiB; `x0 up` derives it from the free disk space of an embedded server.
   */
  readonly storageBytes?: number;
}

export const DEFAULT_STORAGE_BYTES = 16 * GiB;

/** JetStream API error code for "insufficient storage resources available". */
const INSUFFICIENT_RESOURCES = 10047;

export const streamConfig = (def: StreamDefinition, options: TopologyOptions = {}): Partial<StreamConfig> & { name: string } => ({
  name: def.name,
  subjects: [...def.subjects],
  description: def.description,
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: def.maxAgeDays > 0 || !def.audited ? DiscardPolicy.Old : DiscardPolicy.New,
  max_age: def.maxAgeDays * DAY_NS,
  max_bytes: Math.max(def.maxMsgSize, Math.floor(def.storageShare * (options.storageBytes ?? DEFAULT_STORAGE_BYTES))),
  max_msg_size: def.maxMsgSize,
  duplicate_window: def.duplicateWindowSeconds * 1e9,
  num_replicas: options.replicas ?? 1,
  deny_delete: def.audited,
  deny_purge: def.audited,
  allow_direct: true,
});

/** Creates each stream, or updates it to the definition when it exists. Safe to run at every start. */
export const ensureStreams = async (jsm: JetStreamManager, options: TopologyOptions = {}): Promise<void> => {
  for (const def of streams) {
    const config = streamConfig(def, options);
    try {
      try {
        await jsm.streams.info(def.name);
      } catch (error) {
        if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
          await jsm.streams.add(config);
          continue;
        }
        throw error;
      }
      await jsm.streams.update(def.name, config);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === INSUFFICIENT_RESOURCES) {
        throw new StorageBudgetError({
          message:
            `stream ${def.name} needs ${config.max_bytes} bytes but the server's JetStream store has less room: ` +
            `lower the storage budget (x0 up --storage, X0_STORAGE_BYTES; now ${options.storageBytes ?? DEFAULT_STORAGE_BYTES}) ` +
            `or give nats-server more (max_file_store)`,
          cause: error,
        });
      }
      throw error;
    }
  }
};
