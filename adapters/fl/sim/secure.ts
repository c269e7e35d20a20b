import * as Result from "effect/Result";
import { dequantizeSum, quantizationFor, quantize, SecAggClient, SecAggServer } from "../../../domains/fl/secagg/index.ts";
import type { LocalUpdate } from "./local.ts";

/** One round of secure aggregation that could not finish, and why (too few clients, a refused message). */
export class SecureAggregationError extends Error {
  override readonly name = "SecureAggregationError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface SecureSum {
  /** The FedAvg of the survivors as one update: global + Σ n_k·Δ_k / Σ n_k, with Σ n_k examples. */
  readonly update: LocalUpdate;
  readonly survivors: readonly string[];
  readonly threshold: number;
}

/**
 * FedAvg through Bonawitz et al.'s secure aggregation (domains/fl/secagg), run IN THIS PROCESS:
 * the clients' and the server's state machines exchange their messages by function call, not
 * over JetStream. Each client's input is the vector (n_k·clamp(Δ_k), n_k), quantized into
 * Z_{2^32} for at most the round's client count, so the unmasked sum gives Σ n_k·Δ_k and Σ n_k
 * exactly (to the quantization step) and the server never holds one Δ_k in the clear.
 *
 * `clamp` bounds each coordinate of a delta and `weightBound` each n_k (both public before the
 * round); a coordinate beyond the clamp is cut to it, the only change secure aggregation makes to
 * a plain FedAvg besides rounding. The result enters the protocol as one update, so the BFT
 * validators check the commit of this sum, not the unmasking (they would need the masked inputs
 * and shares on the stream to redo it).
 */
export const secureFedAvg = (
  session: { readonly task: string; readonly round: number },
  global: Float32Array,
  inputs: readonly { readonly client: string; readonly update: LocalUpdate }[],
  options: { readonly clamp: number; readonly weightBound: number; readonly threshold?: number },
): SecureSum => {
  const n = inputs.length;
  const threshold = options.threshold ?? Math.max(2, Math.floor(n / 2) + 1);
  if (n < threshold) throw new SecureAggregationError(`secure aggregation needs at least ${threshold} clients (the Shamir threshold), got ${n}`);
  const length = global.length + 1;
  const config = { task: session.task, flRound: session.round, threshold, vectorLength: length };
  const quantization = quantizationFor({ clip: options.clamp * options.weightBound, maxClients: n });
  const unwrap = <A, E>(result: Result.Result<A, E>, what: string): A => {
    if (Result.isFailure(result)) throw new SecureAggregationError(`secure aggregation, ${what}: ${(result.failure as Error).message}`, { cause: result.failure });
    return result.success;
  };

  const server = new SecAggServer(config);
  const clients = new Map(inputs.map(({ client }) => [client, new SecAggClient({ ...config, client })] as const));
  for (const c of clients.values()) unwrap(server.receiveAdvertisement(unwrap(c.advertiseKeys(), `${c.id} advertising keys`)), "advertisement");
  const directory = unwrap(server.publishDirectory(), "directory");
  for (const c of clients.values()) unwrap(server.receiveEncryptedShares(unwrap(c.shareKeys(directory), `${c.id} sharing keys`)), "shares");
  for (const delivery of unwrap(server.deliverShares(), "share delivery")) {
    const { update } = inputs.find((i) => i.client === delivery.to)!;
    const weight = Math.min(update.examples, options.weightBound);
    const vector = new Float32Array(length);
    for (let i = 0; i < global.length; i++) {
      const d = update.weights[i]! - global[i]!;
      vector[i] = weight * (d > options.clamp ? options.clamp : d < -options.clamp ? -options.clamp : d);
    }
    vector[global.length] = weight;
    const masked = unwrap(clients.get(delivery.to)!.maskInput(delivery, quantize(vector, quantization)), `${delivery.to} masking its input`);
    unwrap(server.receiveMaskedInput(masked), "masked input");
  }
  const request = unwrap(server.requestUnmasking(), "unmask request");
  for (const survivor of request.survivors) unwrap(server.receiveUnmaskResponse(unwrap(clients.get(survivor)!.unmask(request), `${survivor} unmasking`)), "unmask response");
  const sum = unwrap(server.unmaskSum(), "unmasking");

  const totals = dequantizeSum(sum.sum, quantization);
  const examples = Math.round(totals[global.length]!);
  if (!(examples >= 1)) throw new SecureAggregationError(`secure aggregation summed ${totals[global.length]} examples`);
  const weights = Float32Array.from(global, (g, i) => g + totals[i]! / examples);
  return { update: { weights, examples }, survivors: sum.survivors, threshold };
};
