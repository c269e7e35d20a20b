import { appendFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CommandApplied } from "../../domains/healing/index.ts";
import { generateSigningKey, Producer } from "../../streams/index.ts";
import { CommandJournal } from "./journal.ts";

describe("command journal", () => {
  let dir: string;
  let path: string;
  const node = new Producer("node-j", generateSigningKey());
  const outcome = (commandId: string) =>
    node.seal(CommandApplied, { commandId, targetNodeId: "node-j", exitCode: 0, detail: "ok", appliedAt: 1 }, "heal.node-j.outcome", { eventId: `0190a0a0-0000-8000-8000-${commandId.padStart(12, "0")}` });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "x0-journal-"));
    path = join(dir, "agent", "node-j.journal");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("remembers each command's phase across reopening, with the sealed outcome byte for byte", async () => {
    const journal = await CommandJournal.open(path);
    const sealed = outcome("1");
    await journal.begin("a", 1);
    await journal.begin("b", 1);
    await journal.done("b", sealed, 2);
    await journal.done("c", outcome("2"), 2);
    await journal.stored("c", 17, 3);
    await journal.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const again = await CommandJournal.open(path);
    expect(again.get("a")).toEqual({ phase: "begun", at: 1 });
    const b = again.get("b");
    expect(b?.phase).toBe("done");
    if (b?.phase !== "done") throw new Error("unreachable");
    expect(b.outcome.meta).toEqual(sealed.meta);
    expect(Buffer.from(b.outcome.payload).equals(Buffer.from(sealed.payload))).toBe(true);
    expect(again.get("c")).toEqual({ phase: "stored", at: 3, seq: 17 });
    expect(again.get("d")).toBeUndefined();
    await again.close();
  });

  it("ignores a line torn by a crash mid-write", async () => {
    const journal = await CommandJournal.open(path);
    await journal.done("a", outcome("1"), 1);
    await journal.close();
    await appendFile(path, '{"op":"stored","id":"a","at":2,"se');
    const again = await CommandJournal.open(path);
    expect(again.get("a")?.phase).toBe("done");
    await again.close();
  });

  it("keeps the newest commands and compacts the file when it holds far more lines than commands", async () => {
    const journal = await CommandJournal.open(path, { maxEntries: 50 });
    for (let i = 0; i < 300; i++) {
      await journal.done(`c${i}`, outcome(String(i)), i);
      await journal.stored(`c${i}`, i, i);
    }
    await journal.close();
    expect((await readFile(path, "utf8")).trim().split("\n")).toHaveLength(600);
    const again = await CommandJournal.open(path, { maxEntries: 50 });
    expect(again.size).toBe(50);
    expect(again.get("c249")).toBeUndefined();
    expect(again.get("c250")).toEqual({ phase: "stored", at: 250, seq: 250 });
    await again.close();
    expect((await readFile(path, "utf8")).trim().split("\n")).toHaveLength(50);
  });
});
