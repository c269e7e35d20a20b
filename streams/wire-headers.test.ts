import { headers as natsHeaders } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { startTestNats } from "../test/support/nats.ts";
import { headerFields } from "./envelope.ts";
import { messageHeaderFields, wireHeaderBytes } from "./wire-headers.ts";

/** A received message as nats.js v3 builds it: MsgImpl keeps the wire bytes and the header length. */
const received = (block: string, payload = "x") => {
  const bytes = new TextEncoder().encode(block + payload);
  return {
    msg: { _rdata: bytes, _msg: { hdr: block.length } },
    get headers(): never {
      throw new Error("public headers must not be decoded");
    },
  };
};

describe("message header fields", () => {
  it("reads the wire bytes of a nats.js v3 message (the fast path is taken)", () => {
    const m = received("NATS/1.0\r\nX0-Type: mesh.HeartbeatSent\r\nNats-Msg-Id:  abc \r\n\r\n");
    expect(wireHeaderBytes(m)).toBeDefined();
    expect(messageHeaderFields(m)).toEqual({ "X0-Type": "mesh.HeartbeatSent", "Nats-Msg-Id": "abc" });
  });

  it("gives what MsgHdrs gives for an envelope", () => {
    const h = natsHeaders();
    h.set("X0-Type", "mesh.LinkMetricsReported");
    h.set("X0-Signature", `${"a".repeat(86)}==`);
    h.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    expect(messageHeaderFields(received(h.toString()))).toEqual(headerFields(h));
  });

  it("does not throw on a header name nats.js refuses", () => {
    expect(messageHeaderFields(received("NATS/1.0\r\nBad Name: x\r\n\r\n"))).toEqual({ "Bad Name": "x" });
  });

  it("takes the fast path on a message received from a real server with the installed client", async () => {
    const nats = await startTestNats({ streams: false });
    try {
      const sub = nats.nc.subscribe("wire.test", { max: 1 });
      const h = natsHeaders();
      h.set("X0-Type", "mesh.HeartbeatSent");
      nats.nc.publish("wire.test", "x", { headers: h });
      let seen = 0;
      for await (const m of sub) {
        expect(wireHeaderBytes(m)).toBeDefined();
        expect(messageHeaderFields(m)).toEqual({ "X0-Type": "mesh.HeartbeatSent" });
        seen++;
      }
      expect(seen).toBe(1);
    } finally {
      await nats.close();
    }
  });

  it("falls back to the public headers for other message shapes, and never throws", () => {
    const h = natsHeaders();
    h.set("X0-Type", "mesh.HeartbeatSent");
    expect(messageHeaderFields({ headers: h })).toEqual({ "X0-Type": "mesh.HeartbeatSent" });
    expect(messageHeaderFields({ headers: undefined })).toBeUndefined();
    const throwing = { get headers(): never { throw new Error("bad header"); } };
    expect(messageHeaderFields(throwing)).toBeUndefined();
  });
});
