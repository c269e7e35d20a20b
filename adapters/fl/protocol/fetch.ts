import type { ClientUpdate, ServerState } from "../../../domains/fl/aggregate/index.ts";
import { contentId, modelFromBytes } from "../../../domains/fl/content-id.ts";
import type { LocalUpdateSubmitted, Rejection } from "../../../domains/fl/events.ts";
import { decodeServerState } from "../../../domains/fl/round/server-state.ts";
import type { ModelBytesStore } from "../../../streams/model-store.ts";

/** A model by content id, checked against it. */
export const fetchModel = async (models: ModelBytesStore, cid: string): Promise<Float32Array> => modelFromBytes(await models.get(cid));

export const fetchServerState = async (models: ModelBytesStore, cid: string): Promise<ServerState> => decodeServerState(await models.get(cid));

/** Inline bytes if the event carries them (checked against their id), else the store's. */
const bytesOf = async (models: ModelBytesStore, cid: string, inline: Uint8Array | undefined): Promise<Uint8Array> => {
  if (inline === undefined) return models.get(cid);
  const actual = contentId(inline);
  if (actual !== cid) throw new Error(`the inline bytes are ${actual}, not ${cid}`);
  return inline;
};

/** One client's update as the aggregator takes it. */
export const fetchUpdate = async (models: ModelBytesStore, u: LocalUpdateSubmitted): Promise<ClientUpdate> => {
  const weights = modelFromBytes(await bytesOf(models, u.weightsCid, u.weights));
  const controlDelta = u.controlDeltaCid === undefined ? undefined : modelFromBytes(await bytesOf(models, u.controlDeltaCid, u.controlDelta));
  return { client: u.client, weights, examples: u.examples, ...(controlDelta ? { controlDelta } : {}) };
};

/** Every update that can be fetched and checked, and why the others cannot. */
export const fetchUpdates = async (
  models: ModelBytesStore,
  updates: readonly LocalUpdateSubmitted[],
): Promise<{ readonly fetched: readonly { readonly submitted: LocalUpdateSubmitted; readonly update: ClientUpdate }[]; readonly failed: readonly Rejection[] }> => {
  const results = await Promise.allSettled(updates.map((u) => fetchUpdate(models, u)));
  const fetched: { submitted: LocalUpdateSubmitted; update: ClientUpdate }[] = [];
  const failed: Rejection[] = [];
  results.forEach((r, i) => {
    const submitted = updates[i]!;
    if (r.status === "fulfilled") fetched.push({ submitted, update: r.value });
    else failed.push({ client: submitted.client, reason: (r.reason as Error).message.slice(0, 256) });
  });
  return { fetched, failed };
};
