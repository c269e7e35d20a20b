import { createCipheriv } from "node:crypto";

/**
 * The pseudorandom generator that turns a 32-byte seed into a mask in Z_{2^32}^m:
 * AES-256-CTR keyed by the seed, counter block starting at zero, run over 4·m zero bytes; word i
 * is bytes 4i..4i+3 read little-endian (fixed here, so a big-endian host expands the same mask).
 *
 * Why AES-256-CTR (not ChaCha20, which node:crypto also has): OpenSSL runs it with AES-NI /
 * ARMv8 crypto instructions, the fastest keystream available here, and a mask is as long as the
 * model (≈ 0.8 MB for the 2NN MNIST model). A fixed all-zero IV is safe because every key is
 * used for exactly one stream: pairwise seeds come out of HKDF with the session and the pair in
 * the context, and self-mask seeds are fresh random values.
 */

export const MASK_SEED_BYTES = 32;

const ZERO_IV = new Uint8Array(16);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

let zeros = new Uint8Array(0);
const zeroBytes = (length: number): Uint8Array => {
  if (zeros.length < length) zeros = new Uint8Array(length);
  return zeros.subarray(0, length);
};

const keystream = (seed: Uint8Array, bytes: number): Uint8Array => {
  if (seed.length !== MASK_SEED_BYTES) throw new RangeError(`a mask seed is ${MASK_SEED_BYTES} bytes, got ${seed.length}`);
  const cipher = createCipheriv("aes-256-ctr", seed, ZERO_IV);
  const head = cipher.update(zeroBytes(bytes));
  const tail = cipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
};

/** The mask PRG(seed) of `length` words. */
export const expandMask = (seed: Uint8Array, length: number): Uint32Array => {
  const stream = keystream(seed, 4 * length);
  if (LITTLE_ENDIAN_HOST) {
    // A Buffer may start at any byte offset of its pool; copy once to get 4-byte alignment.
    const aligned = stream.byteOffset % 4 === 0 ? stream : stream.slice();
    return new Uint32Array(aligned.buffer, aligned.byteOffset, length).slice();
  }
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const mask = new Uint32Array(length);
  for (let i = 0; i < length; i++) mask[i] = view.getUint32(4 * i, true);
  return mask;
};

/** target ← target + sign · PRG(seed)  (mod 2^32), in place. */
export const applyMask = (target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void => {
  const mask = expandMask(seed, target.length);
  if (sign === 1) for (let i = 0; i < target.length; i++) target[i] = target[i]! + mask[i]!;
  else for (let i = 0; i < target.length; i++) target[i] = target[i]! - mask[i]!;
};

/** A vector in Z_{2^32} as bytes for the wire: 4 bytes per word, little-endian. */
export const wordsToBytes = (words: Uint32Array): Uint8Array => {
  const bytes = new Uint8Array(4 * words.length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i]!, true);
  return bytes;
};

/** The inverse of `wordsToBytes`; the byte length must be a multiple of 4. */
export const bytesToWords = (bytes: Uint8Array): Uint32Array => {
  if (bytes.length % 4 !== 0) throw new RangeError(`byte length ${bytes.length} is not a multiple of 4`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(4 * i, true);
  return words;
};
