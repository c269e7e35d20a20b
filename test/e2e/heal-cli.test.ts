import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Escalated, IncidentDetected, incidentSubject } from "../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { connectNats } from "../../streams/connection.ts";
import { EventStore, Producer } from "../../streams/event-store.ts";
import { generateSigningKey } from "../../streams/keys.ts";
import { runX0 as run, stopAll, waitFor, x0, type Running } from "../support/x0.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";


describe("x0 heal and x0 incidents end to end (real processes, embedded nats-server)", () => {
  let dataDir: string;
  let up: Running;
  let api: string;
  let natsUrl: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "x0-heal-e2e-"));
    up = x0(["up", "--data-dir", dataDir, "--port", "0"]);
    api = await waitFor("x0 up to print its API URL", () => /API\s+(http:\/\/\S+)/.exec(up.stdout)?.[1]).catch((error: Error) => {
      throw new Error(`${error.message}\nstdout:\n${up.stdout}\nstderr:\n${up.stderr}`);
    });
    natsUrl = /NATS_URL=(\S+)/u.exec(up.stdout)![1]!;
  }, 60_000);

  afterAll(async () => {
    // SIGINT lets `x0 up` stop its embedded nats-server too.
    await stopAll();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a command to a node with no agent is issued, times out with exit 3, and is listed as an operator command", async () => {
    const heal = await run(["heal", "hop-penalty", "--node", "node-z", "--value", "60", "--operator", "e2e", "--wait", "2", "--data-dir", dataDir]);
    expect(heal.code, heal.stderr).toBe(3);
    // First use: the operator's key is created (0600) and enrolled before the command goes out.
    expect(heal.stderr).toContain("enrolling operator-e2e");
    expect((await stat(join(dataDir, "keys", "operator-e2e.key"))).mode & 0o777).toBe(0o600);
    const commandId = /issued (op-[0-9a-f-]+) to node-z: hop-penalty 60/u.exec(heal.stdout)?.[1];
    expect(commandId, heal.stdout).toBeDefined();
    expect(heal.stdout).toContain("no outcome from node-z within 2 s");

    const listed = await run(["incidents", "commands", "--json", "--data-dir", dataDir]);
    expect(listed.code, listed.stderr).toBe(0);
    const commands = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({
      commandId,
      targetNodeId: "node-z",
      action: { kind: "hop-penalty", value: 60 },
      issuer: "operator-e2e",
      status: "issued",
    });
    expect((commands[0]!["chain"] as { correlationId: string }[])[0]?.correlationId).toBe(commandId);

    const table = await run(["incidents", "--data-dir", dataDir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("no incidents");
    expect(table.stdout).toContain("1 operator command outside incidents");

    // The control plane's own incident projection has it too.
    const served = (await (await fetch(`${api}/commands?node=node-z`)).json()) as { commandId: string; status: string }[];
    expect(served.map((c) => [c.commandId, c.status])).toEqual([[commandId, "issued"]]);

    // The key is bound now: a second command goes out without enrolling again.
    const again = await run(["heal", "gateway", "--node", "node-z", "--mode", "off", "--operator", "e2e", "--wait", "0", "--data-dir", dataDir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("enrolling");
    expect(again.stdout).toMatch(/issued op-[0-9a-f-]+ to node-z: gateway off/u);
  }, 60_000);

  it("x0 incidents rebuilds an incident from HEAL alone: list and show with its chain", async () => {
    // A control-plane producer (as the healing loop is) enrols and appends an escalated incident.
    const nc = await connectNats({ servers: natsUrl, name: "x0-e2e-loop" });
    try {
      const store = new EventStore(nc);
      const loop = new Producer("e2e-loop", generateSigningKey());
      await store.append(loop.seal(ProducerEnrolled, { producerId: "e2e-loop", publicKey: loop.key.publicKey, role: "control-plane" }, enrolmentSubject("e2e-loop")));
      const detected = loop.seal(
        IncidentDetected,
        { incidentId: "inc-e2e", kind: "node-dead", blamed: { kind: "node", node: "node-z" }, affected: ["node-z"], affectedCount: 1, reason: "node-z is gone", detectedAt: 1_800_000_000_000 },
        incidentSubject("inc-e2e"),
        { correlationId: "inc-e2e" },
      );
      const escalated = loop.seal(Escalated, { incidentId: "inc-e2e", reason: "no policy for a dead gateway", escalatedAt: 1_800_000_001_000 }, incidentSubject("inc-e2e"), {
        correlationId: "inc-e2e",
        causationId: detected.meta.eventId,
      });
      await store.append(detected);
      await store.append(escalated);
    } finally {
      await nc.close();
    }

    const list = await run(["incidents", "--json", "--status", "escalated", "--data-dir", dataDir]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split("\n").map((line) => JSON.parse(line) as { incidentId: string; kind: string })).toEqual([
      expect.objectContaining({ incidentId: "inc-e2e", kind: "node-dead", status: "escalated", escalationReason: "no policy for a dead gateway" }),
    ]);
    const show = await run(["incidents", "show", "inc-e2e", "--json", "--data-dir", dataDir]);
    expect(show.code, show.stderr).toBe(0);
    const detail = JSON.parse(show.stdout) as { chain: { type: string; producerId: string; correlationId: string }[] };
    expect(detail.chain.map((l) => [l.type, l.producerId, l.correlationId])).toEqual([
      ["heal.IncidentDetected", "e2e-loop", "inc-e2e"],
      ["heal.Escalated", "e2e-loop", "inc-e2e"],
    ]);
    const missing = await run(["incidents", "show", "inc-nope", "--data-dir", dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no incident inc-nope");
  }, 60_000);

  it.each([
    [["hop-penalty", "--node", "n1", "--value", "300"], "--value: Expected a value less than or equal to 255, got 300"],
    [["rate-limit", "--node", "n1", "--mac", "02:00:00:00:00:01", "--pps", "10"], "rate-limit needs --burst"],
    [["quarantine", "--node", "n1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1"], "one traffic source"],
    [["hop-penalty", "--node", "n1", "--value", "3", "--mode", "off"], "--mode does not apply to hop-penalty"],
    [["reboot", "--node", "n1"], 'unknown action "reboot"'],
    [["hop-penalty", "--value", "3"], "--node is required"],
  ])("x0 heal %j is a usage error: exit 2 with the usage", async (args, mention) => {
    const result = await run(["heal", ...args, "--data-dir", dataDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(mention);
    expect(result.stderr).toContain("x0 heal <action> --node ID");
  });

  it("without a control plane, the first use says the control plane must be running and issues nothing", async () => {
    let nats: TestNats | undefined;
    try {
      nats = await startTestNats();
      const result = await run(["heal", "release", "--node", "n1", "--ip", "10.0.0.1", "--operator", "lonely", "--enrol-timeout", "2", "--data-dir", dataDir], {
        NATS_URL: nats.url,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("the control plane (x0 up) must be running");
      expect(result.stdout).not.toContain("issued");
    } finally {
      await nats?.close();
    }
  }, 60_000);
});
