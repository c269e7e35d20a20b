import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";

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
  readonly maxAgeDays: number;
  readonly maxBytes: number;
  readonly maxMsgSize: number;
  /** Window in which the server drops a repeated `Nats-Msg-Id`. */
  readonly duplicateWindowSeconds: number;
}

export type StreamName = "MESH" | "HEAL" | "FL" | "GOV" | "IDENTITY" | "AUDIT" | "QUARANTINE";

/**
 * Limits-based retention everywhere: events are history, not work items, and several
 * projections read each stream independently. Audited streams keep every event
 * (no age limit) except MESH, whose telemetry volume is bounded by age and size; the
 * audit chain's checkpoints record where MESH history starts.
 */
export const streams: readonly StreamDefinition[] = [
  {
    name: "MESH",
    subjects: ["mesh.>"],
    scheme: "mesh.<nodeId>.<announced|heartbeat|links|metrics>",
    description: "Node announcements, heartbeats, link and node metrics, one subject per node and kind",
    audited: true,
    maxAgeDays: 30,
    maxBytes: 50 * GiB,
    maxMsgSize: 256 * 1024,
    duplicateWindowSeconds: 120,
  },
  {
    name: "HEAL",
    subjects: ["heal.>"],
    scheme: "heal.<nodeId>.<command|outcome>, heal.incident.<incidentId>",
    description: "Healing commands addressed to nodes, their outcomes, and incident lifecycle events",
    audited: true,
    maxAgeDays: 0,
    maxBytes: 10 * GiB,
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
    maxBytes: 20 * GiB,
    maxMsgSize: MiB,
    duplicateWindowSeconds: 120,
  },
  {
    name: "GOV",
    subjects: ["gov.>"],
    scheme: "gov.<proposalId>.<proposed|voted|tallied|executed>",
    description: "Governance proposals and votes",
    audited: true,
    maxAgeDays: 0,
    maxBytes: 5 * GiB,
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
    maxBytes: GiB,
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
    maxBytes: 5 * GiB,
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
    maxBytes: 5 * GiB,
    maxMsgSize: 2 * MiB,
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
  /** Scale every byte limit down (tests use small stores). Default 1. */
  readonly maxBytesScale?: number;
}

export const streamConfig = (def: StreamDefinition, options: TopologyOptions = {}): Partial<StreamConfig> & { name: string } => ({
  name: def.name,
  subjects: [...def.subjects],
  description: def.description,
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: def.maxAgeDays * DAY_NS,
  max_bytes: Math.floor(def.maxBytes * (options.maxBytesScale ?? 1)),
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
      await jsm.streams.info(def.name);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
        await jsm.streams.add(config);
        continue;
      }
      throw error;
    }
    await jsm.streams.update(def.name, config);
  }
};
