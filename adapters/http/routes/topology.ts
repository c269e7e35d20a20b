import type { Route } from "../context.ts";
import { sendJson } from "../respond.ts";
import { topologyView } from "../views.ts";

/** GET /topology: the link graph, neighbour MACs resolved to node ids. */
export const getTopology: Route = {
  path: "/topology",
  pattern: /^\/topology$/u,
  handle: ({ res, api }) => sendJson(res, 200, topologyView(api.kb)),
};
