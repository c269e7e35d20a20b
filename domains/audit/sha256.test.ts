import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256, sha256Into } from "./sha256.ts";

const reference = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("sha256", () => {
  it("gives node:crypto's digest for inputs of every length around the block sizes, every byte value included", () => {
    for (const length of [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 128, 900, 4096]) {
      const input = randomBytes(length);
      expect(hex(sha256(input)), `length ${length}`).toBe(reference(input));
    }
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(hex(sha256(everyByte))).toBe(reference(everyByte));
    // RFC 6234's test vector "abc".
    expect(hex(sha256(new TextEncoder().encode("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("writes the digest at the offset asked for and nowhere else", () => {
    const out = new Uint8Array(80).fill(0xaa);
    const input = randomBytes(100);
    sha256Into(input, out, 7);
    expect(hex(out.subarray(7, 39))).toBe(reference(input));
    expect([...out.subarray(0, 7), ...out.subarray(39)].every((b) => b === 0xaa)).toBe(true);
  });
});
