import type { ServerResponse } from "node:http";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import { readEvents, streamForSubject, stringifyEvent, type ReadEvent, type ReadStart } from "../../../streams/event-reader.ts";
import type { ApiContext, Route } from "../context.ts";
import { decodeInput, RequestRefusedError } from "../respond.ts";
import { EventsQueryFromStrings, LastEventIdFromString, type EventsQuery } from "../schemas.ts";

export const defaultSubject = "mesh.>";

/**
 * One Server-Sent Event. Verified events are named by their type; the others by their status,
 * so a listener for `mesh.HeartbeatSent` never receives a forged heartbeat as a real one, while
 * an operator listening for `bad-signature` (or reading every message) still sees it.
 */
export const sseMessage = (event: ReadEvent): string => {
  const name = event.status === "verified" ? (event.meta?.type ?? event.status) : event.status;
  // JSON.stringify escapes newlines, so `data:` is one line; the name comes from a header and is
  // cleaned so it cannot start a field of its own.
  return `id: ${event.seq}\nevent: ${name.replace(/[\r\n]/gu, " ")}\ndata: ${stringifyEvent(event)}\n\n`;
};

/** A tail starts at a sequence or a time; "only new events" is resolved to a sequence. */
type TailStart = ({ readonly seq: number; readonly time?: undefined } | { readonly time: Date; readonly seq?: undefined }) & ReadStart;

/**
 * Where a tail starts. `Last-Event-ID` wins over the query: a reconnecting EventSource repeats
 * the original URL (with its from_seq or since) and adds the header, and it must resume after
 * what it already has. Without any start, "only new events" is pinned to the stream's current
 * end before the response begins, so an event stored after the client saw the stream open is
 * never missed.
 */
const resolveStart = async (api: ApiContext, subject: string, query: EventsQuery, lastEventId: number | undefined): Promise<TailStart> => {
  if (lastEventId !== undefined) return { seq: lastEventId + 1 };
  if (query.from_seq !== undefined) return { seq: query.from_seq };
  if (query.since !== undefined) return { time: new Date(query.since) };
  const stream = streamForSubject(subject);
  try {
    const info = await (await api.jetstreamManager()).streams.info(stream);
    return { seq: info.state.last_seq + 1 };
  } catch (error) {
    throw new RequestRefusedError(503, "event stream unavailable", `stream ${stream} cannot be read now: ${(error as Error).message}`, { cause: error });
  }
};

/** Writes with backpressure: a slow client slows its own reader, not the process's memory. */
const write = (res: ServerResponse, chunk: string): Promise<void> => {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
};

/** GET /events: live tail of a subject filter as Server-Sent Events, resumable by sequence or time. */
export const streamEvents: Route = {
  path: "/events",
  pattern: /^\/events$/u,
  handle: async ({ req, res, api, query }) => {
    const parsed = decodeInput(EventsQueryFromStrings, query, "query parameter");
    const header = req.headers["last-event-id"];
    const lastEventId = header === undefined || header === "" ? undefined : decodeInput(LastEventIdFromString, header, "Last-Event-ID header");
    if (api.eventStreams.size >= api.maxEventStreams) {
      throw new RequestRefusedError(503, "too many event streams", `this server serves at most ${api.maxEventStreams} at once; retry later`, {
        headers: { "retry-after": "5" },
      });
    }
    const subject = parsed.subject ?? defaultSubject;
    const start = await resolveStart(api, subject, parsed, lastEventId);

    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      connection: "keep-alive",
      // Reverse proxies (nginx) would otherwise buffer the stream until it ends.
      "x-accel-buffering": "no",
    });
    const controller = new AbortController();
    const aborted = new Promise<"aborted">((resolve) => controller.signal.addEventListener("abort", () => resolve("aborted"), { once: true }));
    let markEnded = () => {};
    api.eventStreams.add(() => controller.abort(), new Promise<void>((resolve) => (markEnded = resolve)));
    res.once("close", () => controller.abort());
    // A comment every keepAliveMs keeps proxies and NAT tables from closing an idle stream.
    const keepAlive = setInterval(() => void write(res, ": keep-alive\n\n"), api.keepAliveMs);
    const events = readEvents(api.nc, {
      subject,
      start,
      follow: true,
      signal: controller.signal,
      ...(api.producers ? { registry: ProducerRegistry.overlay(api.producers) } : {}),
    });
    try {
      // The opening comment tells the client the tail is in place: anything stored from now on is sent.
      const from = start.seq !== undefined ? `sequence ${start.seq}` : `time ${start.time?.toISOString()}`;
      await write(res, `: streaming ${subject} from ${from}\n\n`);
      for (;;) {
        // Racing the abort means close() and a client's disconnect end the loop at once, even
        // while the reader is still waiting for its next message.
        const next = await Promise.race([events.next(), aborted]);
        if (next === "aborted" || next.done) break;
        await write(res, sseMessage(next.value));
      }
    } catch (error) {
      if (!controller.signal.aborted) {
        const detail = (error as Error).message;
        api.log(`GET /events ${subject}: stream failed: ${detail}`);
        await write(res, `event: error\ndata: ${JSON.stringify({ error: "event stream failed", detail })}\n\n`);
      }
    } finally {
      clearInterval(keepAlive);
      controller.abort();
      // Not awaited: the reader finishes closing its consumer after the response is gone.
      void events.return(undefined).catch(() => undefined);
      if (!res.writableEnded) res.end();
      markEnded();
    }
  },
};
