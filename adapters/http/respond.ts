import type { ServerResponse } from "node:http";
import * as Cause from "effect/Cause";
import * as Exit from "effect/Exit";
import * as Schema from "effect/Schema";
import * as SchemaIssue from "effect/SchemaIssue";
import type { ApiError } from "./schemas.ts";

/** A request the API refuses: carried to the client as `{error, detail?}` with its status. */
export class RequestRefusedError extends Error {
  override readonly name = "RequestRefusedError";
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail?: string,
    options?: { readonly cause?: unknown; readonly headers?: Readonly<Record<string, string>> },
  ) {
    super(detail ? `${error}: ${detail}` : error, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers ?? {};
  }
  readonly headers: Readonly<Record<string, string>>;
}

// Responses are never cached by intermediaries (they describe a mesh that changes every second)
// and never sniffed into another content type.
const commonHeaders = { "cache-control": "no-store", "x-content-type-options": "nosniff" } as const;

export const jsonContentType = "application/json; charset=utf-8";

export const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...commonHeaders, ...headers, "content-type": jsonContentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
};

export const sendText = (res: ServerResponse, status: number, text: string, contentType: string): void => {
  res.writeHead(status, { ...commonHeaders, "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
};

export const sendError = (res: ServerResponse, refusal: RequestRefusedError): void => {
  const body: ApiError = refusal.detail === undefined ? { error: refusal.error } : { error: refusal.error, detail: refusal.detail };
  sendJson(res, refusal.status, body, refusal.headers);
};

/** Echoes a client's value back in a message, short enough that a pasted blob stays out of logs. */
export const quote = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
};

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1();

/**
 * Decodes request input (query, path or header strings) with its Schema, or refuses the request
 * with 400 naming each bad input, what was expected and what was given.
 */
export const decodeInput = <T>(schema: Schema.Decoder<T>, input: unknown, what: string): T => {
  const result = Schema.decodeUnknownExit(schema)(input, { errors: "all", onExcessProperty: "error" });
  if (Exit.isSuccess(result)) return result.value;
  const error = Cause.squash(result.cause);
  if (!Schema.isSchemaError(error)) throw error;
  const seen = new Set<string>();
  const lines: string[] = [];
  // One message per input: a value that fails several checks is reported by its first.
  for (const issue of formatIssues(error.issue).issues) {
    const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment));
    const name = path.join(".");
    if (seen.has(name)) continue;
    seen.add(name);
    const given = valueAt(input, path);
    const excess = issue.message === "Expected no excess property";
    const message = excess ? `unknown ${what}` : issue.message;
    // The given value is echoed (shortened) unless the message already names it.
    const echo = (typeof given === "string" || typeof given === "number") && !excess && !message.includes(String(given));
    lines.push(`${name ? `${name}: ` : ""}${message}${echo ? ` (got ${quote(given)})` : ""}`);
  }
  throw new RequestRefusedError(400, `invalid ${what}`, lines.join("; "));
};

const valueAt = (input: unknown, path: readonly string[]): unknown => {
  let value = input;
  for (const key of path) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
};

/** A percent-encoded path segment, decoded, or a 400 naming the parameter. */
export const decodePathSegment = (segment: string | undefined, name: string): string => {
  try {
    return decodeURIComponent(segment ?? "");
  } catch {
    throw new RequestRefusedError(400, "invalid path parameter", `${name}: not valid percent-encoding`);
  }
};
