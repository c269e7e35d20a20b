/**
 * A UDP flood and its counter, run inside a network namespace by `veth-lab.ts` (one process
 * cannot be in two namespaces). Prints one JSON line per event on stdout.
 *
 *   send <host> <port> <pps|max> <seconds> [payloadBytes]
 *       sends for `seconds` (0: until stdin closes) at `pps` (paced against the clock) or as
 *       fast as the socket takes them; prints {"event":"ready"} once bound, then {"event":"sent",..}
 *   receive <port> [gapMs]
 *       counts datagrams on [::]:port (IPv4 too); prints {"event":"ready"}, then
 *       {"event":"resume","ns":..} for the first datagram after `gapMs` (default 5) of silence,
 *       and {"event":"count","count":..} for each "count" line read from stdin.
 *
 * Times are `process.hrtime.bigint()`: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns().
 * Exits when stdin closes.
 */
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line, (_, v) => (typeof v === "bigint" ? String(v) : v))}\n`);
const [mode, ...args] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin });
let stopping = false;
stdin.on("close", () => {
  stopping = true;
});

if (mode === "send") {
  const [host = "", portText = "", ppsText = "max", secondsText = "0", sizeText = "32"] = args;
  const port = Number(portText);
  const max = ppsText === "max";
  const pps = max ? Infinity : Number(ppsText);
  const seconds = Number(secondsText);
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  const payload = Buffer.alloc(Number(sizeText));
  let sendErrors = 0;
  // Unconnected on purpose: a connected socket receives the target's ICMP port-unreachable
  // replies as errors, which would end the flood.
  socket.on("error", () => sendErrors++);
  socket.bind(0, () => {
    print({ event: "ready" });
    const start = process.hrtime.bigint();
    let sent = 0;
    let inFlight = 0;
    const done = () => {
      const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
      print({ event: "sent", sent, sendErrors, elapsedMs });
      socket.close();
      process.exit(0);
    };
    const onSent = (error: Error | null) => {
      inFlight--;
      if (error) sendErrors++;
    };
    const tick = () => {
      const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
      if (stopping || (seconds > 0 && elapsedS >= seconds)) return done();
      // Paced: catch up to pps * elapsed. Max: keep at most 256 datagrams queued in libuv.
      const due = max ? 256 - inFlight : Math.floor(elapsedS * pps) - sent;
      for (let i = 0; i < due; i++) {
        inFlight++;
        sent++;
        socket.send(payload, port, host, onSent);
      }
      if (max) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    tick();
  });
} else if (mode === "receive") {
  const [portText = "", gapText = "5"] = args;
  const gapNs = BigInt(Math.round(Number(gapText) * 1e6));
  const socket = createSocket({ type: "udp6", ipv6Only: false });
  let count = 0;
  let last = 0n;
  socket.on("message", () => {
    const now = process.hrtime.bigint();
    count++;
    if (now - last > gapNs) print({ event: "resume", ns: now, count });
    last = now;
  });
  socket.bind(Number(portText), "::", () => print({ event: "ready" }));
  stdin.on("line", (line) => {
    if (line.trim() === "count") print({ event: "count", count });
  });
  stdin.on("close", () => {
    socket.close();
    process.exit(0);
  });
} else {
  process.stderr.write("usage: udp-flood.ts send <host> <port> <pps|max> <seconds> [bytes] | receive <port> [gapMs]\n");
  process.exit(2);
}
