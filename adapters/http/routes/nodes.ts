import type { ApiContext, Exchange, Route } from "../context.ts";
import { decodeInput, decodePathSegment, RequestRefusedError, sendJson } from "../respond.ts";
import { NodePath, NodesQueryFromStrings } from "../schemas.ts";
import { nodeDetail, nodeHealthView, nodeSummary, sortedNodes } from "../views.ts";

/** The knowledge base of a past time, rebuilt by replay; the replay stops if the client goes away first. */
const pastKnowledgeBase = async ({ res, api }: Exchange, asOf: Date) => {
  const abandoned = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) abandoned.abort();
  };
  res.once("close", onClose);
  try {
    return await api.pastKnowledgeBases.get(asOf, abandoned.signal);
  } catch (error) {
    if (abandoned.signal.aborted) throw new RequestRefusedError(503, "replay abandoned", "the client went away", { cause: error });
    throw error;
  } finally {
    res.off("close", onClose);
  }
};

/**
 * GET /nodes: node summaries by node id, optionally one page of them; with `asOf`, those of
 * the knowledge base as it was at that time (X-As-Of-Sequence: the last MESH sequence
 * replayed; X-History-Starts-At: the first one still stored).
 */
export const listNodes: Route = {
  path: "/nodes",
  pattern: /^\/nodes$/u,
  handle: async (exchange) => {
    const { limit, offset = 0, asOf } = decodeInput(NodesQueryFromStrings, exchange.query, "query parameter");
    const past = asOf === undefined ? undefined : await pastKnowledgeBase(exchange, new Date(asOf));
    const nodes = sortedNodes(past?.kb ?? exchange.api.kb);
    const page = nodes.slice(offset, limit === undefined ? undefined : offset + limit);
    sendJson(exchange.res, 200, page.map(nodeSummary), {
      "x-total-count": String(nodes.length),
      ...(past
        ? { "x-as-of": past.asOf.toISOString(), "x-as-of-sequence": String(past.throughSeq), "x-history-starts-at": String(past.firstSeq) }
        : {}),
    });
  },
};

/** The node a path names, or 400 (malformed id) / 404 (not in the knowledge base). */
const knownNode = (api: ApiContext, segment: string | undefined) => {
  const { id: nodeId } = decodeInput(NodePath, { id: decodePathSegment(segment, "id") }, "path parameter");
  const node = api.kb.node(nodeId);
  if (!node) throw new RequestRefusedError(404, "node not found", `no node ${nodeId} in the knowledge base; GET /nodes lists the known nodes`);
  return node;
};

/** GET /nodes/{id}: one node's full state with its neighbours resolved. */
export const getNode: Route = {
  path: "/nodes/{id}",
  pattern: /^\/nodes\/([^/]+)$/u,
  handle: ({ res, api, params }) => sendJson(res, 200, nodeDetail(api.kb, knownNode(api, params[0]))),
};

/** GET /nodes/{id}/health: the node's health ratio and state, plus the live failure detector's view when one runs. */
export const getNodeHealth: Route = {
  path: "/nodes/{id}/health",
  pattern: /^\/nodes\/([^/]+)\/health$/u,
  handle: ({ res, api, params }) => sendJson(res, 200, nodeHealthView(knownNode(api, params[0]), api.liveness)),
};
