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
$BIN/gunicorn --bind "$HOST:$PORT" --workers 2 --threads 4 --access-logfile - 'webapp:create_app()'
