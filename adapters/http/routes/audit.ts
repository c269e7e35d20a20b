import { AuditQueryError, type AuditProofs } from "../../../projections/audit/index.ts";
import type { ApiContext, Route } from "../context.ts";
import { decodeInput, decodePathSegment, RequestRefusedError, sendJson } from "../respond.ts";
import {
  AuditCheckpointPathFromStrings,
  AuditCheckpointsQueryFromStrings,
  AuditConsistencyQueryFromStrings,
  AuditInclusionQueryFromStrings,
} from "../schemas.ts";

/*
 * The audit log over HTTP: signed checkpoints, inclusion proofs as self-contained bundles that
 * `x0 audit verify-proof` checks offline, and consistency proofs between checkpoints. Shapes:
 * domains/audit/bundle.ts (AuditCheckpoint, AuditInclusionBundle, AuditConsistencyProof).
 */

const auditOf = (api: ApiContext): AuditProofs => {
  if (!api.audit) throw new RequestRefusedError(503, "audit log unavailable", "this server runs without the auditor (x0 up --no-audit)");
  return api.audit;
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
    const { limit, before } = decodeInput(AuditCheckpointsQueryFromStrings, query, "query parameter");
    const page = await answer(() => auditOf(api).checkpoints({ ...(limit !== undefined ? { limit } : {}), ...(before !== undefined ? { before } : {}) }));
    sendJson(res, 200, page.items, { "x-last-checkpoint": String(page.last) });
  },
};

/** GET /audit/checkpoints/{n}: one signed checkpoint. */
export const getAuditCheckpoint: Route = {
  path: "/audit/checkpoints/{n}",
  pattern: /^\/audit\/checkpoints\/([^/]+)$/u,
  handle: async ({ res, api, params }) => {
    const { n } = decodeInput(AuditCheckpointPathFromStrings, { n: decodePathSegment(params[0], "n") }, "path parameter");
    sendJson(res, 200, await answer(() => auditOf(api).checkpoint(n)));
  },
};

/** GET /audit/proof/inclusion: the event, its leaf, its inclusion proof and the signed checkpoint, in one bundle. */
export const getInclusionProof: Route = {
  path: "/audit/proof/inclusion",
  pattern: /^\/audit\/proof\/inclusion$/u,
  handle: async ({ res, api, query }) => {
    const { stream, seq, checkpoint } = decodeInput(AuditInclusionQueryFromStrings, query, "query parameter");
    sendJson(res, 200, await answer(() => auditOf(api).inclusion(stream, seq, checkpoint)));
  },
};

/** GET /audit/proof/consistency: the proof that checkpoint `from`'s tree is a prefix of checkpoint `to`'s. */
export const getConsistencyProof: Route = {
  path: "/audit/proof/consistency",
  pattern: /^\/audit\/proof\/consistency$/u,
  handle: async ({ res, api, query }) => {
    const { from, to } = decodeInput(AuditConsistencyQueryFromStrings, query, "query parameter");
    sendJson(res, 200, await answer(() => auditOf(api).consistency(from, to)));
  },
};

/** The audit routes, for the server's route table. */
export const auditRoutes: readonly Route[] = [listAuditCheckpoints, getAuditCheckpoint, getInclusionProof, getConsistencyProof];
