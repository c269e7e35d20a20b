import type { ClientUpdate, Rejection } from "./strategy.ts";

/**
 * Screening of client updates before any arithmetic. An update is rejected, never averaged in,
 * when its client id is missing or shared with another update (every copy goes: which one is
 * genuine cannot be told, and keeping the first would depend on arrival order), its weights have
 * the wrong length, its example count is not a positive integer, or (SCAFFOLD) its control delta
 * is missing or of the wrong length. NaN and ±Inf are caught in the strategy's own pass over the
 * values (see aggregate.ts), and then named by `rejectNonFinite`, a full scan.
 */

/** Code-unit order of client ids: the same on every machine and locale. */
export const byClientId = (a: { readonly client: string }, b: { readonly client: string }): number => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0);

const byClientThenReason = (a: Rejection, b: Rejection): number => byClientId(a, b) || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0);

export const sortRejections = (rejected: readonly Rejection[]): Rejection[] => [...rejected].sort(byClientThenReason);

/** Index of the first NaN or ±Inf in `values`, or -1. */
export const firstNonFinite = (values: Float32Array): number => {
  // x·0 is NaN exactly for NaN and ±Inf, so one branch-free pass finds whether any is there.
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0;
  if (probe === 0) return -1;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
};

const describeValue = (v: number) => (Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");

/** Why `values` cannot be aggregated, or undefined when every value is finite. */
export const nonFiniteReason = (name: string, values: Float32Array): string | undefined => {
  const at = firstNonFinite(values);
  return at < 0 ? undefined : `${name}[${at}] is ${describeValue(values[at]!)}`;
};

export interface Screened {
  /** Updates that passed, sorted by client id. */
  readonly valid: readonly ClientUpdate[];
  readonly rejected: readonly Rejection[];
}

const shapeProblem = (update: ClientUpdate, modelLength: number, withControl: boolean): string | undefined => {
  if (!(update.weights instanceof Float32Array)) return "weights are not a Float32Array";
  if (update.weights.length !== modelLength) return `has ${update.weights.length} weights, the global model has ${modelLength}`;
  if (!(Number.isSafeInteger(update.examples) && update.examples > 0)) return `examples must be a positive integer, got ${String(update.examples)}`;
  if (withControl) {
    if (!(update.controlDelta instanceof Float32Array)) return "SCAFFOLD needs a controlDelta (c_i+ - c_i), none was sent";
    if (update.controlDelta.length !== modelLength) return `controlDelta has ${update.controlDelta.length} values, the global model has ${modelLength}`;
  }
  return undefined;
};

/** Everything but the NaN/Inf scan: ids, shapes, example counts, control deltas. Cost O(updates). */
export const screenUpdates = (updates: readonly ClientUpdate[], modelLength: number, withControl: boolean): Screened => {
  const rejected: Rejection[] = [];
  const count = new Map<string, number>();
  for (const u of updates) if (typeof u.client === "string") count.set(u.client, (count.get(u.client) ?? 0) + 1);
  const valid: ClientUpdate[] = [];
  for (const u of updates) {
    if (typeof u.client !== "string" || u.client === "") {
      rejected.push({ client: String(u.client), reason: "client id must be a non-empty string" });
      continue;
    }
    const copies = count.get(u.client)!;
    if (copies > 1) {
      rejected.push({ client: u.client, reason: `client id sent ${copies} updates in one round; all are rejected` });
      continue;
    }
    const problem = shapeProblem(u, modelLength, withControl);
    if (problem) rejected.push({ client: u.client, reason: problem });
    else valid.push(u);
  }
  return { valid: valid.sort(byClientId), rejected };
};

/** Rejects the updates with a NaN or ±Inf in their weights (or control delta): a full scan of each. */
export const rejectNonFinite = (screened: Screened, withControl: boolean): Screened => {
  const valid: ClientUpdate[] = [];
  const rejected = [...screened.rejected];
  for (const u of screened.valid) {
    const reason = nonFiniteReason("weights", u.weights) ?? (withControl && u.controlDelta ? nonFiniteReason("controlDelta", u.controlDelta) : undefined);
    if (reason) rejected.push({ client: u.client, reason });
    else valid.push(u);
  }
  return { valid, rejected };
};
