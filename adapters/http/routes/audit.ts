import * as Schema from "effect/Schema";
import { AUDITED_STREAMS } from "../../../domains/audit/index.ts";
import { AuditQueryError, knowledgeBaseAsOf, type AuditProofs, type KnowledgeBaseAsOf } from "../../../projections/audit/index.ts";
import { ProducerRegistry } from "../../../streams/producer-registry.ts";
import type { ApiContext, Exchange, Route } from "../context.ts";
import { decodeInput, decodePathSegment, RequestRefusedError, sendJson } from "../respond.ts";
import { nodeSummary, sortedNodes } from "../views.ts";

/*
 * The audit log over HTTP: signed checkpoints, inclusion proofs as self-contained bundles that
 * `x0 audit verify-proof` checks offline, consistency proofs, and the knowledge base as of a
 * past time (GET /nodes?asOf=). Shapes: domains/audit/bundle.ts (AuditCheckpoint,
 * AuditInclusionBundle, AuditConsistencyProof).
 */

/** What these routes read on the API context: the proofs of the auditor running in this process. */
export interface AuditApi {
  readonly audit?: AuditProofs;
}

const CheckpointNumber = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))).annotate({
  description: "A checkpoint number: its sequence in the AUDIT stream",
  expected: "a checkpoint number (an integer >= 1)",
});

/** `GET /audit/checkpoints` query. */
export const AuditCheckpointsQuery = Schema.Struct({
  limit: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 100 }))).annotate({
      description: "Largest number of checkpoints to return, newest first (1-100). Default 20.",
      expected: "an integer from 1 to 100",
    }),
  ),
  before: Schema.optionalKey(CheckpointNumber.annotate({ description: "Only checkpoints numbered below this one (the next page). Default: from the newest." })),
});

/** `GET /audit/checkpoints/{n}` path parameters. */
export const AuditCheckpointPath = Schema.Struct({ n: CheckpointNumber });

/** `GET /audit/proof/inclusion` query. */
export const AuditInclusionQuery = Schema.Struct({
  stream: Schema.Literals(AUDITED_STREAMS).annotate({ description: "The audited stream that holds the event", expected: AUDITED_STREAMS.join(", ") }),
  seq: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1))).annotate({
    description: "The event's stream sequence",
    expected: "a stream sequence (an integer >= 1)",
  }),
  checkpoint: Schema.optionalKey(CheckpointNumber.annotate({ description: "Prove against this checkpoint. Default: the auditor's latest." })),
});

/** `GET /audit/proof/consistency` query. */
export const AuditConsistencyQuery = Schema.Struct({
  from: CheckpointNumber.annotate({ description: "The older checkpoint" }),
  to: CheckpointNumber.annotate({ description: "The newer checkpoint" }),
});

const CheckpointsQueryFromStrings = Schema.toCodecStringTree(AuditCheckpointsQuery);
const CheckpointPathFromStrings = Schema.toCodecStringTree(AuditCheckpointPath);
const InclusionQueryFromStrings = Schema.toCodecStringTree(AuditInclusionQuery);
const ConsistencyQueryFromStrings = Schema.toCodecStringTree(AuditConsistencyQuery);

const auditOf = (api: ApiContext): AuditProofs => {
  const audit = (api as ApiContext & AuditApi).audit;
  if (!audit) throw new RequestRefusedError(503, "audit log unavailable", "this server runs without the auditor");
  return audit;
};

const statusOf: Readonly<Record<AuditQueryError["reason"], number>> = {
  "not-found": 404,
  "not-covered": 404,
  "not-ready": 503,
  "bad-range": 400,
  changed: 409,
};

/** Runs a query; its refusals become API errors with their status. */
const answer = async <T>(query: () => Promise<T>): Promise<T> => {
  try {
    return await query();
  } catch (error) {
    if (error instanceof AuditQueryError) {
      throw new RequestRefusedError(statusOf[error.reason], error.reason.replace("-", " "), error.message, error.reason === "not-ready" ? { headers: { "retry-after": "1" } } : undefined);
    }
    throw error;
  }
};

/** GET /audit/checkpoints: signed checkpoints, newest first. */
export const listAuditCheckpoints: Route = {
  path: "/audit/checkpoints",
  pattern: /^\/audit\/checkpoints$/u,
  handle: async ({ res, api, query }) => {
    const { limit, before } = decodeInput(CheckpointsQueryFromStrings, query, "query parameter");
    const page = await answer(() => auditOf(api).checkpoints({ ...(limit !== undefined ? { limit } : {}), ...(before !== undefined ? { before } : {}) }));
    sendJson(res, 200, page.items, { "x-last-checkpoint": String(page.last) });
  },
};

/** GET /audit/checkpoints/{n}: one signed checkpoint. */
export const getAuditCheckpoint: Route = {
  path: "/audit/checkpoints/{n}",
  pattern: /^\/audit\/checkpoints\/([^/]+)$/u,
  handle: async ({ res, api, params }) => {
    const { n } = decodeInput(CheckpointPathFromStrings, { n: decodePathSegment(params[0], "n") }, "path parameter");
    sendJson(res, 200, await answer(() => auditOf(api).checkpoint(n)));
  },
};

/** GET /audit/proof/inclusion: the event, its leaf, its inclusion proof and the signed checkpoint, in one bundle. */
export const getInclusionProof: Route = {
  path: "/audit/proof/inclusion",
  pattern: /^\/audit\/proof\/inclusion$/u,
  handle: async ({ res, api, query }) => {
    const { stream, seq, checkpoint } = decodeInput(InclusionQueryFromStrings, query, "query parameter");
    sendJson(res, 200, await answer(() => auditOf(api).inclusion(stream, seq, checkpoint)));
  },
};

/** GET /audit/proof/consistency: the proof that checkpoint `from`'s tree is a prefix of checkpoint `to`'s. */
export const getConsistencyProof: Route = {
  path: "/audit/proof/consistency",
  pattern: /^\/audit\/proof\/consistency$/u,
  handle: async ({ res, api, query }) => {
    const { from, to } = decodeInput(ConsistencyQueryFromStrings, query, "query parameter");
    sendJson(res, 200, await answer(() => auditOf(api).consistency(from, to)));
  },
};

/** The audit routes, for the server's route table. */
export const auditRoutes: readonly Route[] = [listAuditCheckpoints, getAuditCheckpoint, getInclusionProof, getConsistencyProof];

// ---------------------------------------------------------------------------------------------
// GET /nodes?asOf=: the knowledge base rebuilt as it was at a past time

// A past time's knowledge base never changes: the last few are kept; one replay runs at a time.
const asOfCache = new Map<number, Promise<KnowledgeBaseAsOf>>();
const AS_OF_CACHE_ENTRIES = 4;
let replaying: Promise<unknown> = Promise.resolve();

const replayAsOf = (api: ApiContext, asOf: Date): Promise<KnowledgeBaseAsOf> => {
  const key = asOf.getTime();
  const cached = asOfCache.get(key);
  if (cached) return cached;
  const run = replaying.catch(() => undefined).then(() => knowledgeBaseAsOf(api.nc, asOf, api.producers ? { registry: overlayOf(api) } : {}));
  replaying = run;
  // Only a time already past can be cached: events stored later cannot belong to it.
  if (key < Date.now() - 1_000) {
    asOfCache.set(key, run);
    run.catch(() => asOfCache.delete(key));
    while (asOfCache.size > AS_OF_CACHE_ENTRIES) asOfCache.delete(asOfCache.keys().next().value!);
  }
  return run;
};

// A reader's view of the live keys: what the replay introduces stays its own.
const overlayOf = (api: ApiContext) => ProducerRegistry.overlay(api.producers!);

/**
 * GET /nodes?asOf=<RFC 3339>: the node summaries of the knowledge base rebuilt by replaying MESH
 * up to that time (same shape and paging as GET /nodes). `X-As-Of-Sequence` is the last MESH
 * sequence replayed; `X-History-Starts-At` the first one still stored.
 */
export const sendNodesAsOf = async (exchange: Exchange, query: { readonly asOf: string; readonly limit?: number; readonly offset?: number }): Promise<void> => {
  const asOf = new Date(query.asOf);
  const rebuilt = await replayAsOf(exchange.api, asOf);
  const nodes = sortedNodes(rebuilt.kb);
  const offset = query.offset ?? 0;
  const page = nodes.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
  sendJson(exchange.res, 200, page.map(nodeSummary), {
    "x-total-count": String(nodes.length),
    "x-as-of": asOf.toISOString(),
    "x-as-of-sequence": String(rebuilt.throughSeq),
    "x-history-starts-at": String(rebuilt.firstSeq),
  });
};
