#!/usr/bin/env bash
# Serve the web app and its queue worker together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}

$BIN/flask --app webapp worker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM

echo "Parley on http://$HOST:$PORT (worker pid $worker). Ctrl-C stops both."
# One line per request (and the inbox polls every 3 s) buries the texts the console provider prints:
# the access log is off unless PARLEY_ACCESS_LOG=1.
access_log=()
if [ "${PARLEY_ACCESS_LOG:-0}" = "1" ]; then access_log=(--access-logfile -); fi
$BIN/gunicorn --bind "$HOST:$PORT" --workers 2 --threads 4 "${access_log[@]}" 'webapp:create_app()'
