import type { MsgHdrs } from "@nats-io/transport-node";
import { headerFields, parseHeaderBlock, type HeaderFields } from "./envelope.ts";

interface NatsMsgInternals {
  readonly msg?: { readonly _rdata?: unknown; readonly _msg?: { readonly hdr?: unknown } };
  readonly _rdata?: unknown;
  readonly _msg?: { readonly hdr?: unknown };
}

/**
 * Raw header bytes of a message received by nats.js v3 (`MsgImpl._rdata` up to `_msg.hdr`),
 * or undefined when that internal shape is not there (another client version, a direct get).
 */
export const wireHeaderBytes = (msg: object): Uint8Array | undefined => {
  const inner = (msg as NatsMsgInternals).msg ?? (msg as NatsMsgInternals);
  const data = inner._rdata;
  const hdr = inner._msg?.hdr;
  if (!(data instanceof Uint8Array) || typeof hdr !== "number" || hdr <= 0 || hdr > data.length) return undefined;
  return data.subarray(0, hdr);
};

/**
 * The header fields of a received message, parsed from its wire bytes: nats.js builds `MsgHdrs`
 * with a scan of every key per line (~15 µs for an envelope, 4x this parse) and throws on a
 * header name outside its character set, which a raw-protocol publisher can send. Falls back to
 * the public `headers`; never throws (an unreadable block is reported as no envelope).
 * `wire-headers.test.ts` pins that the fast path is taken with the installed client.
 */
export const messageHeaderFields = (msg: { readonly headers?: MsgHdrs | undefined }): HeaderFields | undefined => {
  const bytes = wireHeaderBytes(msg);
  if (bytes) return parseHeaderBlock(bytes);
  try {
    return msg.headers ? headerFields(msg.headers) : undefined;
  } catch {
    return undefined;
  }
};
