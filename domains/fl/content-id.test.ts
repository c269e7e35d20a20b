import { describe, expect, it } from "vitest";
import { contentId, isContentId, matchesContentId, modelBytes, modelFromBytes } from "./content-id.ts";

const utf8 = new TextEncoder();

describe("content ids (CIDv1, raw, sha2-256, base32)", () => {
  it("gives the id IPFS gives the bytes of 'hello world' (no newline)", () => {
    // The raw-leaf CIDv1 of "hello world"; its digest is b94d27b9…efcde9, what `printf 'hello world' | sha256sum` prints.
    expect(contentId(utf8.encode("hello world"))).toBe("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  });

  it("gives the well-known id of the empty block", () => {
    expect(contentId(new Uint8Array())).toBe("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  });

  it("changes when one byte changes, and recognises its own ids only", () => {
    const a = contentId(utf8.encode("weights"));
    const b = contentId(utf8.encode("weightz"));
    expect(a).not.toBe(b);
    expect(isContentId(a)).toBe(true);
    expect(matchesContentId(utf8.encode("weights"), a)).toBe(true);
    expect(matchesContentId(utf8.encode("weightz"), a)).toBe(false);
    // A CIDv0 (dag-pb) and a CIDv1 of another codec are not content ids of raw bytes.
    expect(isContentId("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")).toBe(false);
    expect(isContentId("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")).toBe(false);
    expect(isContentId(`${a.slice(0, -1)}1`)).toBe(false);
  });
});

describe("model bytes", () => {
  it("writes each float32 little-endian, four bytes each, nothing else", () => {
    // 1.0f = 0x3f800000, -2.5f = 0xc0200000.
    expect([...modelBytes(new Float32Array([1, -2.5]))]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]);
  });

  it("reads back exactly what it wrote, from a view at any offset", () => {
    const weights = new Float32Array([0.1, -3e-8, 12345.678, 3.4e38, -0]);
    const bytes = modelBytes(weights);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const back = modelFromBytes(shifted.subarray(3));
    expect([...back]).toEqual([...weights]);
    expect(Object.is(back[4], -0)).toBe(true);
  });

  it("writes a view of a larger buffer as only its own values", () => {
    const all = new Float32Array([9, 1, 2, 9]);
    expect(modelFromBytes(modelBytes(all.subarray(1, 3)))).toEqual(new Float32Array([1, 2]));
  });

  it("refuses bytes that are not whole float32 values", () => {
    expect(() => modelFromBytes(new Uint8Array(6))).toThrow(RangeError);
  });
});
