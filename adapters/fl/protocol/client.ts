import type { NatsConnection } from "@nats-io/transport-node";
import type { ServerState } from "../../../domains/fl/aggregate/index.ts";
import { contentId, modelBytes } from "../../../domains/fl/content-id.ts";
import { INLINE_MAX_BYTES, type LocalUpdateSubmitted, type RoundStarted } from "../../../domains/fl/events.ts";
import { FlActor, type FlActorOptions } from "./actor.ts";
import { fetchModel, fetchServerState } from "./fetch.ts";
import type { RoundView } from "./model-view.ts";

/** What local training hands back (the FL contract's `trainLocal` result, as the protocol needs it). */
export interface LocalTrainingResult {
  /** The whole model after local training. */
  readonly weights: Float32Array;
  readonly examples: number;
  readonly loss?: number;
  /** SCAFFOLD: c_i+ − c_i. */
  readonly controlDelta?: Float32Array;
}

/** Trains locally from the round's global model; tfjs training, or anything else in tests. */
export type TrainFunction = (input: {
  readonly started: RoundStarted;
  readonly global: Float32Array;
  readonly serverState: ServerState;
}) => Promise<LocalTrainingResult> | LocalTrainingResult;

export interface FlClientOptions extends FlActorOptions {
  readonly train: TrainFunction;
  /** Weights up to this many bytes travel inline in the event, larger ones through the object store. Default 64 KiB (the most an event carries); 0 = always the store. */
  readonly inlineMaxBytes?: number;
}

export interface ClientStats {
  /** Updates stored on the stream. */
  submitted: number;
  /** Rounds whose deadline passed during training: nothing sent. */
  late: number;
  failed: number;
}

/**
 * A federated-learning client: it reads only the model's RoundStarted events, and for each
 * round that selected it (and whose deadline has not passed) fetches the global model by content
 * id, trains with the injected `train`, puts the new weights in the object store (or inline when
 * small) and submits a signed LocalUpdateSubmitted. It talks to no one but JetStream.
 */
export class FlClient extends FlActor {
  readonly stats: ClientStats = { submitted: 0, late: 0, failed: 0 };
  private readonly handled = new Set<number>();

  private constructor(
    nc: NatsConnection,
    private readonly client: FlClientOptions,
  ) {
    super(nc, client, "fl-client", "started");
  }

  static async start(nc: NatsConnection, options: FlClientOptions): Promise<FlClient> {
    const actor = new FlClient(nc, options);
    await actor.startActor();
    return actor;
  }

  protected async react(): Promise<void> {
    for (const view of this.view.rounds.values()) {
      const started = view.round.started;
      if (!started || this.handled.has(view.number) || !started.selectedClients.includes(this.producerId)) continue;
      this.handled.add(view.number);
      if (this.clock.now() > started.deadline) continue; // an old round, seen in the replay
      try {
        await this.participate(view, started);
      } catch (error) {
        this.stats.failed++;
        this.log.warn(`FL round ${view.number}: ${this.producerId} could not take part`, { error: (error as Error).message });
      }
    }
  }

  private async participate(view: RoundView, started: RoundStarted): Promise<void> {
    const [global, serverState] = await Promise.all([fetchModel(this.models, started.globalModelCid), fetchServerState(this.models, started.serverStateCid)]);
    const result = await this.client.train({ started, global, serverState });
    if (this.clock.now() > started.deadline) {
      this.stats.late++;
      this.log.warn(`FL round ${view.number}: ${this.producerId} finished training after the deadline; nothing sent`);
      return;
    }
    const inlineMax = Math.min(this.client.inlineMaxBytes ?? INLINE_MAX_BYTES, INLINE_MAX_BYTES);
    const weights = await this.place(modelBytes(result.weights), inlineMax);
    const control = result.controlDelta ? await this.place(modelBytes(result.controlDelta), inlineMax) : undefined;
    const update: LocalUpdateSubmitted = {
      modelId: started.modelId,
      round: started.round,
      client: this.producerId,
      baseModelCid: started.globalModelCid,
      examples: result.examples,
      weightsCid: weights.cid,
      byteLength: weights.byteLength,
      ...(weights.inline ? { weights: weights.inline } : {}),
      ...(control ? { controlDeltaCid: control.cid, ...(control.inline ? { controlDelta: control.inline } : {}) } : {}),
      ...(result.loss !== undefined && Number.isFinite(result.loss) ? { loss: result.loss } : {}),
      submittedAt: this.clock.now(),
    };
    await this.append({ type: "fl.LocalUpdateSubmitted", data: update }, view.startedEventId ? { correlationId: view.startedEventId, causationId: view.startedEventId } : {});
    this.stats.submitted++;
  }

  /** Inline when small enough, else in the object store; either way named by content id. */
  private async place(bytes: Uint8Array, inlineMax: number): Promise<{ cid: string; byteLength: number; inline?: Uint8Array }> {
    if (bytes.byteLength <= inlineMax) return { cid: contentId(bytes), byteLength: bytes.byteLength, inline: bytes };
    return { cid: await this.models.put(bytes), byteLength: bytes.byteLength };
  }
}
