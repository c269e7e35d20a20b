import * as Result from "effect/Result";
import { describe, expect, it } from "vitest";
import { contentId } from "../content-id.ts";
import type { AggregateProposed, CommitTimedOut, FlEvent, GlobalModelCommitted } from "../events.ts";
import { BftConfigError, CommitRefusedError, decide, evolve, fold, initialState, quorumSize, tally, type CommitCommand, type CommitState } from "./index.ts";

const T0 = Date.parse("2026-11-26T10:00:00.000Z");
const TIMEOUT = 30_000;
const cid = (label: string) => contentId(new TextEncoder().encode(label));
const GOOD = cid("the aggregate");
const WRONG = cid("a Byzantine validator's model");
const PREVIOUS = cid("round 0 model");

const validatorsOf = (n: number) => Array.from({ length: n }, (_, i) => `v${i + 1}`);

const proposal: AggregateProposed = {
  modelId: "mnist",
  round: 1,
  proposer: "coord",
  modelCid: GOOD,
  byteLength: 4000,
  serverStateCid: cid("state 1"),
  previousModelCid: PREVIOUS,
  inputs: [{ client: "c1", weightsCid: cid("c1"), examples: 10 }],
  used: ["c1"],
  rejected: [],
  rejectedCount: 0,
  proposedAt: T0,
};

const start = (n: number, f: number): CommitState => {
  const state = initialState(validatorsOf(n), f, { modelId: "mnist", round: 1, phaseTimeoutMs: TIMEOUT, coordinator: "coord", proposalDeadline: T0 + 60_000 });
  if (Result.isFailure(state)) throw state.failure;
  return state.success;
};

const vote = (validator: string, modelCid: string | undefined, votedAt = T0 + 1_000) => ({
  modelId: "mnist",
  round: 1,
  validator,
  ...(modelCid !== undefined ? { modelCid } : {}),
  votedAt,
});
const prepare = (validator: string, modelCid: string | undefined, at?: number): FlEvent => ({ type: "fl.PrepareVoted", data: vote(validator, modelCid, at) });
const commit = (validator: string, modelCid: string | undefined, at?: number): FlEvent => ({ type: "fl.CommitVoted", data: vote(validator, modelCid, at) });
const proposed: FlEvent = { type: "fl.AggregateProposed", data: proposal };

/** Given these events, when this command: the events decided (throws on a refusal). */
const when = (given: readonly FlEvent[], command: CommitCommand, state = start(4, 1)) => {
  const decision = decide(command, fold(state, given));
  if (Result.isFailure(decision)) throw decision.failure;
  return decision.success;
};
const refusalOf = (given: readonly FlEvent[], command: CommitCommand, state = start(4, 1)) => {
  const decision = decide(command, fold(state, given));
  if (Result.isSuccess(decision)) throw new Error(`expected a refusal, got ${JSON.stringify(decision.success)}`);
  return decision.failure;
};

describe("BFT commit: configuration", () => {
  it("refuses fewer than 3f + 1 validators with a typed error", () => {
    const refused = initialState(validatorsOf(3), 1, { modelId: "m", round: 1 });
    expect(Result.isFailure(refused)).toBe(true);
    const error = (refused as Result.Failure<CommitState, BftConfigError>).failure;
    expect(error).toBeInstanceOf(BftConfigError);
    expect(error).toMatchObject({ _tag: "BftConfigError", validators: 3, f: 1 });
    expect(error.message).toContain("n >= 3f + 1");
    expect(Result.isFailure(initialState(validatorsOf(6), 2, { modelId: "m", round: 1 }))).toBe(true);
    expect(Result.isFailure(initialState(["a", "a", "b", "c"], 1, { modelId: "m", round: 1 }))).toBe(true);
  });

  it("needs 2f + 1 votes with n = 3f + 1, and keeps quorums intersecting in an honest validator for larger n", () => {
    for (const f of [0, 1, 2, 3, 10]) expect(quorumSize(3 * f + 1, f)).toBe(2 * f + 1);
    // Two quorums of q among n share at least 2q - n validators; that must exceed f.
    for (const [n, f] of [[5, 1], [6, 1], [10, 2], [100, 20]] as const) expect(2 * quorumSize(n, f) - n).toBeGreaterThan(f);
    expect(start(4, 1)).toMatchObject({ quorum: 3, status: "awaiting-proposal", validators: ["v1", "v2", "v3", "v4"] });
  });
});

describe("BFT commit: f Byzantine validators out of 3f + 1 cannot stop it", () => {
  for (const f of [1, 2, 3]) {
    const n = 3 * f + 1;
    const validators = validatorsOf(n);
    const honest = validators.slice(0, 2 * f + 1);
    const byzantine = validators.slice(2 * f + 1);

    it(`commits with n = ${n} when ${f} vote for another model in both phases`, () => {
      const given = [
        proposed,
        ...byzantine.map((v) => prepare(v, WRONG)),
        ...honest.map((v) => prepare(v, GOOD)),
        ...byzantine.map((v) => commit(v, WRONG)),
        ...honest.slice(0, -1).map((v) => commit(v, GOOD)),
      ];
      const events = when(given, { type: "CastCommit", data: vote(honest.at(-1)!, GOOD, T0 + 2_000) }, start(n, f));
      expect(events.map((e) => e.type)).toEqual(["fl.CommitVoted", "fl.GlobalModelCommitted"]);
      const committed = events[1]!.data as GlobalModelCommitted;
      expect(committed).toMatchObject({ modelCid: GOOD, previousModelCid: PREVIOUS, serverStateCid: proposal.serverStateCid, quorum: 2 * f + 1, round: 1 });
      expect(committed.validators).toEqual([...honest].sort());
      expect(committed.committedAt).toBe(T0 + 2_000);
      const after = fold(start(n, f), [...given, ...events]);
      expect(after.status).toBe("committed");
    });

    it(`commits with n = ${n} when ${f} stay silent, and a late observer finalizes the same way`, () => {
      const given = [proposed, ...honest.map((v) => prepare(v, GOOD)), ...honest.map((v) => commit(v, GOOD))];
      const [finalized] = when(given, { type: "Finalize" }, start(n, f));
      expect(finalized?.type).toBe("fl.GlobalModelCommitted");
      expect((finalized!.data as GlobalModelCommitted).validators).toEqual([...honest].sort());
    });

    it(`times out with n = ${n} when f + 1 = ${f + 1} stay silent, naming them`, () => {
      const answering = validators.slice(0, n - (f + 1));
      const silent = validators.slice(n - (f + 1));
      const given = [proposed, ...answering.map((v) => prepare(v, GOOD))];
      expect(when(given, { type: "CheckTimeout", data: { now: T0 + TIMEOUT } }, start(n, f))).toEqual([]);
      const [timedOut] = when(given, { type: "CheckTimeout", data: { now: T0 + TIMEOUT + 1 } }, start(n, f));
      expect(timedOut?.type).toBe("fl.CommitTimedOut");
      const data = timedOut!.data as CommitTimedOut;
      expect(data).toMatchObject({ phase: "prepare", quorum: 2 * f + 1, missing: [...silent].sort(), deadline: T0 + TIMEOUT, modelCid: GOOD });
      expect(data.votes.map((v) => v.validator)).toEqual(answering);
      for (const v of silent) expect(data.reason).toContain(v);
      expect(data.reason).toContain(`${answering.length} of ${n} validators`);
      expect(fold(start(n, f), [...given, timedOut!]).status).toBe("timed-out");
    });
  }
});

describe("BFT commit: votes", () => {
  it("counts a validator's first prepare only: a second one (equivocation) is refused and ignored", () => {
    const given = [proposed, prepare("v4", WRONG), prepare("v1", GOOD), prepare("v2", GOOD)];
    const refused = refusalOf(given, { type: "CastPrepare", data: vote("v4", GOOD) });
    expect(refused).toBeInstanceOf(CommitRefusedError);
    expect(refused.reason).toBe("already-voted");
    expect(refused.message).toContain("equivocation");
    const state = fold(start(4, 1), [...given, prepare("v4", GOOD)]);
    expect(state.status).toBe("preparing");
    expect(tally(state, "prepare").get(GOOD)).toEqual(["v1", "v2"]);
    expect(tally(state, "prepare").get(WRONG)).toEqual(["v4"]);
    expect(state.ignored.at(-1)).toMatchObject({ type: "fl.PrepareVoted", reason: "already-voted" });
  });

  it("lets a nil vote and a vote for another model count against the proposal", () => {
    const state = fold(start(4, 1), [proposed, prepare("v1", GOOD), prepare("v2", undefined), prepare("v3", WRONG), prepare("v4", GOOD)]);
    expect(state.status).toBe("preparing");
    const [timedOut] = when([], { type: "CheckTimeout", data: { now: T0 + TIMEOUT + 5 } }, state);
    const data = timedOut!.data as CommitTimedOut;
    expect(data.missing).toEqual([]);
    expect(data.reason).toContain("v2 voted nil");
    expect(data.reason).toContain("v3 voted for");
  });

  it("refuses votes from outside the validator set, before a proposal, and after the phase deadline", () => {
    expect(refusalOf([proposed], { type: "CastPrepare", data: vote("mallory", GOOD) }).reason).toBe("not-a-validator");
    expect(refusalOf([], { type: "CastPrepare", data: vote("v1", GOOD) }).reason).toBe("no-proposal");
    expect(refusalOf([proposed], { type: "CastPrepare", data: vote("v1", GOOD, T0 + TIMEOUT + 1) }).reason).toBe("late");
    const late = fold(start(4, 1), [proposed, prepare("v1", GOOD), prepare("v2", GOOD), prepare("v3", GOOD, T0 + TIMEOUT + 1)]);
    expect(late.status).toBe("preparing");
  });

  it("ignores a commit before the prepare quorum, and takes the same validator's commit after it", () => {
    const early = [proposed, prepare("v1", GOOD), commit("v1", GOOD), prepare("v2", GOOD)];
    expect(refusalOf(early, { type: "CastCommit", data: vote("v2", GOOD) }).reason).toBe("before-prepare-quorum");
    const state = fold(start(4, 1), [...early, prepare("v3", GOOD), commit("v1", GOOD), commit("v2", GOOD), commit("v3", GOOD)]);
    expect(state.commits.map((v) => v.validator)).toEqual(["v1", "v2", "v3"]);
    expect(decide({ type: "Finalize" }, state)).toMatchObject({ success: [{ type: "fl.GlobalModelCommitted" }] });
  });

  it("times the commit phase out from when the prepare quorum formed, naming who did not commit", () => {
    const formedAt = T0 + 4_000;
    const given = [proposed, prepare("v1", GOOD), prepare("v2", GOOD), prepare("v3", GOOD, formedAt), commit("v1", GOOD), commit("v2", GOOD)];
    expect(when(given, { type: "CheckTimeout", data: { now: formedAt + TIMEOUT } })).toEqual([]);
    const [timedOut] = when(given, { type: "CheckTimeout", data: { now: formedAt + TIMEOUT + 1 } });
    expect(timedOut!.data).toMatchObject({ phase: "commit", missing: ["v3", "v4"], deadline: formedAt + TIMEOUT });
  });

  it("does not let a voter's clock stretch the commit phase beyond one more timeout", () => {
    const given = [proposed, prepare("v1", GOOD), prepare("v2", GOOD), prepare("v3", GOOD, T0 + 10 * TIMEOUT)];
    // A vote stamped after the prepare deadline is late; one stamped just before it starts the commit phase there.
    expect(fold(start(4, 1), given).status).toBe("preparing");
    const stretched = fold(start(4, 1), [proposed, prepare("v1", GOOD), prepare("v2", GOOD), prepare("v3", GOOD, T0 + TIMEOUT)]);
    expect(stretched.commitDeadline).toBe(T0 + 2 * TIMEOUT);
  });
});

describe("BFT commit: the round's outcome", () => {
  it("ignores a GlobalModelCommitted the votes do not support, and takes the justified one after it", () => {
    const votes = [proposed, prepare("v1", GOOD), prepare("v2", GOOD), prepare("v3", GOOD), commit("v1", GOOD), commit("v2", GOOD)];
    const shortcut: GlobalModelCommitted = {
      modelId: "mnist", round: 1, modelCid: GOOD, byteLength: 4000, serverStateCid: proposal.serverStateCid, previousModelCid: PREVIOUS,
      validators: ["v1", "v2", "v4"], quorum: 3, committedAt: T0 + 2_000,
    };
    const state = fold(start(4, 1), [...votes, { type: "fl.GlobalModelCommitted", data: shortcut }]);
    expect(state.status).toBe("committing");
    expect(state.ignored.at(-1)).toMatchObject({ type: "fl.GlobalModelCommitted", reason: "unjustified" });
    const [finalized] = when([...votes, { type: "fl.GlobalModelCommitted", data: shortcut }, commit("v3", GOOD)], { type: "Finalize" });
    const done = fold(state, [commit("v3", GOOD), finalized!]);
    expect(done.status).toBe("committed");
    expect(done.outcome?.type).toBe("fl.GlobalModelCommitted");
  });

  it("ignores a timeout stamped before the phase deadline (a validator cutting the round short)", () => {
    const early: CommitTimedOut = {
      modelId: "mnist", round: 1, phase: "prepare", modelCid: GOOD, votes: [], quorum: 3, missing: ["v1", "v2", "v3", "v4"], deadline: T0 + TIMEOUT, timedOutAt: T0 + 5, reason: "impatient",
    };
    expect(fold(start(4, 1), [proposed, { type: "fl.CommitTimedOut", data: early }]).status).toBe("preparing");
  });

  it("takes nothing more once committed: votes, timeouts and a second proposal are refused", () => {
    const given = [proposed, ...["v1", "v2", "v3"].map((v) => prepare(v, GOOD)), ...["v1", "v2"].map((v) => commit(v, GOOD))];
    const events = when(given, { type: "CastCommit", data: vote("v3", GOOD) });
    const done = [...given, ...events];
    expect(refusalOf(done, { type: "CastCommit", data: vote("v4", GOOD) }).reason).toBe("round-over");
    expect(when(done, { type: "CheckTimeout", data: { now: T0 + 100 * TIMEOUT } })).toEqual([]);
    expect(when(done, { type: "Finalize" })).toEqual([]);
    expect(refusalOf(done, { type: "Propose", data: { ...proposal, modelCid: WRONG } }).reason).toBe("round-over");
  });

  it("times out waiting for the proposal, naming the coordinator", () => {
    const [timedOut] = when([], { type: "CheckTimeout", data: { now: T0 + 60_001 } });
    expect(timedOut!.data).toMatchObject({ phase: "propose", missing: ["coord"], votes: [] });
    expect((timedOut!.data as CommitTimedOut).reason).toContain("no aggregate was proposed");
  });

  it("accepts one proposal per round: the same again changes nothing, another is refused", () => {
    expect(when([proposed], { type: "Propose", data: proposal })).toEqual([]);
    expect(refusalOf([proposed], { type: "Propose", data: { ...proposal, modelCid: WRONG } }).reason).toBe("already-proposed");
    expect(evolve(start(4, 1), { type: "fl.AggregateProposed", data: { ...proposal, round: 2 } }).status).toBe("awaiting-proposal");
  });
});
