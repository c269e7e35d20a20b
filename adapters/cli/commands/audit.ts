import { parseArgs } from "node:util";
import { CompactTree, consistencyProof, inclusionProof, leafHash, MemoryTree, MerkleInputError, toHex } from "../../../domains/audit/index.ts";
import { parseIntOption, UsageError } from "../options.ts";

export const auditUsage = `x0 audit <subcommand>
  Cross-checks the audit log's Merkle hashing (RFC 9162 section 2.1, SHA-256) with no server:

  x0 audit merkle root                     prints the root hash of the leaves on stdin
  x0 audit merkle inclusion --index I      prints the inclusion proof of leaf I (0-based), one hash per line
  x0 audit merkle consistency --from M     prints the consistency proof from the first M leaves to all of
                                           them (1 <= M <= leaves), one hash per line

  stdin holds one leaf per line: the leaf's bytes in hex (an empty line is an empty leaf;
  the newline after the last line is optional). Hashes are printed in lower-case hex.
  Exit code 2 on bad hex or an index out of range.`;

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

// `verify` and `verify-proof` (issue 5) join this table.
const subcommands: Record<string, (argv: string[], input: AsyncIterable<Buffer | string>) => Promise<number>> = { merkle };

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
