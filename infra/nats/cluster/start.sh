#!/usr/bin/env bash
# Starts the local 3-node NATS cluster (n1.conf n2.conf n3.conf) as plain background
# nats-server processes, waits until JetStream is healthy on all three, and prints the
# NATS_URL to use. Stores, logs and pid files go to ./.x0/cluster/ under the repo root.
# Stop with infra/nats/cluster/stop.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root" # store_dir in the configs is relative to the repo root

bin=${X0_NATS_SERVER:-$(command -v nats-server || true)}
[[ -z "$bin" && -x /usr/sbin/nats-server ]] && bin=/usr/sbin/nats-server
if [[ -z "$bin" ]]; then
  echo "nats-server not found: run \`npm run setup\` (Debian/Ubuntu) or set X0_NATS_SERVER to its path" >&2
  exit 1
fi

state=.x0/cluster
mkdir -p "$state"

alive() { [[ -f "$state/n$1.pid" ]] && kill -0 "$(cat "$state/n$1.pid")" 2>/dev/null; }

# GET http://127.0.0.1:<port><path> with bash alone (curl is not on every fresh machine).
http_get() {
  local port=$1 path=$2
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  cat <&3
  exec 3<&-
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Check every port first, so a conflict starts nothing.
for n in 1 2 3; do
  alive "$n" && continue
  for port in $((4221 + n)) $((6221 + n)) $((8221 + n)); do
    if port_busy "$port"; then
      echo "port $port is already in use; n$n cannot start, nothing started." >&2
      [[ $port == 4222 ]] && echo "(Debian's nats-server package runs a service there: sudo systemctl disable --now nats-server)" >&2
      exit 1
    fi
  done
done

for n in 1 2 3; do
  if alive "$n"; then
    echo "n$n already running (pid $(cat "$state/n$n.pid"))"
    continue
  fi
  nohup "$bin" -c "$here/n$n.conf" >"$state/n$n.log" 2>&1 </dev/null &
  echo $! >"$state/n$n.pid"
  echo "n$n started (pid $!, log $state/n$n.log)"
done

# Healthy means: clients accepted, routes up, JetStream meta leader elected (R3 streams can be created).
deadline=$((SECONDS + 30))
for n in 1 2 3; do
  until http_get $((8221 + n)) /healthz 2>/dev/null | grep -q '"status": *"ok"'; do
    if ! alive "$n"; then
      echo "n$n exited; last log lines:" >&2
      tail -n 20 "$state/n$n.log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      echo "n$n not healthy after 30 s; see $state/n$n.log" >&2
      exit 1
    fi
    sleep 0.2
  done
done

echo "cluster x0 is up (nats-server $("$bin" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1))"
url=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
echo "NATS_URL=$url"
echo "control plane on it: NATS_URL=$url npx x0 up --replicas 3    (stop the cluster: infra/nats/cluster/stop.sh)"
