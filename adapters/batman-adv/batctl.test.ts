/**
 * The actuators' outcomes, against a stand-in for batctl (`$X0_BATCTL`) that answers as batctl
 * 2023.0 does, quirks included: some failures exit 0 with an "Error - " line, and a setting can
 * read back other than what was asked. The real batctl against a real batman-adv runs in the
 * User-Mode Linux lab (test/kernel/batman.test.ts).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BatmanAdv, batmanAvailability, EX_USAGE } from "./batctl.ts";
import { BatctlCommandError } from "./errors.ts";

// State: one file per setting. `hp_quirk` makes hop_penalty store the value mod 100 (a setter that does not take).
const STUB = `#!/bin/sh
S="$X0_STUB_STATE"
echo "$*" >> "$S/calls"
get() { cat "$S/$1"; }
case "$*" in
  "-v") echo "batctl stub [batman-adv: 2022.3]" ;;
  "meshif bat0 mj")
    printf '{"version":"2022.3","algo_name":"BATMAN_IV","mesh_ifname":"bat0","hard_ifname":"eth1","hard_address":"02:00:00:00:00:01","gw_bandwidth_down":%s,"gw_bandwidth_up":%s,"gw_mode":"%s","gw_sel_class":%s,"hop_penalty":%s,"orig_interval":%s,"future_setting":{"x":1}}\\n' "$(get down)" "$(get up)" "$(get gw)" "$(get sel)" "$(get hp)" "$(get oi)" ;;
  "meshif bat0 hj") printf '[{"mesh_ifname":"bat0","hard_ifname":"eth1","hard_address":"02:00:00:00:00:01","active":true,"hop_penalty":%s}%s]\\n' "$(get hp_eth1)" "$(cat "$S/extra_if" 2>/dev/null)" ;;
  "hardif eth1 hj") printf '{"mesh_ifname":"bat0","hard_ifname":"eth1","active":true,"hop_penalty":%s}\\n' "$(get hp_eth1)" ;;
  "meshif bat0 hop_penalty "*)
    if [ -f "$S/hp_quirk" ]; then echo $(( $4 % 100 )) > "$S/hp"; else echo "$4" > "$S/hp"; fi ;;
  "hardif eth1 hop_penalty "*) echo "$4" > "$S/hp_eth1" ;;
  "hardif "*" hop_penalty "*) echo "Error - invalid hardif $2: No such device" >&2; exit 1 ;;
  "meshif bat0 gw_mode off") echo off > "$S/gw" ;;
  "meshif bat0 gw_mode client") echo client > "$S/gw" ;;
  "meshif bat0 gw_mode client "*) echo client > "$S/gw"; echo "$5" > "$S/sel" ;;
  "meshif bat0 gw_mode server "*)
    echo server > "$S/gw"
    bw="$5"; down="\${bw%%/*}"; down="\${down%kbit}"; echo $(( down / 100 )) > "$S/down"
    case "$bw" in */*) up="\${bw#*/}"; up="\${up%kbit}"; echo $(( up / 100 )) > "$S/up" ;; esac ;;
  "meshif bat0 gw_mode "*) echo "Error - the supplied argument is invalid: $4" >&2; exit 1 ;;
  "meshif bat0 orig_interval "*) v=$4; [ "$v" -lt 40 ] && v=40; echo "$v" > "$S/oi" ;;
  "meshif bat0 interface add eth2") printf ',{"mesh_ifname":"bat0","hard_ifname":"eth2"}' > "$S/extra_if" ;;
  "meshif bat0 interface del eth2") rm -f "$S/extra_if" ;;
  "meshif bat0 interface "*) echo "Error - interface does not exist: $5" >&2 ;;
  "meshif bat9 "*) echo "Error - interface bat9 is not present or not a batman-adv interface" >&2; exit 1 ;;
  *) echo "Error - no valid command or debug table/JSON specified: $*" >&2; exit 1 ;;
esac
`;

describe("batman-adv actuators: outcomes as CommandApplied / CommandFailed need them", () => {
  let dir: string;
  const saved = { batctl: process.env.X0_BATCTL, state: process.env.X0_STUB_STATE };
  const bat = new BatmanAdv();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "x0-batctl-"));
    await writeFile(join(dir, "batctl"), STUB, { mode: 0o755 });
    process.env.X0_BATCTL = join(dir, "batctl");
    process.env.X0_STUB_STATE = dir;
  });
  beforeEach(async () => {
    const initial = { hp: 30, hp_eth1: 0, gw: "off", sel: 20, down: 100, up: 20, oi: 1000, calls: "" };
    for (const [name, value] of Object.entries(initial)) await writeFile(join(dir, name), value === "" ? "" : `${value}\n`);
    await rm(join(dir, "hp_quirk"), { force: true });
    await rm(join(dir, "extra_if"), { force: true });
  });
  afterAll(async () => {
    process.env.X0_BATCTL = saved.batctl;
    process.env.X0_STUB_STATE = saved.state;
    if (saved.batctl === undefined) delete process.env.X0_BATCTL;
    if (saved.state === undefined) delete process.env.X0_STUB_STATE;
    await rm(dir, { recursive: true, force: true });
  });

  it("hop_penalty, mesh-wide and per hard interface: applied with before -> after", async () => {
    expect(await bat.apply({ kind: "hop-penalty", value: 200 })).toEqual({ exitCode: 0, detail: "hop_penalty 30 -> 200 on bat0", stderr: "" });
    expect(await bat.apply({ kind: "hop-penalty", hardIf: "eth1", value: 60 })).toEqual({ exitCode: 0, detail: "hop_penalty 0 -> 60 on eth1", stderr: "" });
  });

  it("a batctl failure carries its exit code and stderr; an unknown hard interface is batctl's own error", async () => {
    const outcome = await bat.setHopPenalty(60, "mesh9");
    expect(outcome).toMatchObject({ exitCode: 1, stderr: "Error - invalid hardif mesh9: No such device" });
    expect(outcome.detail).toMatch(/batctl hardif mesh9 hop_penalty 60$/);
  });

  it("a setting that batctl accepted (exit 0) but that reads back otherwise is a failure", async () => {
    await writeFile(join(dir, "hp_quirk"), "");
    expect(await bat.setHopPenalty(150)).toMatchObject({ exitCode: 1, stderr: "batctl exited 0 but hop_penalty on bat0 reads 50 afterwards" });
    expect(await bat.setHopPenalty(300)).toMatchObject({ exitCode: 65, stderr: "hop_penalty must be an integer from 0 to 255, got 300" });
    expect(await bat.setOrigInterval(10)).toMatchObject({ exitCode: 1, stderr: "batctl exited 0 but orig_interval on bat0 reads 40 afterwards" });
    expect(await bat.setOrigInterval(200)).toMatchObject({ exitCode: 0, detail: "orig_interval 40 -> 200 ms on bat0" });
  });

  it("an 'Error - ' line with exit 0 (batctl's interface add/del) is a failure with exit code 1", async () => {
    expect(await bat.addInterface("nosuch")).toMatchObject({ exitCode: 1, stderr: "Error - interface does not exist: nosuch" });
    expect(await bat.addInterface("eth2")).toEqual({ exitCode: 0, detail: "added eth2 to bat0", stderr: "" });
    expect((await bat.hardInterfaces()).rows.map((r) => r.hard_ifname)).toEqual(["eth1", "eth2"]);
    expect(await bat.removeInterface("eth2")).toEqual({ exitCode: 0, detail: "removed eth2 from bat0", stderr: "" });
  });

  it("gw_mode: client with a selection class, server with bandwidths in kbit/s (kept in 100 kbit/s units), off", async () => {
    expect(await bat.apply({ kind: "gateway", mode: "client", selClass: 50 })).toEqual({ exitCode: 0, detail: "gw_mode client 50 on bat0", stderr: "" });
    expect(await bat.apply({ kind: "gateway", mode: "server", downKbps: 50_000, upKbps: 10_000 })).toEqual({
      exitCode: 0,
      detail: "gw_mode server 50000kbit/10000kbit on bat0",
      stderr: "",
    });
    expect(await bat.settings()).toMatchObject({ gw_mode: "server", gw_bandwidth_down: 500, gw_bandwidth_up: 100 });
    // An upload alone keeps the advertised download.
    expect(await bat.apply({ kind: "gateway", mode: "server", upKbps: 2_000 })).toMatchObject({ exitCode: 0, detail: "gw_mode server 50000kbit/2000kbit on bat0" });
    expect(await bat.apply({ kind: "gateway", mode: "off" })).toMatchObject({ exitCode: 0, detail: "gw_mode off on bat0" });
  });

  it("refuses what is not a batman-adv action with 64, as the XDP adapter refuses what is not its", async () => {
    expect(await bat.apply({ kind: "quarantine", source: { kind: "mac", mac: "02:00:00:00:00:09" } })).toEqual({
      exitCode: EX_USAGE,
      detail: "",
      stderr: "quarantine is not a batman-adv action",
    });
  });

  it("queries of a missing mesh interface fail with batctl's words; availability says why", async () => {
    const missing = new BatmanAdv({ meshIf: "bat9" });
    await expect(missing.originators()).rejects.toThrow(BatctlCommandError);
    await expect(missing.originators()).rejects.toThrow(/bat9 is not present or not a batman-adv interface/);
    expect(await batmanAvailability({ meshIf: "bat9" })).toMatchObject({ available: false, reason: expect.stringMatching(/bat9 is not present/) });
    expect(await batmanAvailability()).toMatchObject({ available: true, settings: { algo_name: "BATMAN_IV", hop_penalty: 30 } });
  });

  it("without batctl at all, an actuator fails with 127 and says so", async () => {
    process.env.X0_BATCTL = join(dir, "no-such-batctl");
    try {
      expect(await bat.setHopPenalty(40)).toMatchObject({ exitCode: 127, stderr: expect.stringMatching(/command not found/) });
      expect(await batmanAvailability()).toMatchObject({ available: false, reason: expect.stringMatching(/batctl does not run/) });
    } finally {
      process.env.X0_BATCTL = join(dir, "batctl");
    }
  });
});
