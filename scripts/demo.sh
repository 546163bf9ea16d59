#!/bin/bash
# make demo: an LMCache-shaped controller under load, observed from outside.
#
# Starts tests/fixtures/controller.py (PULL + reply ROUTER + heartbeat ROUTER,
# asyncio, msgpack-tagged messages, LMCache's own in-process gauges on its own
# port), drives traffic at it, attaches zmqscope by pid without touching the
# controller, and prints the LMCache gauges from zmqscope's /metrics next to
# the controller's own as they rise.  Everything started here is stopped on exit.
set -euo pipefail

BUILD=${1:-build}
ZMQSCOPE="$BUILD/zmqscope"
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/zmqscope-demo.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: zmqscope needs root for BPF: run 'sudo make demo'" >&2
	exit 1
fi

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
METRICS_PORT=$(free_port)
ZS_PORT=$(free_port)
CONTROL_PORT=$(free_port)

echo "== starting the controller (pyzmq asyncio, LMCache's socket layout)"
$PY "$HERE/tests/fixtures/controller.py" --pull tcp://127.0.0.1:0 --reply tcp://127.0.0.1:0 \
	--heartbeat tcp://127.0.0.1:0 --metrics-port "$METRICS_PORT" --control-port "$CONTROL_PORT" \
	--delay BatchedKVOperationMsg=2 --delay LookupMsg=1 >"$WORK/controller.out" 2>"$WORK/controller.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q '^READY ' "$WORK/controller.out" 2>/dev/null && break; sleep 0.1; done
READY=$(sed -n 's/^READY //p' "$WORK/controller.out")
[ -n "$READY" ] || { echo "demo: the controller did not start:" >&2; cat "$WORK/controller.err" >&2; exit 1; }
field() { $PY -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$READY" "$1"; }
CPID=$(field pid)
echo "   pid $CPID; PULL $(field pull), reply $(field reply), heartbeat $(field heartbeat)"

echo "== some traffic before zmqscope attaches (it cannot see this, and says so: counts start at attach)"
$PY "$HERE/tests/fixtures/load.py" --pull "$(field pull)" --reply "$(field reply)" \
	--heartbeat "$(field heartbeat)" --pushes 300 --requests 50 --heartbeats 50 >/dev/null

echo "== attaching: $ZMQSCOPE run --pid $CPID --listen 127.0.0.1:$ZS_PORT --label demo=yes"
"$ZMQSCOPE" run --pid "$CPID" --listen "127.0.0.1:$ZS_PORT" --label demo=yes 2>"$WORK/zmqscope.err" &
PIDS+=($!)
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$ZS_PORT/metrics" 2>/dev/null | grep -q "zmqscope_target_up{pid=\"$CPID\"} 1" && break
	sleep 0.1
done

echo "== load: PUSH workers, DEALER/REQ requesters and heartbeats, in the background"
(
	for round in $(seq 20); do
		$PY "$HERE/tests/fixtures/load.py" --pull "$(field pull)" --reply "$(field reply)" \
			--heartbeat "$(field heartbeat)" --pushes 2000 --push-workers 2 --requests 200 \
			--heartbeats 200 --json-every 9 --seed "$round" >/dev/null 2>&1 || true
	done
) &
PIDS+=($!)

gauge() { grep -E "^lmcache:cache_controller_$1[{ ]" | head -1 | awk '{print $NF}'; }
printf '\n%-28s %16s %16s\n' "LMCache gauge" "zmqscope" "in-process"
for i in $(seq 6); do
	sleep 2
	ZS=$(curl -sf "http://127.0.0.1:$ZS_PORT/metrics")
	IN=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics")
	echo "-- after $((i * 2)) s"
	for g in pull_socket_message_count reply_socket_message_count pull_socket_active_requests \
		reply_socket_active_requests pull_socket_has_pending reply_socket_has_pending; do
		printf '%-28s %16s %16s\n' "$g" "$(echo "$ZS" | gauge "$g")" "$(echo "$IN" | gauge "$g")"
	done
done
echo
echo "(in-process counts include the traffic sent before the attach; zmqscope's start at zero)"

echo
echo "== handler latency by message type (zmqscope_handler_duration_seconds, _count and _sum)"
curl -sf "http://127.0.0.1:$ZS_PORT/metrics" | grep -E '^zmqscope_handler_duration_seconds_(count|sum)' | sed 's/^/   /'

echo
echo "== zmqscope status"
"$ZMQSCOPE" status | sed 's/^/   /'
echo
echo "== done; stopping the load, zmqscope and the controller"
