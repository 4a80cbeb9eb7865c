#!/usr/bin/env bash
# A local Ray cluster on 127.0.0.1 for the engine tests: one head node with NUM_CPUS CPUs (default 2),
# its session files under DIR. Needs Ray (pip install '.[ray]').
#
#   scripts/local_ray.sh start DIR    # starts the head, prints RAY_ADDRESS=127.0.0.1:PORT
#   scripts/local_ray.sh stop DIR     # stops that head and its workers (never other Ray clusters)
#
# Workers inherit this shell's environment (PYTHONPATH included), so they import the same code.
set -euo pipefail

cmd=${1:?usage: local_ray.sh start|stop DIR}
dir=${2:?usage: local_ray.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
BIN=${BIN:-$(dirname "$(command -v python3)")}
RAY=${RAY:-$BIN/ray}

stop() {
  # `ray start --block` runs in its own process group and takes its daemons down on SIGTERM; `ray stop`
  # would kill every Ray process of the machine, other users' included.
  if [ -f "$dir/ray.pid" ]; then
    pid=$(cat "$dir/ray.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/ray.pid" "$dir/address"
    if [ -f "$dir/ray_tmp" ]; then rm -rf "$(cat "$dir/ray_tmp")" "$dir/ray_tmp"; fi
  fi
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: local_ray.sh start|stop DIR" >&2; exit 2; }
[ -x "$RAY" ] || { echo "error: $RAY not found; install Ray with pip install '.[ray]'" >&2; exit 2; }

read -r port client_port < <(python3 -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
# Ray's unix sockets must stay under 107 characters: a short temp dir, not DIR itself.
tmp=$(mktemp -d /tmp/ray-XXXXXX)
echo "$tmp" > "$dir/ray_tmp"
setsid "$RAY" start --head --block --node-ip-address=127.0.0.1 --port="$port" --num-cpus="${NUM_CPUS:-2}" \
  --ray-client-server-port="$client_port" --include-dashboard=false --disable-usage-stats --temp-dir="$tmp" >"$dir/ray.log" 2>&1 &
echo $! > "$dir/ray.pid"
for _ in $(seq 300); do
  if grep -q "Ray runtime started" "$dir/ray.log" 2>/dev/null; then
    echo "127.0.0.1:$port" > "$dir/address"
    echo "RAY_ADDRESS=127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/ray.pid")" 2>/dev/null || break
  sleep 0.2
done
echo "error: the local Ray head did not start; see $dir/ray.log" >&2
tail -20 "$dir/ray.log" >&2 || true
stop
exit 1
