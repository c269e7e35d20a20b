import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const X0 = resolve(import.meta.dirname, "../../adapters/cli/x0.js");

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `x0 ...` as a user would, in its own process, with `stdin` piped in. */
const x0 = (args: string[], stdin = ""): Promise<Finished> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [X0, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
    // A command that fails before reading stdin closes it; that is not this test's failure.
    child.stdin.on("error", () => {});
    child.stdin.end(stdin);
  });

/** Runs `x0` once per case, three at a time (the machine has two cores and other work). */
const x0All = async (cases: readonly (readonly [string[], string])[]): Promise<Finished[]> => {
  const results: Finished[] = [];
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < cases.length; n = next++) results[n] = await x0(...cases[n]!);
  };
  await Promise.all([worker(), worker(), worker()]);
  return results;
};

// RFC 9162 2.1 written out here, independently of domains/audit.
const sha256 = (...parts: Uint8Array[]) => new Uint8Array(createHash("sha256").update(Buffer.concat(parts)).digest());
const k = (n: number) => 2 ** Math.floor(Math.log2(n - 1));
const MTH = (D: readonly Uint8Array[]): Uint8Array =>
  D.length === 0
    ? sha256()
    : D.length === 1
      ? sha256(Uint8Array.of(0), D[0]!)
      : sha256(Uint8Array.of(1), MTH(D.slice(0, k(D.length))), MTH(D.slice(k(D.length))));
const PATH = (m: number, D: readonly Uint8Array[]): Uint8Array[] => {
  if (D.length <= 1) return [];
  const s = k(D.length);
  return m < s ? [...PATH(m, D.slice(0, s)), MTH(D.slice(s))] : [...PATH(m - s, D.slice(s)), MTH(D.slice(0, s))];
};
const SUBPROOF = (m: number, D: readonly Uint8Array[], b: boolean): Uint8Array[] => {
  if (m === D.length) return b ? [] : [MTH(D)];
  const s = k(D.length);
  return m <= s ? [...SUBPROOF(m, D.slice(0, s), b), MTH(D.slice(s))] : [...SUBPROOF(m - s, D.slice(s), false), MTH(D.slice(0, s))];
};

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const lines = (hashes: readonly Uint8Array[]) => hashes.map((h) => `${hex(h)}\n`).join("");

// RFC 6962's test leaves; the first is empty, so its line is empty.
const LEAVES_HEX = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const D = LEAVES_HEX.map((h) => new Uint8Array(Buffer.from(h, "hex")));
const stdinOf = (size: number) => LEAVES_HEX.slice(0, size).map((h) => `${h}\n`).join("");

// Each process starts the whole CLI under tsx (seconds on a loaded machine), so the runs of a
// test go in parallel and cover the wiring; domains/audit/merkle.test.ts covers every proof.
describe("x0 audit merkle (real processes, leaves on stdin)", { timeout: 180_000 }, () => {
  it("root: prints the RFC 9162 root; the last newline is optional, CRLF and upper case are accepted, an empty line is an empty leaf", async () => {
    const cases: [string, Uint8Array[]][] = [
      [stdinOf(0), []],
      [stdinOf(3), D.slice(0, 3)],
      [stdinOf(7), D.slice(0, 7)],
      [stdinOf(8), D],
      ["\n", [new Uint8Array(0)]],
      ["00\r\n10\n2021\n3031\n40414243", D.slice(1, 6)],
      ["00\n10\n2021\n3031\n40414243".toUpperCase(), D.slice(1, 6)],
    ];
    const runs = await x0All(cases.map(([stdin]) => [["audit", "merkle", "root"], stdin] as const));
    runs.forEach((run, n) => {
      const [stdin, leaves] = cases[n]!;
      expect(run.stderr, JSON.stringify(stdin)).toBe("");
      expect(run.code).toBe(0);
      expect(run.stdout, JSON.stringify(stdin)).toBe(`${hex(MTH(leaves))}\n`);
    });
    // Certificate Transparency's pinned root for all eight test leaves, also recomputed above.
    expect(runs[3]!.stdout).toBe("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n");
  });

  it("inclusion --index I and consistency --from M: print PATH(I, D[n]) and PROOF(M, D[n]), one hash per line", async () => {
    const tree = D.slice(0, 7);
    const cases: [string[], string, Uint8Array[]][] = [
      ...[0, 3, 6].map((i): [string[], string, Uint8Array[]] => [["inclusion", "--index", String(i)], stdinOf(7), PATH(i, tree)]),
      [["inclusion", "--index", "0"], stdinOf(1), []],
      ...[3, 4, 7].map((m): [string[], string, Uint8Array[]] => [["consistency", "--from", String(m)], stdinOf(7), SUBPROOF(m, tree, true)]),
    ];
    const runs = await x0All(cases.map(([args, stdin]) => [["audit", "merkle", ...args], stdin] as const));
    runs.forEach((run, n) => {
      const [args, , proof] = cases[n]!;
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0);
      expect(run.stdout, args.join(" ")).toBe(lines(proof));
    });
    expect(cases.map(([, , proof]) => proof.length)).toEqual([3, 3, 2, 0, 4, 1, 0]);
  });

  it("exits 2 with a clear message on bad hex, an index out of range or a bad command line", async () => {
    const cases: [string[], string, RegExp][] = [
      [["audit", "merkle", "root"], "00\n0g\n", /stdin line 2 is not a leaf in hex.*"0g"/],
      [["audit", "merkle", "root"], "abc\n", /stdin line 1 is not a leaf in hex/],
      [["audit", "merkle", "inclusion", "--index", "7"], stdinOf(7), /leaf index 7 is out of range: the tree has 7 leaves/],
      [["audit", "merkle", "inclusion"], stdinOf(7), /merkle inclusion needs --index/],
      [["audit", "merkle", "consistency", "--from", "0"], stdinOf(7), /at least 1 leaf/],
      [["audit", "merkle", "consistency", "--from", "8"], stdinOf(7), /first tree size 8 is larger than the second, 7/],
      [["audit", "verify-everything"], "", /unknown audit subcommand "verify-everything"/],
    ];
    const runs = await x0All(cases.map(([args, stdin]) => [args, stdin] as const));
    runs.forEach((run, n) => {
      const [args, , message] = cases[n]!;
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stdout, args.join(" ")).toBe("");
      expect(run.stderr, args.join(" ")).toMatch(message);
    });
  });

  it("x0 audit alone prints its usage (exit 2); --help prints it and succeeds", async () => {
    const [bare, help] = await x0All([[["audit"], ""], [["audit", "--help"], ""]]);
    expect(bare!.code).toBe(2);
    expect(bare!.stdout).toContain("x0 audit merkle inclusion --index I");
    expect(help!.code).toBe(0);
    expect(help!.stdout).toContain("x0 audit merkle consistency --from M");
  });
});
