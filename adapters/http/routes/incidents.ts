import type { ServerResponse } from "node:http";
import type { IncidentLog } from "../../../projections/incidents/index.ts";
import type { ApiContext, Route } from "../context.ts";
import { decodeInput, decodePathSegment, RequestRefusedError, sendJson } from "../respond.ts";
import { CommandsQueryFromStrings, FaultsQueryFromStrings, IncidentPath, IncidentsQueryFromStrings } from "../schemas.ts";
import { faultJson, incidentDetailView, incidentSummaryView, operatorCommandJson } from "../views.ts";

const incidentLog = (api: ApiContext): IncidentLog => {
  if (!api.incidents) throw new RequestRefusedError(503, "incident log unavailable", "this server runs without the incident projection");
  return api.incidents;
};

/** One page of a newest-first list, with the number before paging in `X-Total-Count`. */
const sendList = <T, V>(res: ServerResponse, items: readonly T[], limit: number | undefined, view: (item: T) => V) =>
  sendJson(res, 200, items.slice(0, limit).map(view), { "x-total-count": String(items.length) });

/** GET /incidents: incidents newest first, by status and kind. */
export const listIncidents: Route = {
  path: "/incidents",
  pattern: /^\/incidents$/u,
  handle: ({ res, api, query }) => {
    const { status, kind, limit } = decodeInput(IncidentsQueryFromStrings, query, "query parameter");
    const incidents = incidentLog(api).incidents({ ...(status ? { status } : {}), ...(kind ? { kind } : {}) });
    sendList(res, incidents, limit, incidentSummaryView);
  },
};

/** GET /incidents/{id}: one incident's state and its whole event chain. */
export const getIncident: Route = {
  path: "/incidents/{id}",
  pattern: /^\/incidents\/([^/]+)$/u,
  handle: ({ res, api, params }) => {
    const { id } = decodeInput(IncidentPath, { id: decodePathSegment(params[0], "id") }, "path parameter");
    const record = incidentLog(api).incident(id);
    if (!record) throw new RequestRefusedError(404, "incident not found", `no incident ${id}; GET /incidents lists the known incidents`);
    sendJson(res, 200, incidentDetailView(record));
  },
};

/** GET /commands: operator commands outside incidents, newest first, with the nodes' outcomes. */
export const listCommands: Route = {
  path: "/commands",
  pattern: /^\/commands$/u,
  handle: ({ res, api, query }) => {
    const { node, limit } = decodeInput(CommandsQueryFromStrings, query, "query parameter");
    sendList(res, incidentLog(api).operatorCommands(node ? { node } : {}), limit, operatorCommandJson);
  },
};

/** GET /faults: injected faults, newest first. */
export const listFaults: Route = {
  path: "/faults",
  pattern: /^\/faults$/u,
  handle: ({ res, api, query }) => {
    const { limit } = decodeInput(FaultsQueryFromStrings, query, "query parameter");
    sendList(res, incidentLog(api).faults(), limit, faultJson);
  },
};
