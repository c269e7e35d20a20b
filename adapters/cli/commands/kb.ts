import { parseArgs } from "node:util";
import { knowledgeBaseAsOf } from "../../../projections/audit/index.ts";
import type { KnowledgeBase, NodeState } from "../../../projections/knowledge-base/index.ts";
import { connectNats } from "../../../streams/connection.ts";
import { dataDirFrom, parseTime, resolveServers, UsageError } from "../options.ts";

export const kbUsage = `x0 kb --as-of TIME [options]
  Prints the knowledge base as it was at TIME, rebuilt in memory by replaying MESH up to the
  last event stored by then (each event verified and authorized as the live projection does);
  the running control plane is not touched. One JSON line per node, by node id; a summary on
  stderr.

  --as-of TIME       RFC 3339 (2026-11-26T10:00:00Z) or a duration ago (15m, 2h, 7d); required
  --node ID          only this node (exit code 1 when it was not known then)
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)`;

const iso = (ms: number) => new Date(ms).toISOString();

/** A node as JSON: times as RFC 3339, neighbours resolved to node ids as they were then. */
const nodeJson = (kb: KnowledgeBase, node: NodeState): Record<string, unknown> => ({
  nodeId: node.nodeId,
  seq: node.seq,
  lastSeen: iso(node.lastSeen),
  ...(node.announced ? { announced: { ...node.announced, at: iso(node.announced.at) } } : {}),
  ...(node.heartbeat ? { heartbeat: { uptime: node.heartbeat.uptime, at: iso(node.heartbeat.at) } } : {}),
  ...(node.metrics ? { metrics: { ...node.metrics, at: iso(node.metrics.at) } } : {}),
  ...(node.links ? { linksReportedAt: iso(node.links.at) } : {}),
  neighbours: kb.neighbours(node.nodeId).map(({ source: _source, at: _at, target, ...sample }) => ({ target: target ?? null, ...sample })),
});

export const kb = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "as-of": { type: "string" }, node: { type: "string" }, "data-dir": { type: "string" } },
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values["as-of"] === undefined) throw new UsageError("give --as-of TIME (RFC 3339, or a duration ago such as 2h)");
  const asOf = parseTime("as-of", values["as-of"]);
  const nc = await connectNats({ servers: await resolveServers(dataDirFrom(values["data-dir"])), name: "x0-kb" });
  try {
    const rebuilt = await knowledgeBaseAsOf(nc, asOf);
    const nodes = [...rebuilt.kb.nodes()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    const shown = values.node === undefined ? nodes : nodes.filter((n) => n.nodeId === values.node);
    process.stdout.write(shown.map((node) => `${JSON.stringify(nodeJson(rebuilt.kb, node))}\n`).join(""));
    process.stderr.write(
      `knowledge base as of ${asOf.toISOString()}: ${nodes.length} nodes from ${rebuilt.applied} of ${rebuilt.events} MESH events (through sequence ${rebuilt.throughSeq})` +
        (rebuilt.firstSeq > 1 ? `; MESH history now starts at sequence ${rebuilt.firstSeq} (older events aged out)` : "") +
        "\n",
    );
    if (values.node !== undefined && shown.length === 0) {
      process.stderr.write(`x0 kb: no node ${values.node} in the knowledge base as of ${asOf.toISOString()}\n`);
      return 1;
    }
    return 0;
  } finally {
    await nc.close();
  }
};
