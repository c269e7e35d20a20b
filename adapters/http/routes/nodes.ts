import type { Route } from "../context.ts";
import { decodeInput, RequestRefusedError, sendJson } from "../respond.ts";
import { NodePath, NodesQueryFromStrings } from "../schemas.ts";
import { nodeDetail, nodeSummary, sortedNodes } from "../views.ts";

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

/** GET /nodes/{id}: one node's full state with its neighbours resolved. */
export const getNode: Route = {
  path: "/nodes/{id}",
  pattern: /^\/nodes\/([^/]+)$/u,
  handle: ({ res, api, params }) => {
    let raw: string;
    try {
      raw = decodeURIComponent(params[0] ?? "");
    } catch {
      throw new RequestRefusedError(400, "invalid path parameter", "id: not valid percent-encoding");
    }
    const { id: nodeId } = decodeInput(NodePath, { id: raw }, "path parameter");
    const node = api.kb.node(nodeId);
    if (!node) throw new RequestRefusedError(404, "node not found", `no node ${nodeId} in the knowledge base; GET /nodes lists the known nodes`);
    sendJson(res, 200, nodeDetail(api.kb, node));
  },
};
