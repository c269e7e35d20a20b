import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { meshEvents, meshSubjectKind, NodeAnnounced } from "../../domains/mesh/index.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";
import type { Projection, VerifiedEvent } from "../../streams/projection-runner.ts";
import { KnowledgeBase, type MeshEvent, type NodeState } from "./model.ts";

const CHECKPOINT_KEY = "checkpoint";
const nodeKey = (nodeId: string) => `node.${nodeId}`;

export interface KnowledgeBaseProjectionOptions {
  /** Durable consumer name. Default `knowledge-base`. */
  readonly name?: string;
  /** KV bucket name. Default `kb`. */
  readonly bucket?: string;
  /** Replicas of the bucket: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
}

/**
 * The knowledge base (K of MAPE-K) as a projection of the MESH stream: in memory for queries,
 * and in the KV bucket `kb` (one key per node plus the checkpoint) so a restart resumes
 * where it stopped and other processes can read it.
 */
export class KnowledgeBaseProjection implements Projection {
  readonly name: string;
  readonly stream = "MESH" as const;
  readonly events = meshEvents;
  readonly keyIntroductions = {
    [NodeAnnounced.type]: (payload: unknown) => (payload as typeof NodeAnnounced.schema.Type).publicKey,
  };
  readonly kb = new KnowledgeBase();
  private readonly dirty = new Set<string>();
  private kv: KV | undefined;

  constructor(
    private readonly nc: NatsConnection | undefined,
    private readonly options: KnowledgeBaseProjectionOptions = {},
  ) {
    this.name = options.name ?? "knowledge-base";
  }

  /** A node publishes only about itself, on its own subjects. */
  authorize(event: VerifiedEvent): string | undefined {
    const { producerId, subject, type } = event.meta;
    const nodeId = (event.payload as { nodeId: string }).nodeId;
    const kind = meshSubjectKind[type as keyof typeof meshSubjectKind];
    if (nodeId !== producerId) return `${producerId} may not report for node ${nodeId}`;
    if (subject !== `mesh.${producerId}.${kind}`) return `${type} from ${producerId} belongs on mesh.${producerId}.${kind}, not ${subject}`;
    return undefined;
  }

  apply(event: VerifiedEvent): void {
    const node = this.kb.apply({ type: event.meta.type, payload: event.payload } as MeshEvent, {
      seq: event.seq,
      occurredAt: Date.parse(event.meta.occurredAt),
      keyId: event.meta.keyId,
    });
    this.dirty.add(node.nodeId);
  }

  async restore(): Promise<number> {
    if (!this.nc) return 0;
    this.kv = await new Kvm(this.nc).create(this.options.bucket ?? "kb", { history: 1, replicas: this.options.replicas ?? 1 });
    const checkpoint = await this.kv.get(CHECKPOINT_KEY);
    if (!checkpoint || checkpoint.operation !== "PUT") return 0;
    const seq = Number(checkpoint.string());
    const keys: string[] = [];
    for await (const key of await this.kv.keys("node.>")) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === "PUT") this.kb.load(decodeCbor(entry.value) as NodeState);
    }
    return seq;
  }

  async checkpoint(seq: number): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    try {
      // Node states first, the checkpoint last: a crash in between replays events that
      // evolveNode then skips by sequence, so nothing is applied twice.
      for (let i = 0; i < ids.length; i += 512) {
        await Promise.all(
          ids.slice(i, i + 512).map((id) => {
            const node = this.kb.node(id);
            return node ? kv.put(nodeKey(id), encodeCbor(node)) : Promise.resolve(0);
          }),
        );
      }
      await kv.put(CHECKPOINT_KEY, String(seq));
    } catch (error) {
      for (const id of ids) this.dirty.add(id); // written again on the retry
      throw error;
    }
  }
}
