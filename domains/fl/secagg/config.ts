import * as Schema from "effect/Schema";
import { SecAggConfigError } from "./errors.ts";
import { ClientId, TaskId } from "./messages.ts";

/** What every party of one aggregation agrees on before it starts (announced with the FL round). */
export interface SecAggConfig {
  /** The FL task, one subject token. Part of every derived key. */
  readonly task: string;
  /** The FL training round. Part of every derived key, so masks never repeat across rounds. */
  readonly flRound: number;
  /**
   * Shamir threshold t, at least 2: any t clients' shares rebuild a secret, fewer learn nothing.
   * The server needs t clients at every stage. Privacy holds against a server colluding with up
   * to t − 1 clients; t > n/2 (n = clients in the directory) also means no two disjoint groups of t answers can exist (see index.ts).
   */
  readonly threshold: number;
  /** Coordinates of every input vector. */
  readonly vectorLength: number;
}

const isClientId = Schema.is(ClientId);
const isTaskId = Schema.is(TaskId);

export const checkConfig = (config: SecAggConfig): void => {
  const bad = (message: string): never => {
    throw new SecAggConfigError({ message });
  };
  if (!isTaskId(config.task)) bad(`task must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(config.task)}`);
  if (!Number.isSafeInteger(config.flRound) || config.flRound < 0) bad(`flRound must be an integer >= 0, got ${config.flRound}`);
  if (!Number.isSafeInteger(config.threshold) || config.threshold < 2) bad(`threshold must be an integer >= 2, got ${config.threshold}`);
  if (!Number.isSafeInteger(config.vectorLength) || config.vectorLength < 1) bad(`vectorLength must be an integer >= 1, got ${config.vectorLength}`);
};

export const checkClientId = (client: string): void => {
  if (!isClientId(client)) throw new SecAggConfigError({ message: `client id must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(client)}` });
};

/** Code-unit order; ids are ASCII (ClientId), so this is also byte order. */
export const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
