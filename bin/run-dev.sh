#!/usr/bin/env bash
# `make run`: the sandbox on 127.0.0.1:8765 and the web app on 127.0.0.1:8000, stopped together on Ctrl-C.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
SANDBOX_PORT=${SANDBOX_PORT:-8765}
APP_PORT=${APP_PORT:-8000}

pids=()
stop() { trap - INT TERM EXIT; for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop INT TERM EXIT

"$PYTHON" manage.py runsandbox --addr 127.0.0.1 --port "$SANDBOX_PORT" &
pids+=($!)
for _ in $(seq 1 100); do
  if "$PYTHON" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $SANDBOX_PORT)))"; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "The sandbox did not start (see above)." >&2; exit 1; fi
  sleep 0.1
done
"$PYTHON" manage.py demo
"$PYTHON" manage.py runserver "127.0.0.1:$APP_PORT" &
pids+=($!)
wait -n "${pids[@]}"
