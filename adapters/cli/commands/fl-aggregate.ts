import { parseArgs } from "node:util";
import {
  aggregateRound,
  initialServerState,
  isStrategyName,
  strategyConfigProblem,
  strategyDefaults,
  strategyNames,
  type ClientUpdate,
  type ServerState,
  type StrategyConfig,
  type StrategyName,
} from "../../../domains/fl/aggregate/index.ts";
import { parseIntOption, UsageError } from "../options.ts";

export const flAggregateUsage = `x0 fl aggregate --strategy S [options] < request.json
  Aggregates one round of federated-learning updates read as JSON on stdin and prints the new
  model as {"weights": [...], "used": [client ids aggregated]} on stdout (FedAdam, FedYogi and
  SCAFFOLD add "state", to pass back in the next request). No server needed.

  Request: {"updates": [{"weights": [...], "examples": N, "client": "id", "controlDelta": [...]}, ...],
            "global": [...], "state": {"round": R, "momentum": [...], "velocity": [...], "control": [...]}}
    client        optional, defaults to the update's index ("0", "1", ...)
    controlDelta  SCAFFOLD only: c_i+ - c_i
    global        the current model; FedAdam, FedYogi and SCAFFOLD step from it. Default: zeros,
                  as long as the most common update length
    state         default: the strategy's initial state (m = 0, v = tau^2; c = 0)

  --strategy S         ${strategyNames.join(", ")}
  --f N                krum, multikrum, bulyan: Byzantine updates assumed (default: the most
                       tolerated, (n-3)/2 for Krum, (n-3)/4 for Bulyan)
  --select M           multikrum: updates averaged (default n - f)
  --beta B             trimmedmean: fraction trimmed at each end, 0..0.5 (default ${strategyDefaults.trimmedMeanBeta})
  --mu X               fedprox: the clients' proximal term (the server averages as fedavg)
  --server-lr X        fedadam (default ${strategyDefaults.serverLearningRate.fedadam}), fedyogi (${strategyDefaults.serverLearningRate.fedyogi}), scaffold (${strategyDefaults.serverLearningRate.scaffold})
  --beta1 X --beta2 X  fedadam, fedyogi: moment decays (default ${strategyDefaults.beta1}, ${strategyDefaults.beta2})
  --tau X              fedadam, fedyogi: adaptivity (default ${strategyDefaults.tau})
  --total-clients N    scaffold: clients the round sampled from (default: the updates received)

  Updates with NaN/Inf, the wrong length, a non-positive or fractional example count, or a
  client id used twice are left out, each named on stderr. Exit code 1 when the request cannot
  be aggregated (not JSON, every update rejected, Bulyan with n < 4f + 3, Krum with n < 2f + 3),
  2 on bad options.`;

interface Output {
  write(text: string): unknown;
}

export interface FlAggregateIo {
  /** The request; read from process.stdin when absent. */
  readonly stdin?: string;
  readonly stdout?: Output;
  readonly stderr?: Output;
}

const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const decimal = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!DECIMAL.test(value)) throw new UsageError(`--${name} must be a decimal number, got "${value}"`);
  return Number(value);
};

const count = (name: string, value: string | undefined, min: number): number | undefined => (value === undefined ? undefined : parseIntOption(name, value, 0, min));

/** Which strategies each option applies to: any other use is a usage error, not silently ignored. */
const appliesTo: Record<string, readonly StrategyName[]> = {
  f: ["krum", "multikrum", "bulyan"],
  select: ["multikrum"],
  beta: ["trimmedmean"],
  mu: ["fedprox"],
  "server-lr": ["fedadam", "fedyogi", "scaffold"],
  beta1: ["fedadam", "fedyogi"],
  beta2: ["fedadam", "fedyogi"],
  tau: ["fedadam", "fedyogi"],
  "total-clients": ["scaffold"],
};

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
};

/** A bad request (exit 1), as opposed to a bad command line (UsageError, exit 2). */
class RequestError extends Error {
  override readonly name = "RequestError";
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON array of numbers as Float32Array; the index of the first non-number if there is one. */
const floats = (value: unknown, what: string): Float32Array | { readonly notNumber: number } => {
  if (!Array.isArray(value)) throw new RequestError(`${what} must be an array of numbers`);
  const out = new Float32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== "number") return { notNumber: i };
    out[i] = v;
  }
  return out;
};

const strictFloats = (value: unknown, what: string): Float32Array => {
  const parsed = floats(value, what);
  if (!(parsed instanceof Float32Array)) throw new RequestError(`${what}[${parsed.notNumber}] is not a number`);
  return parsed;
};

interface Request {
  readonly updates: ClientUpdate[];
  /** Updates refused while reading them (a weight that is not a number, say). */
  readonly refused: { client: string; reason: string }[];
  readonly global: Float32Array | undefined;
  readonly state: ServerState | undefined;
  readonly lengths: number[];
}

const parseRequest = (text: string): Request => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RequestError(`stdin is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(body) || !Array.isArray(body.updates) || body.updates.length === 0) {
    throw new RequestError('the request must be a JSON object with "updates": a non-empty array of {"weights": [...], "examples": N}');
  }
  const updates: ClientUpdate[] = [];
  const refused: { client: string; reason: string }[] = [];
  const lengths: number[] = [];
  body.updates.forEach((raw: unknown, index: number) => {
    if (!isRecord(raw)) throw new RequestError(`updates[${index}] must be an object with "weights" and "examples"`);
    const client = raw.client === undefined ? String(index) : typeof raw.client === "string" || typeof raw.client === "number" ? String(raw.client) : undefined;
    if (client === undefined) throw new RequestError(`updates[${index}].client must be a string or a number`);
    const weights = floats(raw.weights, `updates[${index}].weights`);
    if (!(weights instanceof Float32Array)) return void refused.push({ client, reason: `weights[${weights.notNumber}] is not a number` });
    lengths.push(weights.length);
    if (typeof raw.examples !== "number") return void refused.push({ client, reason: `examples must be a positive integer, got ${JSON.stringify(raw.examples) ?? "nothing"}` });
    if (raw.controlDelta === undefined) return void updates.push({ client, weights, examples: raw.examples });
    const controlDelta = floats(raw.controlDelta, `updates[${index}].controlDelta`);
    if (!(controlDelta instanceof Float32Array)) return void refused.push({ client, reason: `controlDelta[${controlDelta.notNumber}] is not a number` });
    updates.push({ client, weights, examples: raw.examples, controlDelta });
  });
  const global = body.global === undefined ? undefined : strictFloats(body.global, "global");
  let state: ServerState | undefined;
  if (body.state !== undefined) {
    if (!isRecord(body.state)) throw new RequestError('"state" must be an object');
    const round = body.state.round ?? 0;
    if (typeof round !== "number") throw new RequestError("state.round must be a number");
    const parts: { round: number; momentum?: Float32Array; velocity?: Float32Array; control?: Float32Array } = { round };
    for (const name of ["momentum", "velocity", "control"] as const) if (body.state[name] !== undefined) parts[name] = strictFloats(body.state[name], `state.${name}`);
    state = parts;
  }
  return { updates, refused, global, state, lengths };
};

/** The most common update length (the first listed among equals): the model's length when no global is given. */
const commonLength = (lengths: readonly number[]): number => {
  const tally = new Map<number, number>();
  for (const l of lengths) tally.set(l, (tally.get(l) ?? 0) + 1);
  let best = lengths[0] ?? 0;
  for (const l of lengths) if (tally.get(l)! > tally.get(best)!) best = l;
  return best;
};

const stateJson = (state: ServerState) => ({
  round: state.round,
  ...(state.momentum ? { momentum: Array.from(state.momentum) } : {}),
  ...(state.velocity ? { velocity: Array.from(state.velocity) } : {}),
  ...(state.control ? { control: Array.from(state.control) } : {}),
});

/** `x0 fl aggregate`: one round of server-side aggregation, JSON in and out. */
export const flAggregate = async (argv: string[], io: FlAggregateIo = {}): Promise<number> => {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      strategy: { type: "string" },
      f: { type: "string" },
      select: { type: "string" },
      beta: { type: "string" },
      mu: { type: "string" },
      "server-lr": { type: "string" },
      beta1: { type: "string" },
      beta2: { type: "string" },
      tau: { type: "string" },
      "total-clients": { type: "string" },
    },
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const name = values.strategy;
  if (name === undefined) throw new UsageError(`give --strategy (one of ${strategyNames.join(", ")})`);
  if (!isStrategyName(name)) throw new UsageError(`unknown strategy "${name}" (one of ${strategyNames.join(", ")})`);
  for (const [option, strategies] of Object.entries(appliesTo)) {
    if (values[option as keyof typeof values] !== undefined && !strategies.includes(name)) throw new UsageError(`--${option} does not apply to ${name} (only to ${strategies.join(", ")})`);
  }
  const settings = {
    f: count("f", values.f, 0),
    select: count("select", values.select, 1),
    beta: decimal("beta", values.beta),
    mu: decimal("mu", values.mu),
    serverLearningRate: decimal("server-lr", values["server-lr"]),
    beta1: decimal("beta1", values.beta1),
    beta2: decimal("beta2", values.beta2),
    tau: decimal("tau", values.tau),
  };
  const strategy = { name, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) } as StrategyConfig;
  const problem = strategyConfigProblem(strategy);
  if (problem) throw new UsageError(problem);
  const totalClients = count("total-clients", values["total-clients"], 1);

  const fail = (reason: string) => {
    stderr.write(`x0 fl aggregate: ${reason}\n`);
    return 1;
  };
  let request: Request;
  try {
    request = parseRequest(io.stdin ?? (await readStdin()));
  } catch (error) {
    if (error instanceof RequestError) return fail(error.message);
    throw error;
  }
  const global = request.global ?? new Float32Array(commonLength(request.lengths));
  const state = request.state ?? initialServerState(strategy, global);
  const outcome = aggregateRound(strategy, global, request.updates, state, totalClients === undefined ? {} : { totalClients });
  const rejected = [...request.refused, ...outcome.rejected];
  const warn = (r: { client: string; reason: string }) => stderr.write(`x0 fl aggregate: warning: update of client ${JSON.stringify(r.client)} rejected: ${r.reason}\n`);
  if (!outcome.ok) {
    rejected.forEach(warn);
    return fail(request.updates.length === 0 ? `no valid update to aggregate (${request.refused.length} rejected)` : outcome.reason);
  }
  rejected.forEach(warn);
  const stateful = name === "fedadam" || name === "fedyogi" || name === "scaffold";
  stdout.write(`${JSON.stringify({ weights: Array.from(outcome.model), used: outcome.used, ...(stateful ? { state: stateJson(outcome.state) } : {}) })}\n`);
  return 0;
};
