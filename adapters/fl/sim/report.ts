import type { RoundReport, SimSummary } from "./engine.ts";

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** One human-readable progress line per round. */
export const roundLine = (r: RoundReport, rounds: number): string => {
  const head = `round ${String(r.round).padStart(String(rounds).length)}/${rounds}`;
  const eps = r.epsilon !== undefined ? `  ε ${r.epsilon.toFixed(3)}` : "";
  const secagg = r.secagg ? ` (secure sum of ${r.secagg.clients}, t = ${r.secagg.threshold})` : "";
  const attackers = r.attackers ? `, attackers ${r.attackers.used}/${r.attackers.selected} used` : "";
  if (r.outcome !== "committed") return `${head}  ${r.outcome.toUpperCase()}${eps}  ${r.reasons[0] ?? ""}  (${seconds(r.roundMs)})`;
  const rejected = r.rejected > 0 ? `  [${r.reasons.join("; ")}]` : "";
  return (
    `${head}  accuracy ${r.accuracy!.toFixed(4)}  loss ${r.loss!.toFixed(4)}${eps}  ` +
    `updates ${r.used}/${r.selected} used, ${r.rejected} rejected${attackers}${secagg}  commit ${seconds(r.commitMs)}  round ${seconds(r.roundMs)}${rejected}`
  );
};

/** A round as one JSON object (no trailing newline). */
export const roundJson = (r: RoundReport): string => JSON.stringify({ type: "round", ...r });

/** The closing summary, several lines. */
export const summaryLines = (s: SimSummary): string[] => [
  `${s.stoppedEarly ? `stopped early: ${s.stoppedEarly}` : "done"} (${s.transport})`,
  `final accuracy ${pct(s.finalAccuracy)} (loss ${s.finalLoss.toFixed(4)}), best ${pct(s.bestAccuracy)} at round ${s.bestRound}, initial ${pct(s.initialAccuracy)}`,
  `rounds: ${s.committed} committed, ${s.timedOut} timed out, ${s.abandoned} abandoned, of ${s.roundsRun} run (${s.roundsAsked} asked)`,
  ...(s.epsilon !== undefined ? [`privacy: ε = ${s.epsilon.toFixed(4)} at δ = ${s.delta}`] : []),
  `total time ${seconds(s.totalMs)}`,
  `model chain head ${s.headCid}`,
];

/** The summary as one JSON object (no weights). */
export const summaryJson = (s: SimSummary): string => {
  const { history: _history, model: _model, ...rest } = s;
  return JSON.stringify({ type: "summary", ...rest });
};
