#!/usr/bin/env bash
# A working demo on loopback: a fresh key, a server, a client with -L to a
# local web server, traffic through the tunnel, and a probe that gets nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
make -s build/postern
P=$PWD/build/postern
dir=$(mktemp -d /tmp/postern-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }

web=$(free_port); srvp=$(free_port); ent=$(free_port)
echo "hello through the postern tunnel" >"$dir/index.html"
python3 -m http.server "$web" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 & pids+=($!)
# Python takes a moment to listen: a curl before that is a refused channel, a reset.
wait_port "$web"

echo "== postern keygen -o $dir/tunnel.key"
"$P" keygen -o "$dir/tunnel.key"
echo "== postern server -l 127.0.0.1:$srvp -k tunnel.key --permit-open 127.0.0.1:$web"
"$P" server -l "127.0.0.1:$srvp" -k "$dir/tunnel.key" --permit-open "127.0.0.1:$web" \
	--reject-delay 1-2 --state-dir "$dir/state" 2>"$dir/server.log" & pids+=($!)
wait_port "$srvp"
echo "== postern client -k tunnel.key -L $ent:127.0.0.1:$web 127.0.0.1:$srvp"
"$P" client -k "$dir/tunnel.key" -L "$ent:127.0.0.1:$web" "127.0.0.1:$srvp" 2>"$dir/client.log" & pids+=($!)
wait_port "$ent"

echo "== curl http://127.0.0.1:$ent/ (through the tunnel)"
curl -sS "http://127.0.0.1:$ent/" || { sed "s/^/   server: /" "$dir/server.log"; sed "s/^/   client: /" "$dir/client.log"; exit 1; }

echo "== a probe sends garbage straight to the server:"
python3 - "$srvp" <<'PY'
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(os.urandom(64))
t = time.time()
try:
    data = s.recv(100)
    print(f"   probe got {len(data)} bytes and a FIN after {time.time()-t:.1f} s")
except ConnectionResetError:
    print(f"   probe got 0 bytes and a reset after {time.time()-t:.1f} s")
PY
sleep 0.2
echo "== server log:"
sed 's/^/   /' "$dir/server.log"
echo "== client log:"
sed 's/^/   /' "$dir/client.log"
