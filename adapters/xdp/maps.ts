/**
 * The byte layout of the XDP filter's maps (`ebpf/xdp_filter.c`): keys and values as bpftool
 * reads and writes them (`key hex ..`, `value hex ..`, `-j map dump`). Pure: no I/O.
 *
 * Integers in values and the LPM prefix length are in host byte order (the kernel's and the
 * program's); addresses are in network order, as they sit in the packet.
 */
import { endianness } from "node:os";
import { InvalidSourceError } from "./errors.ts";

/** Where a quarantine or rate limit applies: a superset of the healing domain's `TrafficSource`. */
export type XdpSource =
  | { readonly kind: "mac"; readonly mac: string }
  | { readonly kind: "ipv4"; readonly address: string }
  | { readonly kind: "ipv4-prefix"; readonly prefix: string }
  | { readonly kind: "ipv6-prefix"; readonly prefix: string };

export type RuleKind = "block" | "rate";
export type KeyFamily = "mac" | "v4" | "v6";

/** The pinned maps, by the names the program gives them (bpftool pins each under its name). */
export const MAP_NAMES = {
  block: { mac: "block_mac", v4: "block_v4", v6: "block_v6" },
  rate: { mac: "rate_mac", v4: "rate_v4", v6: "rate_v6" },
  verdicts: "verdicts",
  active: "active_rules",
} as const;

/** `enum rule_map` of the program: each rule map's mark in `active_rules`, set before its first rule. */
export const ACTIVE_INDEX = {
  block: { mac: 0, v4: 1, v6: 2 },
  rate: { mac: 3, v4: 4, v6: 5 },
} as const;

/** An `active_rules` key (`__u32`, host order). */
export const u32Key = (n: number): Uint8Array => u32(n);

/** `enum verdict` of the program: the index of each per-CPU counter in `verdicts`. */
export const VERDICT_INDEX = { passed: 0, droppedBlock: 1, droppedRate: 2 } as const;

/** A source that the program can match, with its map key bytes. */
export interface EncodedSource {
  readonly family: KeyFamily;
  readonly key: Uint8Array;
  /** The canonical text form, host bits cleared: what `rules()` reports back. */
  readonly canonical: XdpSource;
}


const littleEndian = endianness() === "LE";

const u32 = (n: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n, littleEndian);
  return bytes;
};

/** Little- or big-endian per host, as the kernel stores a `__u64`. */
export const u64 = (n: bigint | number): Uint8Array => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n), littleEndian);
  return bytes;
};

const readU64 = (bytes: Uint8Array, offset: number): bigint =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, littleEndian);

const readU32 = (bytes: Uint8Array, offset: number): number =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, littleEndian);

const concat = (...parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

/** bpftool's `hex` arguments: one two-digit token per byte. */
export const hexArgs = (bytes: Uint8Array): string[] => Array.from(bytes, (b) => b.toString(16).padStart(2, "0"));

/** bpftool's JSON byte arrays: `["0x0a", ...]`. */
export const bytesOf = (hex: readonly string[]): Uint8Array => Uint8Array.from(hex, (h) => Number.parseInt(h, 16));

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/u;

export const macBytes = (mac: string): Uint8Array => {
  const lower = mac.toLowerCase();
  if (!MAC.test(lower)) throw new InvalidSourceError({ message: `not a MAC address: ${JSON.stringify(mac)} (expected aa:bb:cc:dd:ee:ff)` });
  return Uint8Array.from(lower.split(":"), (h) => Number.parseInt(h, 16));
};

const macText = (bytes: Uint8Array): string => hexArgs(bytes).join(":");

const splitPrefix = (text: string, bits: number): { address: string; length: number } => {
  const slash = text.indexOf("/");
  if (slash < 0) return { address: text, length: bits };
  const lengthText = text.slice(slash + 1);
  const length = Number(lengthText);
  if (!/^\d{1,3}$/u.test(lengthText) || length > bits) throw new InvalidSourceError({ message: `prefix length must be 0-${bits}: ${JSON.stringify(text)}` });
  return { address: text.slice(0, slash), length };
};

const ipv4Bytes = (address: string): Uint8Array => {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/u.test(p) && Number(p) <= 255))
    throw new InvalidSourceError({ message: `not an IPv4 address: ${JSON.stringify(address)}` });
  return Uint8Array.from(parts, Number);
};

const ipv6Bytes = (address: string): Uint8Array => {
  const fail = (): never => {
    throw new InvalidSourceError({ message: `not an IPv6 address: ${JSON.stringify(address)}` });
  };
  const halves = address.toLowerCase().split("::");
  if (halves.length > 2) fail();
  const groups = (s: string | undefined): string[] => (s ? s.split(":") : []);
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) fail();
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-f]{1,4}$/u.test(g)) fail();
    const value = Number.parseInt(g, 16);
    out[2 * i] = value >> 8;
    out[2 * i + 1] = value & 0xff;
  });
  return out;
};

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export const ipv6Text = (bytes: Uint8Array): string => {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
};

/** Clears the host bits: an LPM trie keeps whatever it is given, so a rule is stored in one canonical form. */
const mask = (bytes: Uint8Array, length: number): Uint8Array =>
  bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });

/** The map key and canonical form of a source. Throws `InvalidSourceError` on malformed input. */
export const encodeSource = (source: XdpSource): EncodedSource => {
  switch (source.kind) {
    case "mac": {
      const key = macBytes(source.mac);
      return { family: "mac", key, canonical: { kind: "mac", mac: macText(key) } };
    }
    case "ipv4":
    case "ipv4-prefix": {
      const text = source.kind === "ipv4" ? source.address : source.prefix;
      const { address, length } = source.kind === "ipv4" ? { address: text, length: 32 } : splitPrefix(text, 32);
      const addr = mask(ipv4Bytes(address), length);
      return { family: "v4", key: concat(u32(length), addr), canonical: v4Source(addr, length) };
    }
    case "ipv6-prefix": {
      const { address, length } = splitPrefix(source.prefix, 128);
      const addr = mask(ipv6Bytes(address), length);
      return { family: "v6", key: concat(u32(length), addr), canonical: { kind: "ipv6-prefix", prefix: `${ipv6Text(addr)}/${length}` } };
    }
  }
};

const v4Source = (addr: Uint8Array, length: number): XdpSource =>
  length === 32 ? { kind: "ipv4", address: addr.join(".") } : { kind: "ipv4-prefix", prefix: `${addr.join(".")}/${length}` };

/** The source a map key stands for (the inverse of `encodeSource`). */
export const decodeKey = (family: KeyFamily, key: Uint8Array): XdpSource => {
  switch (family) {
    case "mac":
      return { kind: "mac", mac: macText(key.subarray(0, 6)) };
    case "v4":
      return v4Source(key.subarray(4, 8), readU32(key, 0));
    case "v6":
      return { kind: "ipv6-prefix", prefix: `${ipv6Text(key.subarray(4, 20))}/${readU32(key, 0)}` };
  }
};

/** Text for messages: `mac 4e:1b:..`, `ipv4 10.0.0.2`, `ipv6-prefix fd00::/64`. */
export const sourceText = (source: XdpSource): string => {
  switch (source.kind) {
    case "mac":
      return `mac ${source.mac}`;
    case "ipv4":
      return `ipv4 ${source.address}`;
    default:
      return `${source.kind} ${source.prefix}`;
  }
};

/** `struct block_entry`: hit counter and CLOCK_MONOTONIC times of the first and last hit (0: none yet). */
export interface BlockEntry {
  readonly hits: bigint;
  readonly firstHitNs: bigint;
  readonly lastHitNs: bigint;
}

/** `struct rate_entry`: the rule and its token bucket state (GCRA theoretical arrival time). */
export interface RateEntry {
  readonly pps: bigint;
  readonly burst: bigint;
  readonly tatNs: bigint;
  readonly passed: bigint;
  readonly dropped: bigint;
}

export const BLOCK_ENTRY_BYTES = 24;
export const RATE_ENTRY_BYTES = 40;

/** A fresh quarantine rule: no hits yet. */
export const newBlockEntry = (): Uint8Array => new Uint8Array(BLOCK_ENTRY_BYTES);

/** A fresh rate-limit rule: full bucket (theoretical arrival time 0), counters at 0. */
export const newRateEntry = (pps: number, burst: number): Uint8Array => concat(u64(pps), u64(burst), u64(0), u64(0), u64(0));

export const decodeBlockEntry = (value: Uint8Array): BlockEntry => ({
  hits: readU64(value, 0),
  firstHitNs: readU64(value, 8),
  lastHitNs: readU64(value, 16),
});

export const decodeRateEntry = (value: Uint8Array): RateEntry => ({
  pps: readU64(value, 0),
  burst: readU64(value, 8),
  tatNs: readU64(value, 16),
  passed: readU64(value, 24),
  dropped: readU64(value, 32),
});

/** `struct verdict_count` of one CPU. */
export const decodeVerdictCount = (value: Uint8Array): { packets: bigint; bytes: bigint } => ({
  packets: readU64(value, 0),
  bytes: readU64(value, 8),
});
