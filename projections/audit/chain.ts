import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { CHECKPOINT_SUBJECT, CheckpointSigned, CompactTree, equalHashes, type Checkpoint, type Hash } from "../../domains/audit/index.ts";
import type { EventDefinition } from "../../domains/kernel/index.ts";
import { decodeMessage } from "../../streams/decode.ts";
import { EventRejectedError } from "../../streams/errors.ts";

/** The stream that holds the audit chain. */
export const AUDIT_STREAM = "AUDIT";

/** One message of the chain subject: a checkpoint, or why it is not one. */
export interface ChainEntry {
  /** Its AUDIT sequence: checkpoint n. */
  readonly number: number;
  readonly checkpoint?: Checkpoint;
  /** The tree's frontier at the checkpoint (verified against its root when decoded). */
  readonly frontier?: readonly Hash[];
  /** Who published it (the envelope's producer and key). */
  readonly producerId?: string;
  readonly keyId?: string;
  /** Set when the message is not a well-formed checkpoint event. */
  readonly problem?: string;
}

const definitions: ReadonlyMap<string, EventDefinition> = new Map([[CheckpointSigned.type, CheckpointSigned as EventDefinition]]);

/** Decodes one message of the chain subject (from a consumer or a get). */
export const decodeChainEntry = (number: number, msg: { readonly subject: string; readonly headers: MsgHdrs | undefined; readonly data: Uint8Array }): ChainEntry => {
  if (msg.subject !== CHECKPOINT_SUBJECT) return { number, problem: `message ${number} is on ${msg.subject}, not ${CHECKPOINT_SUBJECT}` };
  const decoded = decodeMessage(msg, definitions, CheckpointSigned.maxPayloadBytes);
  if (decoded instanceof EventRejectedError) return { number, problem: `not a checkpoint event (${decoded.reason}): ${decoded.message}` };
  const { frontier, ...checkpoint } = decoded.payload as CheckpointSigned;
  const entry = { number, checkpoint, producerId: decoded.meta.producerId, keyId: decoded.meta.keyId };
  let folded: Hash;
  try {
    folded = new CompactTree(undefined, { size: checkpoint.treeSize, peaks: frontier }).root();
  } catch (error) {
    return { ...entry, problem: `its frontier does not fit a tree of ${checkpoint.treeSize} leaves: ${(error as Error).message}` };
  }
  if (!equalHashes(folded, checkpoint.rootHash)) return { ...entry, problem: "its frontier does not fold to its root" };
  return { ...entry, frontier };
};

/** The AUDIT sequence of the last message on the chain subject, 0 when there is none. */
export const chainEnd = async (jsm: JetStreamManager): Promise<number> => {
  try {
    const msg = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: CHECKPOINT_SUBJECT });
    return msg?.seq ?? 0;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) return 0;
    throw error;
  }
};

/** Checkpoint n, or undefined when AUDIT holds no message n. */
export const getChainEntry = async (jsm: JetStreamManager, number: number): Promise<ChainEntry | undefined> => {
  try {
    const msg = await jsm.streams.getMessage(AUDIT_STREAM, { seq: number });
    if (!msg) return undefined;
    return decodeChainEntry(number, { subject: msg.subject, headers: msg.header, data: msg.data });
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) return undefined;
    throw error;
  }
};

/** The chain's entries from checkpoint `from` on, up to its end when the read starts. */
export async function* readChain(js: JetStreamClient, jsm: JetStreamManager, from = 1): AsyncGenerator<ChainEntry> {
  const end = await chainEnd(jsm);
  if (end < from) return;
  const consumer = await js.consumers.get(AUDIT_STREAM, {
    filter_subjects: CHECKPOINT_SUBJECT,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(1, from),
  });
  const messages = await consumer.consume({ max_messages: 256 });
  try {
    for await (const msg of messages) {
      yield decodeChainEntry(msg.seq, msg);
      if (msg.seq >= end) return;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
}
