import * as Result from "effect/Result";
import { describe, expect, it } from "vitest";
import { contentId } from "../content-id.ts";
import type { GlobalModelCommitted } from "../events.ts";
import { chainLinkRefusal, genesisHead, ModelChainBrokenError, verifyModelChain } from "./chain.ts";
import { decodeServerState, encodeServerState } from "./server-state.ts";

const cid = (label: string) => contentId(new TextEncoder().encode(label));
const G = cid("genesis");
const M1 = cid("model 1");
const M2 = cid("model 2");

const committed = (round: number, modelCid: string, previousModelCid: string): GlobalModelCommitted => ({
  modelId: "mnist", round, modelCid, previousModelCid, byteLength: 8, serverStateCid: cid(`state ${round}`),
  validators: ["v1", "v2", "v3"], quorum: 3, committedAt: 1_000 * round,
});

describe("model hash chain", () => {
  it("links each commit to the model committed before it, from the genesis", () => {
    const head = verifyModelChain(genesisHead("mnist", G), [committed(1, M1, G), committed(3, M2, M1)]);
    expect(Result.isSuccess(head) && head.success).toMatchObject({ round: 3, modelCid: M2, serverStateCid: cid("state 3") });
  });

  it("names the commit that breaks the chain, and why", () => {
    const broken = verifyModelChain(genesisHead("mnist", G), [committed(1, M1, G), committed(2, M2, G)]);
    expect(Result.isFailure(broken)).toBe(true);
    const error = (broken as Result.Failure<unknown, ModelChainBrokenError>).failure;
    expect(error).toMatchObject({ _tag: "ModelChainBrokenError", index: 1, round: 2, reason: "previous-mismatch" });
    expect(error.message).toContain(M1);
    expect(chainLinkRefusal(genesisHead("mnist", G), committed(0, M1, G))?.reason).toBe("round-not-after-head");
    expect(chainLinkRefusal(genesisHead("other", G), committed(1, M1, G))?.reason).toBe("other-model");
  });
});

describe("server state bytes", () => {
  it("round-trips every vector and the round, and gives one encoding per state", () => {
    const state = { round: 7, momentum: new Float32Array([0.5, -1]), control: new Float32Array([3]) };
    const bytes = encodeServerState(state);
    expect(decodeServerState(bytes)).toEqual(state);
    expect(contentId(encodeServerState({ ...state }))).toBe(contentId(bytes));
    expect(contentId(encodeServerState({ round: 7, velocity: new Float32Array([0.5, -1]), control: new Float32Array([3]) }))).not.toBe(contentId(bytes));
  });

  it("refuses bytes it did not write", () => {
    const bytes = encodeServerState({ round: 1, momentum: new Float32Array([1, 2]) });
    expect(() => decodeServerState(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
    expect(() => decodeServerState(new Uint8Array([...bytes, 0]))).toThrow(RangeError);
    expect(() => decodeServerState(new Uint8Array([2, 0, 0, 0, 1, 0, 0, 0]))).toThrow(RangeError);
  });
});
