import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { serversFromEnv } from "../../streams/connection.ts";

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Data directory: `--data-dir`, else `X0_DATA_DIR`, else `./.x0`. */
export const dataDirFrom = (flag: string | undefined): string => resolve(flag ?? process.env.X0_DATA_DIR ?? ".x0");

/** Where `x0 up` writes the URL of the server it embeds. */
export const embeddedUrlFile = (dataDir: string) => join(dataDir, "nats", "nats.url");

/** NATS_URL when set, else the server a local `x0 up` started, else a clear error. */
export const resolveServers = async (dataDir: string): Promise<string[]> => {
  const fromEnv = serversFromEnv();
  if (fromEnv) return fromEnv;
  try {
    const url = (await readFile(embeddedUrlFile(dataDir), "utf8")).trim();
    if (url) return [url];
  } catch {
    // fall through to the error below
  }
  throw new UsageError(`no NATS server: start one with \`x0 up\` (data dir ${dataDir}) or set NATS_URL`);
};

export const parseIntOption = (name: string, value: string | undefined, fallback: number, min = 0): number => {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return Number(value);
};

const RELATIVE = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An RFC 3339 time, or a duration ago (`90s`, `15m`, `2h`, `7d`). */
export const parseTime = (name: string, value: string, now = Date.now()): Date => {
  const rel = RELATIVE.exec(value);
  if (rel) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS]);
  const time = /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:\d\d)?)?$/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--${name} must be an RFC 3339 time (2026-11-26T10:00:00Z) or a duration ago (15m, 2h), got "${value}"`);
  return time;
};

const SIZE = /^(\d+(?:\.\d+)?)([KMGT]i?B?|B)?$/i;
const SIZE_UNIT: Record<string, number> = { "": 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** A byte size: `512M`, `20G`, `1.5T`, or plain bytes. Units are binary (1G = 1024³ bytes). */
export const parseSize = (name: string, value: string): number => {
  const m = SIZE.exec(value.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 512M, 20G or 1T, got "${value}"`);
  return Math.floor(Number(m[1]) * SIZE_UNIT[(m[2] ?? "").charAt(0).toUpperCase()]!);
};
