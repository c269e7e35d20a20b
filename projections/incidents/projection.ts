import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { chaosEvents } from "../../domains/chaos/index.ts";
import { healEvents } from "../../domains/healing/index.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";
import type { Projection, VerifiedEvent } from "../../streams/projection-runner.ts";
import type { RoleSource } from "../identity/index.ts";
import { authorizeHealEvent } from "./authorize.ts";
import { detectionSeconds as detectionHistogram, incidentsEnded, timeToRecoverSeconds as recoveryHistogram } from "./metrics.ts";
import { detectionSeconds, IncidentLog, timeToRecoverSeconds, type IncidentRecord, type RecordKey, type Reported } from "./model.ts";

const CHECKPOINT_KEY = "checkpoint";

export interface IncidentProjectionOptions {
  /** Durable consumer name. Default `incidents`. */
  readonly name?: string;
  /** KV bucket name. Default `incidents`. */
  readonly bucket?: string;
  /** Replicas of the bucket: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
}

/** The measurements of an incident that are due for export, with the flags to persist once they are. */
const due = (record: IncidentRecord): { reported: Reported; export: () => void } | undefined => {
  const { state } = record;
  const kind = state.detected?.kind;
  if (kind === undefined) return undefined;
  const detection = !record.reported.detection;
  const outcome = !record.reported.outcome && (state.status === "recovered" || state.status === "escalated");
  if (!detection && !outcome) return undefined;
  return {
    reported: { detection: true, outcome: record.reported.outcome || outcome },
    export: () => {
      const detected = detection ? detectionSeconds(state) : undefined;
      if (detected !== undefined) detectionHistogram.observe({ kind }, detected);
      if (!outcome) return;
      incidentsEnded.inc({ kind, status: state.status });
      const recovered = timeToRecoverSeconds(state);
      if (recovered !== undefined) recoveryHistogram.observe({ kind }, recovered);
    },
  };
};

/**
 * The incident log as a projection of the HEAL stream (`heal.>`: incidents, commands, outcomes,
 * faults). Events are authorized by role (`authorizeHealEvent`, roles from the identity
 * projection). State in the KV bucket `incidents`: one key per incident, operator command and
 * fault, plus the checkpoint.
 *
 * Metrics are exported when an incident's record is made durable, and the record remembers it:
 * events replayed after a restart (applied but not checkpointed before a crash) find the flags
 * set and export nothing again. A rebuild from an empty bucket exports every incident once.
 */
export class IncidentProjection implements Projection {
  readonly name: string;
  readonly stream = "HEAL" as const;
  readonly filterSubject = "heal.>";
  readonly events = [...healEvents, ...chaosEvents];
  readonly log = new IncidentLog();
  private readonly dirty = new Set<RecordKey>();
  private kv: KV | undefined;

  constructor(
    private readonly nc: NatsConnection | undefined,
    /** Roles of enrolled producers: the identity projection's `producers`. */
    private readonly roles: RoleSource,
    private readonly options: IncidentProjectionOptions = {},
  ) {
    this.name = options.name ?? "incidents";
  }

  authorize(event: VerifiedEvent): string | undefined {
    return authorizeHealEvent(event.meta, event.payload, this.roles);
  }

  apply(event: VerifiedEvent): void {
    const key = this.log.apply(event);
    if (key) this.dirty.add(key);
  }

  async restore(): Promise<number> {
    if (!this.nc) return 0;
    this.kv = await new Kvm(this.nc).create(this.options.bucket ?? "incidents", { history: 1, replicas: this.options.replicas ?? 1 });
    const keys: RecordKey[] = [];
    for await (const key of await this.kv.keys()) if (key !== CHECKPOINT_KEY) keys.push(key as RecordKey);
    // Records are loaded even without a checkpoint (a crash during the first one): each skips
    // the events at or below its own sequence, so the replay from the start applies nothing twice.
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === "PUT") this.log.load(key, decodeCbor(entry.value));
    }
    const checkpoint = await this.kv.get(CHECKPOINT_KEY);
    return checkpoint?.operation === "PUT" ? Number(checkpoint.string()) : 0;
  }

  async checkpoint(seq: number): Promise<void> {
    const kv = this.kv;
    const keys = [...this.dirty];
    this.dirty.clear();
    const failed: RecordKey[] = [];
    // Records first, the checkpoint last. Each incident's metrics are exported right after its
    // record (with the flags saying so) is stored, never before: a crash cannot export twice.
    for (let i = 0; i < keys.length; i += 256) {
      const chunk = keys.slice(i, i + 256);
      const results = await Promise.allSettled(chunk.map((key) => this.persist(kv, key)));
      results.forEach((r, j) => r.status === "rejected" && failed.push(chunk[j]!));
    }
    if (failed.length > 0) {
      for (const key of failed) this.dirty.add(key); // written again on the retry
      throw new Error(`${failed.length} incident record(s) not stored`);
    }
    await kv?.put(CHECKPOINT_KEY, String(seq));
  }

  private async persist(kv: KV | undefined, key: RecordKey): Promise<void> {
    const record = this.log.record(key);
    if (!record) return;
    const exported = key.startsWith("incident.") ? due(record as IncidentRecord) : undefined;
    const stored = exported ? { ...record, reported: exported.reported } : record;
    await kv?.put(key, encodeCbor(stored));
    if (!exported) return;
    this.log.markReported((record as IncidentRecord).incidentId, exported.reported);
    exported.export();
  }
}
