import { parseArgs } from "node:util";
import { RdpAccountant } from "../../../domains/fl/privacy/index.ts";
import { UsageError } from "../options.ts";

export const flEpsilonUsage = `x0 fl epsilon --noise Z --sample-rate Q --steps T --delta D
  Prints ε, alone on one line, for T steps of the Poisson-subsampled Gaussian mechanism (each
  client sampled with probability Q, noise stddev Z times the clip norm), by the RDP accountant
  (Opacus's orders and RDP-to-(ε, δ) conversion). No server needed.

  --noise Z          noise multiplier, > 0
  --sample-rate Q    sampling rate, 0 < Q <= 1
  --steps T          number of steps (rounds), a positive integer
  --delta D          target δ, 0 < D < 1

  Exit code 2 on a missing or out-of-range option.`;

const DECIMAL = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const decimal = (name: string, value: string | undefined): number => {
  if (value === undefined) throw new UsageError(`give --${name}`);
  if (!DECIMAL.test(value)) throw new UsageError(`--${name} must be a decimal number, got "${value}"`);
  return Number(value);
};

/** `x0 fl epsilon`: the accountant's ε for a fixed mechanism, as a number for scripts to read. */
export const flEpsilon = async (argv: string[], io: { readonly stdout?: { write(text: string): unknown } } = {}): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { noise: { type: "string" }, "sample-rate": { type: "string" }, steps: { type: "string" }, delta: { type: "string" } },
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const noise = decimal("noise", values.noise);
  if (!(noise > 0) || !Number.isFinite(noise)) throw new UsageError(`--noise must be > 0, got "${values.noise}"`);
  const sampleRate = decimal("sample-rate", values["sample-rate"]);
  if (!(sampleRate > 0 && sampleRate <= 1)) throw new UsageError(`--sample-rate must be in (0, 1], got "${values["sample-rate"]}"`);
  if (values.steps === undefined) throw new UsageError("give --steps");
  const steps = Number(values.steps);
  if (!/^\d+$/.test(values.steps) || !Number.isSafeInteger(steps) || steps < 1) throw new UsageError(`--steps must be a positive integer, got "${values.steps}"`);
  const delta = decimal("delta", values.delta);
  if (!(delta > 0 && delta < 1)) throw new UsageError(`--delta must be in (0, 1), got "${values.delta}"`);

  const accountant = new RdpAccountant();
  accountant.step(noise, sampleRate, steps);
  (io.stdout ?? process.stdout).write(`${String(accountant.epsilon(delta).epsilon)}\n`);
  return 0;
};
