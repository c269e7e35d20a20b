import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopAll, waitFor, x0, type Running } from "../support/x0.ts";


const startUp = async (dataDir: string) => {
  const proc = x0(["up", "--data-dir", dataDir, "--port", "0"]);
  const api = await waitFor("x0 up to print its API URL", () => /API\s+(http:\/\/\S+)/.exec(proc.stdout)?.[1], 30_000).catch((error: Error) => {
    throw new Error(`${error.message}\nstdout:\n${proc.stdout}\nstderr:\n${proc.stderr}`);
  });
  const natsUrl = /NATS_URL=(\S+)/.exec(proc.stdout)?.[1];
  return { proc, api, natsUrl };
};

const stop = async (proc: Running) => {
  proc.child.kill("SIGINT");
  return proc.exited;
};

describe("x0 CLI end to end (real processes, embedded nats-server)", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "x0-e2e-"));
  });
  afterAll(async () => {
    // SIGINT lets `x0 up` stop its embedded nats-server too.
    await stopAll();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("x0 up + x0 sim --nodes 50: /nodes lists 50 nodes, /events streams them, replay verifies them, data survives a restart", async () => {
    const { proc: upProc, api, natsUrl } = await startUp(dataDir);
    expect(natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const sim = x0(["sim", "--nodes", "50", "--interval", "500", "--seed", "7", "--data-dir", dataDir]);
    try {
      const started = Date.now();
      const nodes = await waitFor("50 nodes in GET /nodes", async () => {
        const body = (await (await fetch(`${api}/nodes`)).json()) as unknown[];
        return body.length === 50 ? body : undefined;
      }, 20_000);
      expect(nodes).toHaveLength(50);
      // Reported, not asserted: timing belongs to benchmarks, not tests.
      process.stderr.write(`e2e: 50 nodes listed ${Date.now() - started} ms after the sim started\n`);

      const abort = new AbortController();
      const response = await fetch(`${api}/events?subject=${encodeURIComponent("mesh.>")}`, { signal: abort.signal });
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const reader = response.body!.getReader();
      let text = "";
      while ((text.match(/^data: /gm) ?? []).length < 5) text += new TextDecoder().decode((await reader.read()).value);
      abort.abort();
      const first = JSON.parse(/^data: (.*)$/m.exec(text)![1]!) as { status: string; type: string; producerId: string };
      expect(first.status).toBe("verified");
      expect(first.type).toMatch(/^mesh\./);
    } finally {
      expect(await stop(sim)).toBe(0);
    }

    const replay = x0(["replay", "--stream", "MESH", "--data-dir", dataDir]);
    expect(await replay.exited).toBe(0);
    const lines = replay.stdout.trim().split("\n").map((l) => JSON.parse(l) as { status: string; type: string });
    expect(lines.length).toBeGreaterThanOrEqual(50);
    expect(lines.every((l) => l.status === "verified")).toBe(true);
    expect(lines.filter((l) => l.type === "mesh.NodeAnnounced")).toHaveLength(50);
    expect(replay.stderr).toMatch(/replayed \d+ events from MESH: \d+ verified/);

    expect(await stop(upProc)).toBe(0);
    // The next start finds the same store and the knowledge base it had.
    const again = await startUp(dataDir);
    try {
      const body = (await (await fetch(`${again.api}/nodes`)).json()) as unknown[];
      expect(body).toHaveLength(50);
    } finally {
      expect(await stop(again.proc)).toBe(0);
    }
  }, 120_000);

  it("without nats-server installed, x0 up says how to install it and exits non-zero", async () => {
    const proc = x0(["up", "--data-dir", dataDir, "--port", "0"], { X0_NATS_SERVER: "/nonexistent/nats-server" });
    expect(await proc.exited).not.toBe(0);
    expect(proc.stderr).toContain("npm run setup");
    expect(proc.stderr).toContain("apt-get install nats-server");
    expect(proc.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a bad option is a usage error with exit code 2", async () => {
    const proc = x0(["replay", "--stream", "NOPE"]);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr).toContain("--stream must be one of MESH");
  });
});
