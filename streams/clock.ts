import { createHash, randomFillSync } from "node:crypto";

/** The one clock and id source; tests and the twin inject their own. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Random bytes; seedable in the twin so a run can be reproduced. */
export type RandomBytes = (n: number) => Uint8Array;
// Ids and trace contexts need a few random bytes per event: draw them from a refilled pool,
// one system call per 4 KiB instead of one per event.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
export const systemRandom: RandomBytes = (n) => {
  if (n > pool.length) return randomFillSync(new Uint8Array(n));
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
};

/** UUIDv7 (RFC 9562): time-ordered, so event ids sort by creation time. */
export const uuidv7 = (clock: Clock = systemClock, random: RandomBytes = systemRandom): string => {
  const b = new Uint8Array(16);
  b.set(random(10), 6);
  let ms = clock.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/**
 * A UUID (version 8) derived from a namespace and parts by SHA-256: the same inputs give the
 * same id, so an event re-sent after a crash (a node's outcome for a command) carries the id
 * the server's duplicate window and the projections already know.
 */
export const derivedId = (namespace: string, ...parts: readonly string[]): string => {
  const b = createHash("sha256").update([namespace, ...parts].join("\n")).digest().subarray(0, 16);
  b[6] = 0x80 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
