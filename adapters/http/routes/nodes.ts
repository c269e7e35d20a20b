import type { ApiContext, Route } from "../context.ts";
import { decodeInput, decodePathSegment, RequestRefusedError, sendJson } from "../respond.ts";
import { NodePath, NodesQueryFromStrings } from "../schemas.ts";
import { nodeDetail, nodeHealthView, nodeSummary, sortedNodes } from "../views.ts";

/** GET /nodes: node summaries by node id, optionally one page of them. */
export const listNodes: Route = {
  path: "/nodes",
  pattern: /^\/nodes$/u,
  handle: ({ res, api, query }) => {
    const { limit, offset = 0 } = decodeInput(NodesQueryFromStrings, query, "query parameter");
    const nodes = sortedNodes(api.kb);
    const page = nodes.slice(offset, limit === undefined ? undefined : offset + limit);
    sendJson(res, 200, page.map(nodeSummary), { "x-total-count": String(nodes.length) });
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
