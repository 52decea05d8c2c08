#!/usr/bin/env bash
# Serve the web app and its queue worker together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}

# One line per request (and the inbox polls every 3 s) buries the texts the console provider prints:
# the access log is off unless PARLEY_ACCESS_LOG is on. Spelled as Parley's other on/off variables;
# anything else stops here, before the worker starts, rather than silently meaning off.
access_log=()
switch=$(printf '%s' "${PARLEY_ACCESS_LOG:-}" | tr '[:upper:]' '[:lower:]' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
case "$switch" in
  1|true|yes|on) access_log=(--access-logfile -) ;;
  ""|0|false|no|off) ;;
  *)
    echo "PARLEY_ACCESS_LOG must be on or off: 1/true/yes/on or 0/false/no/off (any case), not '${PARLEY_ACCESS_LOG}'" >&2
    exit 2
    ;;
esac

$BIN/flask --app webapp worker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM

echo "Parley on http://$HOST:$PORT (worker pid $worker). Ctrl-C stops both."
$BIN/gunicorn --bind "$HOST:$PORT" --workers 2 --threads 4 "${access_log[@]}" 'webapp:create_app()'
