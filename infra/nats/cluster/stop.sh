#!/usr/bin/env bash
# Stops the nodes started by start.sh (by their pid files) and waits for them to exit.
# The stores in ./.x0/cluster/nX are kept; delete that directory to start from nothing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
state="$root/.x0/cluster"

for n in 1 2 3; do
  pidfile="$state/n$n.pid"
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "n$n (pid $pid) did not stop in 10 s; sending SIGKILL" >&2
      kill -KILL "$pid"
    fi
    echo "n$n stopped (pid $pid)"
  fi
  rm -f "$pidfile"
done
