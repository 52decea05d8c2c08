#!/usr/bin/env bash
# Serve the web app and its queue worker together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}

# Without a PUBLIC_BASE_URL of its own (environment or .env), the links Parley sends and the URL
# its webhooks are signed for name the address it serves at (any PORT), not the default port.
if [ -z "${PUBLIC_BASE_URL:-}" ] &&
  ! grep -Eqs '^[[:space:]]*(export[[:space:]]+)?PUBLIC_BASE_URL[[:space:]]*=' .env; then
  case "$HOST" in
    0.0.0.0 | "[::]") served_at=127.0.0.1 ;;  # every interface: this machine's own is one
    *) served_at=$HOST ;;  # a name, an IPv4 address or a bracketed IPv6 one, as gunicorn binds it
  esac
  export PUBLIC_BASE_URL="http://$served_at:$PORT"
fi

# A refused setting (PARLEY_ACCESS_LOG included; gunicorn.conf.py reads it) stops here, in one
# line, before the worker or the web server starts.
$BIN/python -c 'import sys; from webapp import StartupRefused, check_settings
try:
    check_settings()
except StartupRefused as refused:
    refused.show()
    sys.exit(1)'

# Each of the two runs in a process group of its own, so that a terminal's Ctrl-C reaches this script
# alone and it stops both gracefully: gunicorn's quick stop (the SIGINT a terminal sends every process
# of its group) can leave a threaded worker deadlocked until its 30-second grace is over.
set -m
$BIN/flask --app webapp worker &
worker=$!
echo "Parley on http://$HOST:$PORT (worker pid $worker). Ctrl-C stops both."
$BIN/gunicorn --bind "$HOST:$PORT" --workers 2 --threads 4 'webapp:create_app()' &
web=$!

stop() {
  kill -TERM "$web" 2>/dev/null || true   # answers what it is answering, then exits
  kill -INT "$worker" 2>/dev/null || true  # finishes the tasks it is running, then exits
}
trap stop INT TERM HUP EXIT
status=0
wait "$web" || status=$?  # gunicorn ended, or a signal came
stop
wait
exit "$status"
