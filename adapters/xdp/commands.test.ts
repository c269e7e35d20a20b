import { describe, expect, it } from "vitest";
import { runCommand } from "./commands.ts";

describe("runCommand", () => {
  it("resolves with the exit code and both streams, never rejecting", async () => {
    expect(await runCommand("sh", ["-c", "echo out; echo err >&2; exit 3"])).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("reports a missing binary as 127, like a shell", async () => {
    const result = await runCommand("/nonexistent/bpftool", ["version"]);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toMatch(/command not found/);
  });

  it("reports death by signal n as 128 + n", async () => {
    expect((await runCommand("sh", ["-c", "kill -TERM $$"])).exitCode).toBe(128 + 15);
  });

  it("feeds input to stdin and shows it in the command line for messages", async () => {
    const result = await runCommand("cat", [], { input: "map dump pinned /x\n" });
    expect(result.stdout).toBe("map dump pinned /x\n");
    expect(result.command).toContain("map dump pinned /x");
  });
});
