/**
 * The aggregator's server state (the FL contract's `ServerState`: the round, FedAdam/FedYogi
 * moments, SCAFFOLD's control variate) as bytes, so it is stored and named by content id like a
 * model and every validator recomputes the aggregate from the same state.
 *
 * Layout, little-endian:
 *   u8 version (1) · u8 flags (bit 0 momentum, bit 1 velocity, bit 2 control) · u16 zero ·
 *   u32 round · then for each vector present, in that order: u32 length (float32 values),
 *   the values (as `modelBytes` writes them).
 * One encoding per state: the same state always gives the same bytes and content id.
 */
import { modelBytes, modelFromBytes } from "../content-id.ts";

/** Structurally the FL contract's `ServerState` (domains/fl/aggregate). */
export interface ServerStateBytesInput {
  readonly round: number;
  readonly momentum?: Float32Array;
  readonly velocity?: Float32Array;
  readonly control?: Float32Array;
}

const VERSION = 1;
const vectors = ["momentum", "velocity", "control"] as const;

export const encodeServerState = (state: ServerStateBytesInput): Uint8Array => {
  if (!Number.isInteger(state.round) || state.round < 0 || state.round > 0xffff_ffff) throw new RangeError(`server state round ${state.round} is not a u32`);
  const present = vectors.filter((k) => state[k] !== undefined);
  const size = 8 + present.reduce((sum, k) => sum + 4 + state[k]!.length * 4, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setUint8(1, vectors.reduce((flags, k, bit) => (state[k] !== undefined ? flags | (1 << bit) : flags), 0));
  view.setUint32(4, state.round, true);
  let offset = 8;
  for (const k of present) {
    const values = state[k]!;
    view.setUint32(offset, values.length, true);
    out.set(modelBytes(values), offset + 4);
    offset += 4 + values.length * 4;
  }
  return out;
};

/** Reads what `encodeServerState` wrote; throws a RangeError on anything else. */
export const decodeServerState = (bytes: Uint8Array): { round: number; momentum?: Float32Array; velocity?: Float32Array; control?: Float32Array } => {
  if (bytes.byteLength < 8) throw new RangeError("server state: shorter than its 8-byte header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== VERSION) throw new RangeError(`server state: version ${view.getUint8(0)}, expected ${VERSION}`);
  const flags = view.getUint8(1);
  if (flags >>> vectors.length !== 0 || view.getUint16(2, true) !== 0) throw new RangeError("server state: unknown flags");
  const state: { round: number; momentum?: Float32Array; velocity?: Float32Array; control?: Float32Array } = { round: view.getUint32(4, true) };
  let offset = 8;
  vectors.forEach((k, bit) => {
    if ((flags & (1 << bit)) === 0) return;
    if (offset + 4 > bytes.byteLength) throw new RangeError(`server state: ${k} length cut off`);
    const length = view.getUint32(offset, true);
    const end = offset + 4 + length * 4;
    if (end > bytes.byteLength) throw new RangeError(`server state: ${k} cut off`);
    state[k] = modelFromBytes(bytes.subarray(offset + 4, end));
    offset = end;
  });
  if (offset !== bytes.byteLength) throw new RangeError(`server state: ${bytes.byteLength - offset} bytes after the last vector`);
  return state;
};
