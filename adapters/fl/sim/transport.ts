import type { TransportName } from "./settings.ts";

/** An update left out of a round's aggregate, and why. */
export interface LeftOut {
  readonly client: string;
  readonly reason: string;
}

/** How one round ended, as either transport reports it. */
export type RoundOutcome =
  | {
      readonly kind: "committed";
      readonly round: number;
      readonly model: Float32Array;
      readonly modelCid: string;
      readonly previousModelCid: string;
      /** Clients the round selected (with --secagg: the clients inside the secure sum's round). */
      readonly selected: readonly string[];
      /** Clients whose updates are in the model. */
      readonly used: readonly string[];
      readonly rejected: readonly LeftOut[];
      /** From the proposal to the commit (the BFT vote), ms; 0 in process. */
      readonly commitMs: number;
      /** Secure aggregation's threshold, when it ran. */
      readonly secaggThreshold?: number;
    }
  | {
      readonly kind: "timed-out" | "abandoned";
      readonly round: number;
      readonly reason: string;
      readonly selected: readonly string[];
      /** Clients whose updates were aggregated (a proposal that did not commit), if any. */
      readonly used: readonly string[];
    };

/** Carries rounds: the FL protocol over JetStream, or the same steps called in this process. */
export interface RoundTransport {
  readonly kind: TransportName;
  /** Content id of the model the next round starts from (the chain's head). */
  readonly headCid: string;
  /** Runs round `round` (1, 2, …) from the chain's head and reports how it ended. */
  runRound(round: number): Promise<RoundOutcome>;
  /** Stops every actor and releases what the transport started; safe to call twice. */
  close(): Promise<void>;
}

/** The run was stopped (Ctrl-C) while a round was under way. */
export class SimStoppedError extends Error {
  override readonly name = "SimStoppedError";
}

/**
 * A round whose outcome never reached the stream (or the coordinator's view of it) in time: the
 * run cannot go on, since the protocol starts no round while the last one is open. The message
 * says what the coordinator's view held, to find out why.
 */
export class RoundStuckError extends Error {
  override readonly name = "RoundStuckError";
  constructor(
    readonly round: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
