#!/usr/bin/env bash
# `make run`: the sandbox on 127.0.0.1:$SANDBOX_PORT (default 8765) and the web app on
# 127.0.0.1:$APP_PORT (default 8000), stopped together on Ctrl-C.
# The app is pointed at this sandbox (KITE_SANDBOX_URL) and at its own address (APP_BASE_URL, where
# Kite's login returns), whatever the environment or .env says. Both ports are checked before anything starts: a bad or
# busy one is one error line naming its variable, exit 1, and no server banner.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
SANDBOX_PORT=${SANDBOX_PORT:-8765}
APP_PORT=${APP_PORT:-8000}

port_check() {  # name value
  if ! [[ "$2" =~ ^[0-9]+$ ]] || (( 10#$2 < 1 || 10#$2 > 65535 )); then
    echo "Error: $1=$2 is not a port number (1-65535)." >&2; exit 1
  fi
  if ! "$PYTHON" -c "import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(('127.0.0.1', int(sys.argv[1])))
except OSError as e: sys.exit(e.strerror)" "$2" 2>/dev/null; then
    echo "Error: $1=$2: that port is already in use (or not yours to use); choose another, e.g. make run $1=$(( 10#$2 + 1 ))." >&2
    exit 1
  fi
}
port_check SANDBOX_PORT "$SANDBOX_PORT"
port_check APP_PORT "$APP_PORT"
if [[ "$SANDBOX_PORT" == "$APP_PORT" ]]; then
  echo "Error: SANDBOX_PORT and APP_PORT are both $APP_PORT; give them different ports." >&2; exit 1
fi
export KITE_SANDBOX_URL="http://127.0.0.1:$SANDBOX_PORT"
export APP_BASE_URL="http://127.0.0.1:$APP_PORT"

pids=()
stop() { trap - INT TERM EXIT; for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop INT TERM EXIT

"$PYTHON" manage.py runsandbox --addr 127.0.0.1 --port "$SANDBOX_PORT" &
pids+=($!)
for _ in $(seq 1 200); do
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "The sandbox did not start (see above)." >&2; exit 1; fi
  if "$PYTHON" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $SANDBOX_PORT)))"; then break; fi
  sleep 0.1
done
"$PYTHON" manage.py demo
"$PYTHON" manage.py runserver "127.0.0.1:$APP_PORT" &
pids+=($!)
"$PYTHON" manage.py runticker --web-url "http://127.0.0.1:$APP_PORT" & pids+=($!)  # Kite's ticker -> the pages
wait -n "${pids[@]}"
