/**
 * Content ids of model bytes: IPFS CIDv1, raw codec (0x55), sha2-256 multihash, base32 text
 * ("bafkrei…", 59 characters), made with the `multiformats` library so any IPFS tool computes
 * the same id from the same bytes (`ipfs add --cid-version 1 --raw-leaves` on a file of one block).
 *
 * Models travel as flat float32 vectors (the FL contract: every parameter, layer by layer,
 * kernel then bias). Their bytes are the IEEE 754 binary32 values in little-endian order, four
 * bytes each, nothing else: no header, no shape. The shape is the round's model spec; the
 * little-endian order is fixed so a big-endian host computes the same content id.
 *
 * Pure: SHA-256 from node:crypto (synchronous; multiformats' own sha256 may hand back a Promise).
 */
import { createHash } from "node:crypto";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import * as Digest from "multiformats/hashes/digest";

/** Multicodec code of sha2-256 (multiformats' `sha256.code`). */
const SHA2_256 = 0x12;

/** A content id's text form: "bafkrei" (CIDv1, raw, sha2-256, 32 bytes) then 52 base32 characters. */
export const CONTENT_ID_PATTERN = /^bafkrei[a-z2-7]{52}$/u;

/** The CIDv1 (raw, sha2-256) of `bytes`, base32. */
export const contentId = (bytes: Uint8Array): string => {
  const digest = createHash("sha256").update(bytes).digest();
  return CID.create(1, raw.code, Digest.create(SHA2_256, new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength))).toString();
};

/** Whether `text` is a content id of the kind `contentId` makes (parsed, not only pattern-matched). */
export const isContentId = (text: string): boolean => {
  if (!CONTENT_ID_PATTERN.test(text)) return false;
  try {
    const cid = CID.parse(text);
    return cid.version === 1 && cid.code === raw.code && cid.multihash.code === SHA2_256 && cid.multihash.size === 32;
  } catch {
    return false;
  }
};

/** Whether `bytes` are the content `cid` names. */
export const matchesContentId = (bytes: Uint8Array, cid: string): boolean => contentId(bytes) === cid;

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A model's bytes: each float32 little-endian, in order. */
export const modelBytes = (weights: Float32Array): Uint8Array => {
  if (littleEndianHost) return new Uint8Array(weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength));
  const out = new Uint8Array(weights.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < weights.length; i++) view.setFloat32(i * 4, weights[i]!, true);
  return out;
};

/** The model `modelBytes` wrote; refuses a length that is not a whole number of float32 values. */
export const modelFromBytes = (bytes: Uint8Array): Float32Array => {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`model bytes: ${bytes.byteLength} is not a multiple of 4 (float32)`);
  const out = new Float32Array(bytes.byteLength / 4);
  if (littleEndianHost) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
};
