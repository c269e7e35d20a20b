import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import * as Result from "effect/Result";
import {
  CompactTree,
  consistencyProof,
  inclusionProof,
  leafHash,
  MemoryTree,
  MerkleInputError,
  toHex,
  verifyConsistencyView,
  verifyInclusionBundle,
} from "../../../domains/audit/index.ts";
import { verifyAuditLog, type VerifyProgress, type VerifyReport } from "../../../projections/audit/index.ts";
import { connectNats } from "../../../streams/connection.ts";
import { dataDirFrom, parseIntOption, resolveServers, UsageError } from "../options.ts";

export const auditUsage = `x0 audit <subcommand>
  The audit log: a Merkle tree (RFC 9162, SHA-256) over every stored event of MESH, HEAL, FL,
  GOV and IDENTITY, with signed checkpoints on AUDIT.

  x0 audit verify [options]                replays the streams and checks every checkpoint: its
                                           signature, its link to the one before, and its tree
                                           size and root recomputed from the stored events
    --from-checkpoint A                    recompute from checkpoint A on (default 1); checkpoint
                                           A-1's signed frontier is the start
    --to-checkpoint B                      stop after checkpoint B (default: the last)
    --signatures                           also verify every event's producer signature
    --auditor-key KEY                      accept only this auditor key: 64 hex digits, or a file
                                           holding them or a PEM public key (default: the keys
                                           enrolled on IDENTITY with role auditor)
    --json                                 print the report as one JSON object
    --data-dir DIR                         where to find a local x0 up's server (default ./.x0)
    Progress: a bar on a terminal, one line per checkpoint otherwise. Exit code 1 names the
    first divergence (checkpoint, stream, sequence), or events whose signature fails.

  x0 audit verify-proof <file> [--auditor-key KEY]
                                           checks offline, with no server, a proof from the API:
                                           an inclusion bundle (GET /audit/proof/inclusion) or a
                                           consistency proof (GET /audit/proof/consistency); file
                                           "-" is stdin. Without --auditor-key the key inside the
                                           bundle is used (said so on stderr). Exit code 1 if it
                                           does not verify.

  Cross-checks of the hashing with no server (leaves on stdin, one per line, in hex; an empty
  line is an empty leaf; the newline after the last line is optional; hashes in lower-case hex):

  x0 audit merkle root                     prints the root hash of the leaves on stdin
  x0 audit merkle inclusion --index I      prints the inclusion proof of leaf I (0-based), one hash per line
  x0 audit merkle consistency --from M     prints the consistency proof from the first M leaves to all of
                                           them (1 <= M <= leaves), one hash per line

  Exit code 2 on bad options, bad hex or an index out of range.`;

const MAX_SHOWN = 40;

/**
 * One leaf per input line, decoded from hex. Lines are split on "\n" alone (a "\r" before it
 * is dropped), and a final "\n" ends the last line rather than starting an empty one.
 */
async function* leavesFrom(input: AsyncIterable<Buffer | string>): AsyncGenerator<Uint8Array> {
  let pending = "";
  let lineNumber = 0;
  const decode = (line: string): Uint8Array => {
    lineNumber++;
    const hex = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/u.test(hex)) {
      const shown = hex.length > MAX_SHOWN ? `${hex.slice(0, MAX_SHOWN)}...` : hex;
      throw new UsageError(`stdin line ${lineNumber} is not a leaf in hex (an even number of 0-9 a-f digits): ${JSON.stringify(shown)}`);
    }
    return new Uint8Array(Buffer.from(hex, "hex"));
  };
  for await (const chunk of input) {
    // latin1 maps each byte to one character, so a chunk boundary never splits a character.
    pending += typeof chunk === "string" ? chunk : chunk.toString("latin1");
    let start = 0;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n", start)) {
      yield decode(pending.slice(start, end));
      start = end + 1;
    }
    pending = pending.slice(start);
  }
  if (pending.length > 0) yield decode(pending);
}

/** A library range error is the user's input: exit 2 with its message. */
const asUsage = <T>(f: () => T): T => {
  try {
    return f();
  } catch (error) {
    if (error instanceof MerkleInputError) throw new UsageError(error.message);
    throw error;
  }
};

const merkle = async (argv: string[], input: AsyncIterable<Buffer | string>): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { index: { type: "string" }, from: { type: "string" } },
    strict: true,
  });
  const [operation, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const option = (name: "index" | "from", wanted: boolean) => {
    if (!wanted && values[name] !== undefined) throw new UsageError(`--${name} does not apply to merkle ${operation}`);
    if (wanted && values[name] === undefined) throw new UsageError(`merkle ${operation} needs --${name}`);
    return wanted ? parseIntOption(name, values[name], 0, 0) : 0;
  };
  let lines: string[];
  switch (operation) {
    case "root": {
      option("index", false);
      option("from", false);
      const tree = new CompactTree();
      for await (const data of leavesFrom(input)) tree.append(leafHash(data));
      lines = [toHex(tree.root())];
      break;
    }
    case "inclusion": {
      const index = option("index", true);
      option("from", false);
      const tree = new MemoryTree();
      for await (const data of leavesFrom(input)) tree.append(leafHash(data));
      lines = asUsage(() => inclusionProof(tree, index)).map(toHex);
      break;
    }
    case "consistency": {
      const from = option("from", true);
      option("index", false);
      const tree = new MemoryTree();
      for await (const data of leavesFrom(input)) tree.append(leafHash(data));
      lines = asUsage(() => consistencyProof(tree, from)).map(toHex);
      break;
    }
    case undefined:
      throw new UsageError("give an operation: merkle root, merkle inclusion --index I or merkle consistency --from M");
    default:
      throw new UsageError(`unknown merkle operation ${JSON.stringify(operation)}: root, inclusion or consistency`);
  }
  process.stdout.write(lines.map((line) => `${line}\n`).join(""));
  return 0;
};

/** An auditor public key from the command line: 64 hex digits, or a file with them or a PEM SPKI key. */
const auditorKeyFrom = async (value: string): Promise<Uint8Array> => {
  const raw = (text: string): Uint8Array | undefined => {
    const trimmed = text.trim();
    if (/^[0-9a-fA-F]{64}$/u.test(trimmed)) return new Uint8Array(Buffer.from(trimmed, "hex"));
    const pem = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/u.exec(trimmed);
    if (pem) {
      const der = Buffer.from(pem[1]!.replace(/\s+/gu, ""), "base64");
      // RFC 8410 SubjectPublicKeyInfo of an Ed25519 key: a 12-byte prefix, then the 32-byte key.
      if (der.length === 44 && der.subarray(0, 12).toString("hex") === "302a300506032b6570032100") return new Uint8Array(der.subarray(12));
    }
    return undefined;
  };
  const direct = raw(value);
  if (direct) return direct;
  let text: string;
  try {
    text = await readFile(value, "utf8");
  } catch {
    throw new UsageError(`--auditor-key must be 64 hex digits or a file holding them or an Ed25519 PEM public key; ${JSON.stringify(value)} is neither`);
  }
  const fromFile = raw(text);
  if (!fromFile) throw new UsageError(`--auditor-key file ${value} holds neither 64 hex digits nor an Ed25519 PEM public key`);
  return fromFile;
};

const grouped = (n: number) => n.toLocaleString("en-US");

/** A progress bar on a terminal (stderr), redrawn in place. */
const progressBar = (stream: NodeJS.WriteStream) => {
  const started = Date.now();
  let drawn = false;
  return {
    update(p: VerifyProgress) {
      const width = 30;
      const done = p.totalLeaves > 0 ? p.leaves / p.totalLeaves : p.checkpoint / Math.max(1, p.lastCheckpoint);
      const filled = Math.min(width, Math.round(done * width));
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? Math.round(p.leaves / seconds) : 0;
      stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] checkpoint ${p.checkpoint}/${p.lastCheckpoint}  ${grouped(p.leaves)} leaves  ${grouped(rate)}/s `);
      drawn = true;
    },
    end() {
      if (drawn) stream.write("\n");
    },
  };
};

const describeReport = (report: VerifyReport): string[] => {
  const lines: string[] = [];
  for (const notice of report.notices) lines.push(`notice: ${notice}`);
  if (report.divergence) {
    const d = report.divergence;
    const where = d.stream !== undefined ? ` stream ${d.stream} sequence ${d.seq ?? "?"}` : "";
    lines.push(`DIVERGENCE at checkpoint ${d.checkpoint}${where} (${d.reason}): ${d.message}`);
  } else if (report.lastCheckpoint === 0) {
    lines.push("nothing to verify: no checkpoint has been signed yet");
  } else {
    lines.push(
      `verified checkpoints ${report.firstCheckpoint}-${report.lastCheckpoint}: signatures and links of ${report.checkpointsChecked}, ` +
        `${grouped(report.leaves)} leaves recomputed for ${report.checkpointsRecomputed}, every root matches (${report.seconds.toFixed(1)} s)`,
    );
  }
  if (report.auditors.length > 0) lines.push(`auditor keys: ${report.auditors.join(", ")}`);
  const uncovered = Object.entries(report.uncovered).filter(([, n]) => n > 0);
  if (uncovered.length > 0) lines.push(`not checkpointed yet: ${uncovered.map(([stream, n]) => `${stream} ${grouped(n)}`).join(", ")}`);
  if (report.signaturesChecked > 0 || report.signatureFailuresTotal > 0) {
    lines.push(`event signatures: ${grouped(report.signaturesChecked)} checked, ${grouped(report.signatureFailuresTotal)} failing`);
    for (const f of report.signatureFailures) lines.push(`BAD EVENT ${f.stream} ${f.seq} (${f.status}): ${f.detail}`);
    if (report.signatureFailuresTotal > report.signatureFailures.length) lines.push(`... and ${report.signatureFailuresTotal - report.signatureFailures.length} more`);
  }
  return lines;
};

const verify = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "from-checkpoint": { type: "string" },
      "to-checkpoint": { type: "string" },
      signatures: { type: "boolean" },
      "auditor-key": { type: "string" },
      json: { type: "boolean" },
      "data-dir": { type: "string" },
    },
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const from = values["from-checkpoint"] === undefined ? undefined : parseIntOption("from-checkpoint", values["from-checkpoint"], 1, 1);
  const to = values["to-checkpoint"] === undefined ? undefined : parseIntOption("to-checkpoint", values["to-checkpoint"], 1, 1);
  if (from !== undefined && to !== undefined && from > to) throw new UsageError(`--from-checkpoint ${from} is after --to-checkpoint ${to}`);
  const auditorKey = values["auditor-key"] === undefined ? undefined : await auditorKeyFrom(values["auditor-key"]);
  const nc = await connectNats({ servers: await resolveServers(dataDirFrom(values["data-dir"])), name: "x0-audit-verify" });
  const tty = !values.json && process.stderr.isTTY === true;
  const bar = tty ? progressBar(process.stderr) : undefined;
  let report: VerifyReport;
  try {
    report = await verifyAuditLog(nc, {
      ...(from !== undefined ? { fromCheckpoint: from } : {}),
      ...(to !== undefined ? { toCheckpoint: to } : {}),
      ...(values.signatures ? { signatures: true } : {}),
      ...(auditorKey ? { auditorKeys: [auditorKey] } : {}),
      onCheckpoint: (p) => {
        if (bar) bar.update(p);
        else if (!values.json) {
          process.stdout.write(`checkpoint ${p.checkpoint} ok tree_size=${p.treeSize} root=${p.root}${p.recomputed ? "" : " (signature and link only: its leaves aged out)"}\n`);
        }
      },
    });
  } finally {
    bar?.end();
    await nc.close();
  }
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(describeReport(report).map((line) => `${line}\n`).join(""));
  return report.ok ? 0 : 1;
};

const readAll = async (input: AsyncIterable<Buffer | string>): Promise<string> => {
  let text = "";
  for await (const chunk of input) text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
  return text;
};

const verifyProof = async (argv: string[], input: AsyncIterable<Buffer | string>): Promise<number> => {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { "auditor-key": { type: "string" } }, strict: true });
  const [file, ...extra] = positionals;
  if (file === undefined) throw new UsageError("give the proof file (or - for stdin)");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  let text: string;
  try {
    text = file === "-" ? await readAll(input) : await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    process.stdout.write(`REJECTED (malformed): ${file} is not JSON: ${(error as Error).message}\n`);
    return 1;
  }
  let key: Uint8Array;
  if (values["auditor-key"] !== undefined) {
    key = await auditorKeyFrom(values["auditor-key"]);
  } else {
    const carried = (document as { auditor?: { publicKey?: unknown } })?.auditor?.publicKey;
    if (typeof carried !== "string" || !/^[0-9a-f]{64}$/u.test(carried)) {
      throw new UsageError("this proof carries no auditor key: give the auditor's public key with --auditor-key");
    }
    process.stderr.write("x0 audit verify-proof: trusting the auditor key inside the bundle; pin the auditor's key with --auditor-key to check who signed\n");
    key = new Uint8Array(Buffer.from(carried, "hex"));
  }
  const isConsistency = typeof document === "object" && document !== null && "from" in document && "to" in document;
  if (isConsistency) {
    const verdict = verifyConsistencyView(document, key);
    if (Result.isFailure(verdict)) {
      process.stdout.write(`REJECTED (${verdict.failure.reason}): ${verdict.failure.message}\n`);
      return 1;
    }
    const { from, to } = document as { from: { number: number; treeSize: number }; to: { number: number; treeSize: number } };
    process.stdout.write(`OK: checkpoint ${to.number} (${to.treeSize} leaves) extends checkpoint ${from.number} (${from.treeSize} leaves); both signed by the auditor key\n`);
    return 0;
  }
  const verdict = verifyInclusionBundle(document, key);
  if (Result.isFailure(verdict)) {
    process.stdout.write(`REJECTED (${verdict.failure.reason}): ${verdict.failure.message}\n`);
    return 1;
  }
  const v = verdict.success;
  process.stdout.write(
    `OK: ${v.stream} ${v.seq} (${v.subject}) is leaf ${v.leafIndex} of checkpoint ${v.checkpoint} (${v.treeSize} leaves), signed by auditor key ${v.auditorKeyId}\n`,
  );
  return 0;
};

const subcommands: Record<string, (argv: string[], input: AsyncIterable<Buffer | string>) => Promise<number>> = {
  merkle,
  verify: (argv) => verify(argv),
  "verify-proof": verifyProof,
};

export const audit = async (argv: string[], input: AsyncIterable<Buffer | string> = process.stdin): Promise<number> => {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stdout.write(`${auditUsage}\n`);
    return 2;
  }
  const subcommand = subcommands[name];
  if (!subcommand) throw new UsageError(`unknown audit subcommand ${JSON.stringify(name)}`);
  return subcommand(rest, input);
};
