import { describe, expect, it } from "vitest";
import { InvalidSourceError } from "./errors.ts";
import { decodeBlockEntry, decodeKey, decodeRateEntry, encodeSource, hexArgs, ipv6Text, newRateEntry, u64, type XdpSource } from "./maps.ts";

const hex = (source: XdpSource) => hexArgs(encodeSource(source).key).join(" ");

describe("XDP map keys", () => {
  it("a MAC is its six bytes, whatever its case", () => {
    expect(hex({ kind: "mac", mac: "4E:1B:1D:85:3D:35" })).toBe("4e 1b 1d 85 3d 35");
    expect(encodeSource({ kind: "mac", mac: "4E:1B:1D:85:3D:35" }).canonical).toEqual({ kind: "mac", mac: "4e:1b:1d:85:3d:35" });
  });

  it("an IPv4 address is a /32 LPM key: host-order prefix length, then the address in network order", () => {
    expect(hex({ kind: "ipv4", address: "10.99.0.2" })).toBe("20 00 00 00 0a 63 00 02");
  });

  it("an IPv4 prefix has its host bits cleared, so one rule has one key", () => {
    expect(hex({ kind: "ipv4-prefix", prefix: "10.99.7.9/20" })).toBe("14 00 00 00 0a 63 00 00");
    expect(encodeSource({ kind: "ipv4-prefix", prefix: "10.99.7.9/20" }).canonical).toEqual({ kind: "ipv4-prefix", prefix: "10.99.0.0/20" });
    expect(encodeSource({ kind: "ipv4-prefix", prefix: "10.99.7.9" }).canonical).toEqual({ kind: "ipv4", address: "10.99.7.9" });
  });

  it("an IPv6 prefix expands '::' and clears host bits", () => {
    expect(hex({ kind: "ipv6-prefix", prefix: "fd00:1:2::ff/48" })).toBe(`30 00 00 00 fd 00 00 01 00 02 ${Array(10).fill("00").join(" ")}`);
    expect(encodeSource({ kind: "ipv6-prefix", prefix: "fd00:1:2::ff/48" }).canonical).toEqual({ kind: "ipv6-prefix", prefix: "fd00:1:2::/48" });
    expect(encodeSource({ kind: "ipv6-prefix", prefix: "::/0" }).canonical).toEqual({ kind: "ipv6-prefix", prefix: "::/0" });
  });

  it("keys decode back to the canonical source", () => {
    const sources: XdpSource[] = [
      { kind: "mac", mac: "02:00:00:00:00:01" },
      { kind: "ipv4", address: "192.168.1.7" },
      { kind: "ipv4-prefix", prefix: "10.0.0.0/8" },
      { kind: "ipv6-prefix", prefix: "2001:db8::/32" },
      { kind: "ipv6-prefix", prefix: "fd77::2/128" },
    ];
    for (const source of sources) {
      const encoded = encodeSource(source);
      expect(decodeKey(encoded.family, encoded.key)).toEqual(encoded.canonical);
      expect(encoded.canonical).toEqual(source);
    }
  });

  it("IPv6 text follows RFC 5952: the longest zero run becomes '::', a single zero group does not", () => {
    const bytes = (groups: number[]) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    expect(ipv6Text(bytes([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0]))).toBe("2001:db8:0:0:1::");
    expect(ipv6Text(bytes([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]))).toBe("2001:db8:0:1:1:1:1:1");
    expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0, 0, 1]))).toBe("::1");
  });

  it("refuses malformed sources with a typed error", () => {
    const bad: XdpSource[] = [
      { kind: "mac", mac: "4e:1b:1d:85:3d" },
      { kind: "ipv4", address: "10.0.0.256" },
      { kind: "ipv4", address: "10.0.0.01" },
      { kind: "ipv4-prefix", prefix: "10.0.0.0/33" },
      { kind: "ipv6-prefix", prefix: "fd00::1::2/64" },
      { kind: "ipv6-prefix", prefix: "fd00:0:0:0:0:0:0:0:1/64" },
      { kind: "ipv6-prefix", prefix: "fd00::/129" },
      { kind: "ipv6-prefix", prefix: "fd0g::/64" },
    ];
    for (const source of bad) expect(() => encodeSource(source), JSON.stringify(source)).toThrow(InvalidSourceError);
  });
});

describe("XDP map values", () => {
  it("a new rate-limit rule carries pps and burst, a full bucket and zero counters", () => {
    expect(decodeRateEntry(newRateEntry(100, 10))).toEqual({ pps: 100n, burst: 10n, tatNs: 0n, passed: 0n, dropped: 0n });
  });

  it("a quarantine rule's counters decode from the kernel's bytes", () => {
    const value = Uint8Array.from([...u64(3), ...u64(8222141831157n), ...u64(8222344281438n)]);
    expect(decodeBlockEntry(value)).toEqual({ hits: 3n, firstHitNs: 8222141831157n, lastHitNs: 8222344281438n });
  });
});
