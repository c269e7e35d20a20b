// Leaf hashing worker (see leaf-hasher.ts). Plain JavaScript so Node can start it without a
// TypeScript loader; it registers tsx itself, then loads only leaf-records.ts (no effect).
// Protocol, answered in order:
//   { op: "tree", size, peaks }            the tree the next leaves are appended to (none: no tree)
//   { op: "hash", id, records, count }     -> { id, hashes, records }  count x 32 bytes; the records'
//                                             buffer goes back for the next batch
//   { op: "root", id }                     -> { id, size, root, peaks } of the tree so far
import { parentPort } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { FrontierTree, hashPackedRecords } = await import("./leaf-records.ts");
const { LeafEncoder } = await import("../../domains/audit/leaf.ts");
const encoder = new LeafEncoder();
let tree;

parentPort.on("message", (msg) => {
  if (msg.op === "tree") {
    tree = msg.peaks ? new FrontierTree(msg.size, msg.peaks) : undefined;
    return;
  }
  if (msg.op === "root") {
    parentPort.postMessage({ id: msg.id, size: tree?.size ?? 0, root: tree?.root(), peaks: tree?.frontier() ?? [] });
    return;
  }
  const hashes = new Uint8Array(msg.count * 32);
  hashPackedRecords(encoder, msg.records, msg.count, hashes, tree);
  parentPort.postMessage({ id: msg.id, hashes, records: msg.records }, [hashes.buffer, msg.records.buffer]);
});
