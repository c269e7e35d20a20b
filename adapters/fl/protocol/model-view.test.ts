import { describe, expect, it } from "vitest";
import { contentId } from "../../../domains/fl/content-id.ts";
import { flSubjectOf, type FlEvent, type GlobalModelCommitted, type RoundStarted } from "../../../domains/fl/events.ts";
import type { EnvelopeMeta } from "../../../streams/envelope.ts";
import type { VerifiedEvent } from "../../../streams/projection-runner.ts";
import { FlModelView } from "./model-view.ts";

const cid = (label: string) => contentId(new TextEncoder().encode(label));
let seq = 0;
const verified = (event: FlEvent, producerId: string, subject = flSubjectOf(event)): VerifiedEvent => ({
  stream: "FL",
  seq: ++seq,
  meta: { subject, type: event.type, producerId, eventId: `e-${seq}` } as EnvelopeMeta,
  payload: event.data,
});

const started: RoundStarted = {
  modelId: "mnist", round: 1, coordinator: "coord", globalModelCid: cid("g0"), serverStateCid: cid("s0"), strategy: { name: "fedavg" },
  selectedClients: ["c1", "c2"], population: 2, minUpdates: 1, deadline: 10_000, validators: ["v1", "v2", "v3", "v4"], f: 1, phaseTimeoutMs: 1_000, startedAt: 0,
};
const startedEvent: FlEvent = { type: "fl.RoundStarted", data: started };
const vote = (validator: string): FlEvent => ({ type: "fl.PrepareVoted", data: { modelId: "mnist", round: 1, validator, modelCid: cid("m1"), votedAt: 1 } });
const commit = (round: number, modelCid: string, previousModelCid: string): GlobalModelCommitted => ({
  modelId: "mnist", round, modelCid, previousModelCid, byteLength: 4, serverStateCid: cid(`s${round}`), validators: ["v1", "v2", "v3"], quorum: 3, committedAt: 5,
});

describe("FlModelView: who may append what", () => {
  it("lets only the configured coordinator start rounds, and each producer speak only for itself", () => {
    const view = new FlModelView("mnist", "coord");
    expect(view.authorize(verified(startedEvent, "coord"))).toBeUndefined();
    expect(view.authorize(verified(startedEvent, "mallory"))).toContain("mallory may not append fl.RoundStarted");
    expect(view.authorize(verified(vote("v1"), "v1"))).toBeUndefined();
    expect(view.authorize(verified(vote("v1"), "v2"))).toContain("as validator v1");
    const update: FlEvent = { type: "fl.LocalUpdateSubmitted", data: { modelId: "mnist", round: 1, client: "c1", baseModelCid: cid("g0"), examples: 1, weightsCid: cid("w"), byteLength: 4, submittedAt: 1 } };
    expect(view.authorize(verified(update, "c2"))).toContain("as client c1");
  });

  it("refuses an event on another subject than its own, and an outcome from outside the round", () => {
    const view = new FlModelView("mnist", "coord");
    expect(view.authorize(verified(vote("v1"), "v1", "fl.mnist.1.commit"))).toContain("belongs on fl.mnist.1.prepare");
    const outcome: FlEvent = { type: "fl.GlobalModelCommitted", data: commit(1, cid("m1"), cid("g0")) };
    expect(view.authorize(verified(outcome, "v1"))).toContain("has not started");
    view.apply(verified(startedEvent, "coord"));
    expect(view.authorize(verified(outcome, "v1"))).toBeUndefined();
    expect(view.authorize(verified(outcome, "c1"))).toContain("neither the coordinator nor a validator");
  });
});

describe("FlModelView: the model chain", () => {
  it("takes the first round's model as the genesis and flags a round that does not start from the chain's head", () => {
    const view = new FlModelView("mnist", "coord");
    view.apply(verified(startedEvent, "coord"));
    expect(view.head).toMatchObject({ round: 0, modelCid: cid("g0"), serverStateCid: cid("s0") });
    expect(view.rounds.get(1)!.chainRefusal).toBeUndefined();
    view.apply(verified({ type: "fl.RoundStarted", data: { ...started, round: 2, globalModelCid: cid("a fork") } }, "coord"));
    expect(view.rounds.get(2)!.chainRefusal).toContain("chain's head");
  });

  it("moves the head only on a commit the votes justify", () => {
    const view = new FlModelView("mnist", "coord");
    view.apply(verified(startedEvent, "coord"));
    // A validator's GlobalModelCommitted with no proposal and no votes behind it.
    view.apply(verified({ type: "fl.GlobalModelCommitted", data: commit(1, cid("m1"), cid("g0")) }, "v1"));
    expect(view.head?.modelCid).toBe(cid("g0"));
    expect(view.rounds.get(1)!.outcomeSeq).toBeGreaterThan(0);
    expect(view.rounds.get(1)!.round.status).toBe("collecting");
  });
});
