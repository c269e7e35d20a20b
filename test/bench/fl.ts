/**
 * `npm run bench:fl [-- --runs R --clients N --params P --krum-params Q --f F]`
 *
 * Server-side aggregation time (domains/fl/aggregate, through `aggregateRound`, so the update
 * screening is included) against a bare summation of the same data in the same process.
 *
 * - Data (seeded Rng, so every run of the bench sees the same numbers): N (default 100) client
 *   models of P (default 1,000,000) parameters, each a shared base plus its own uniform noise,
 *   with 1..100 examples each; and N models of Q (default 100,000) parameters of which F
 *   (default 20) are Byzantine (the base shifted by 5 plus noise ten times larger), the rest honest.
 * - Baseline: one plain loop per client adding its Float32Array into one Float64Array,
 *   measured before and after FedAvg in each run; the run's ratio is FedAvg over the mean of
 *   the two, and fedavg_vs_sum is the median of the runs' ratios, so a change of machine load
 *   during a run weighs on both sides alike.
 * - Timed on N × P: FedAvg, coordinate-wise median, trimmed mean (β = 0.1). On N × Q: Krum and
 *   Bulyan with f = F (n >= 4f + 3 holds for 100 and 20); they must return honest updates only,
 *   or the bench fails.
 * - R (default 3) runs; every figure is the median of the runs. Progress goes to stderr with
 *   the load average and this process's CPU time per phase: on a machine shared with other work,
 *   wall time moves with their load, CPU time much less.
 *
 * Last line: fedavg_vs_sum=.. median_ms=.. krum_ms=.. trimmedmean_ms=.. bulyan_ms=.. sum_ms=.. fedavg_ms=..
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Rng } from "../../domains/kernel/rng.ts";
import { aggregateRound, type AggregateOutcome, type ClientUpdate, type StrategyConfig } from "../../domains/fl/aggregate/index.ts";

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    clients: { type: "string", default: "100" },
    params: { type: "string", default: "1000000" },
    "krum-params": { type: "string", default: "100000" },
    f: { type: "string", default: "20" },
  },
});
const RUNS = Number(flags.runs);
const N = Number(flags.clients);
const P = Number(flags.params);
const Q = Number(flags["krum-params"]);
const F = Number(flags.f);
for (const [name, value] of Object.entries({ runs: RUNS, clients: N, params: P, "krum-params": Q })) {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}
if (!Number.isSafeInteger(F) || F < 0 || N < 4 * F + 3) throw new Error(`--f must be an integer >= 0 with clients >= 4f + 3 (Bulyan), got ${flags.f}`);

const progress = (text: string) => process.stderr.write(`[bench:fl] ${text}\n`);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const clientId = (i: number) => `client-${String(i).padStart(4, "0")}`;

/** N models of `length` parameters: base + noise; the first `byzantine` (in id order: the last ids) are shifted and noisier. */
const makeUpdates = (seed: number, length: number, byzantine: number): ClientUpdate[] => {
  const baseRng = new Rng(seed);
  const base = Float32Array.from({ length }, () => baseRng.float() - 0.5);
  return Array.from({ length: N }, (_, i) => {
    const rng = new Rng(seed, i + 1);
    const bad = i >= N - byzantine;
    const weights = new Float32Array(length);
    const scale = bad ? 0.2 : 0.02;
    const shift = bad ? 5 : 0;
    for (let k = 0; k < length; k++) weights[k] = base[k]! + shift + scale * (rng.float() - 0.5);
    return { client: clientId(i), weights, examples: 1 + rng.int(100) };
  });
};

const started = performance.now();
const big = makeUpdates(1, P, 0);
const small = makeUpdates(2, Q, F);
const byzantineIds = new Set(small.slice(N - F).map((u) => u.client));
progress(`data: ${N} × ${P.toLocaleString("en")} and ${N} × ${Q.toLocaleString("en")} (${F} Byzantine) in ${(performance.now() - started).toFixed(0)} ms; load ${load()}`);

const bareSum = (): number => {
  const sum = new Float64Array(P);
  for (const u of big) {
    const w = u.weights;
    for (let k = 0; k < P; k++) sum[k] = sum[k]! + w[k]!;
  }
  return sum[P >> 1]!; // used, so the loop is not dead code
};

/** Wall and CPU milliseconds of one call. */
const timed = <T>(fn: () => T): { ms: number; cpuMs: number; value: T } => {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = fn();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, value };
};

const aggregate = (strategy: StrategyConfig, updates: readonly ClientUpdate[], length: number) => () => {
  const outcome: AggregateOutcome = aggregateRound(strategy, new Float32Array(length), updates, { round: 0 });
  if (!outcome.ok) throw new Error(`${strategy.name} refused: ${outcome.reason}`);
  if (outcome.rejected.length > 0) throw new Error(`${strategy.name} rejected ${outcome.rejected.length} updates`);
  return outcome;
};

const cases = {
  fedavg: aggregate({ name: "fedavg" }, big, P),
  median: aggregate({ name: "median" }, big, P),
  trimmedmean: aggregate({ name: "trimmedmean", beta: 0.1 }, big, P),
  krum: aggregate({ name: "krum", f: F }, small, Q),
  bulyan: aggregate({ name: "bulyan", f: F }, small, Q),
};

const samples = { sum: [] as number[], fedavg: [] as number[], median: [] as number[], trimmedmean: [] as number[], krum: [] as number[], bulyan: [] as number[], ratio: [] as number[] };

// One untimed pass so the JIT has compiled every loop before the first timed run.
timed(bareSum);
for (const run of Object.values(cases)) timed(run);
progress(`warm-up done; load ${load()}`);

for (let run = 1; run <= RUNS; run++) {
  const line: string[] = [];
  const sumBefore = timed(bareSum);
  const fedavg = timed(cases.fedavg);
  const sumAfter = timed(bareSum);
  const sumMs = (sumBefore.ms + sumAfter.ms) / 2;
  samples.sum.push(sumMs);
  samples.fedavg.push(fedavg.ms);
  samples.ratio.push(fedavg.ms / sumMs);
  line.push(`sum ${sumMs.toFixed(0)} ms (cpu ${((sumBefore.cpuMs + sumAfter.cpuMs) / 2).toFixed(0)})`, `fedavg ${fedavg.ms.toFixed(0)} ms (cpu ${fedavg.cpuMs.toFixed(0)})`);
  for (const name of ["median", "trimmedmean", "krum", "bulyan"] as const) {
    const t = timed(cases[name]);
    samples[name].push(t.ms);
    line.push(`${name} ${t.ms.toFixed(0)} ms (cpu ${t.cpuMs.toFixed(0)})`);
    if ((name === "krum" || name === "bulyan") && t.value.used.some((id) => byzantineIds.has(id))) {
      throw new Error(`${name} kept a Byzantine update: ${t.value.used.filter((id) => byzantineIds.has(id)).join(", ")}`);
    }
  }
  progress(`run ${run}/${RUNS}: ${line.join(", ")}; load ${load()}`);
}

const ms = (xs: readonly number[]) => median(xs).toFixed(0);
console.log(
  `aggregation of ${N} clients: FedAvg, median, trimmed mean over ${P.toLocaleString("en")} parameters; Krum, Bulyan (f = ${F}) over ${Q.toLocaleString("en")}; medians of ${RUNS} runs; load ${load()}`,
);
console.log(
  `fedavg_vs_sum=${median(samples.ratio).toFixed(2)} median_ms=${ms(samples.median)} krum_ms=${ms(samples.krum)} trimmedmean_ms=${ms(samples.trimmedmean)} bulyan_ms=${ms(samples.bulyan)} sum_ms=${ms(samples.sum)} fedavg_ms=${ms(samples.fedavg)}`,
);
