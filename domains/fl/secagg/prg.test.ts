import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { applyMask, bytesToWords, expandMask, wordsToBytes } from "./prg.ts";

const seedOf = (byte: number) => new Uint8Array(32).fill(byte);

// Independent reference: AES-256-CTR keystream with a zero IV, read 4 bytes at a time little-endian.
const reference = (seed: Uint8Array, length: number): number[] => {
  const stream = createCipheriv("aes-256-ctr", seed, Buffer.alloc(16)).update(Buffer.alloc(4 * length));
  return Array.from({ length }, (_, i) => stream.readUInt32LE(4 * i));
};

describe("mask PRG", () => {
  it("given a seed, when expanded, then the mask is the AES-256-CTR keystream read as little-endian words", () => {
    for (const length of [1, 3, 1000, 4097]) expect(Array.from(expandMask(seedOf(7), length))).toEqual(reference(seedOf(7), length));
  });

  it("given the same seed twice, when expanded, then the masks are equal; given another seed, they differ", () => {
    expect(expandMask(seedOf(1), 256)).toEqual(expandMask(seedOf(1), 256));
    const other = expandMask(seedOf(2), 256);
    const same = expandMask(seedOf(1), 256).filter((v, i) => v === other[i]).length;
    expect(same).toBeLessThan(3);
  });

  it("given a vector, when a mask is added and then subtracted, then the vector is unchanged mod 2^32", () => {
    const vector = Uint32Array.from({ length: 300 }, (_, i) => (i * 2654435761) >>> 0);
    const masked = vector.slice();
    applyMask(masked, seedOf(9), 1);
    expect(masked).not.toEqual(vector);
    applyMask(masked, seedOf(9), -1);
    expect(masked).toEqual(vector);
  });

  it("given words, when written as bytes, then each word is 4 little-endian bytes and reads back", () => {
    const words = Uint32Array.of(0x01020304, 0xffffffff, 0);
    const bytes = wordsToBytes(words);
    expect(Array.from(bytes)).toEqual([4, 3, 2, 1, 255, 255, 255, 255, 0, 0, 0, 0]);
    expect(bytesToWords(bytes)).toEqual(words);
    expect(() => bytesToWords(new Uint8Array(5))).toThrow(RangeError);
  });
});
