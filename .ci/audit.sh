#!/usr/bin/env bash
# The graphql-http server audit (DESIGN §2: GraphQL over HTTP passes with no warning) against
# a gateway served as in production: GATEWAY_DEBUG unset, a scratch SQLite database with the
# demo data, and the demo super admin's token on every request.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GATEWAY=$ROOT/.venv/bin/gateway
PYTHON=$ROOT/.venv/bin/python

if [ ! -x "$GATEWAY" ]; then
  echo "audit: $GATEWAY is missing; run 'make install' first" >&2
  exit 2
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "audit: node and npm are needed (node 20 or later)" >&2
  exit 2
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gateway-audit.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

unset GATEWAY_DEBUG GATEWAY_REDIS_URL GATEWAY_JWT_PUBLIC_KEY
export GATEWAY_JWT_SECRET=audit-jwt-secret-0123456789abcdef0123456789abcdef
export GATEWAY_EVENTS_SECRET=audit-events-secret-0123456789abcdef0123456789abcd
export GATEWAY_DATABASE_URL="sqlite://$SCRATCH/audit.sqlite3"
export GATEWAY_HOST=127.0.0.1
# The audit probes with `__type(name:)` queries, which the production default (no
# introspection without GATEWAY_DEBUG) refuses. Introspection alone is switched on, so
# everything else is audited exactly as production serves it.
export GATEWAY_INTROSPECTION=1
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE=http://127.0.0.1:$PORT

echo "== audit: node dependencies (.ci/audit)"
(cd .ci/audit && npm ci --no-audit --no-fund --loglevel=error)

echo "== audit: gateway on $BASE (database $SCRATCH/audit.sqlite3)"
"$GATEWAY" serve --demo --port "$PORT" >"$SCRATCH/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 120); do
  if "$PYTHON" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$BASE/healthz', timeout=1).status != 200)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "audit: the gateway exited before it was up:" >&2
    cat "$SCRATCH/server.log" >&2
    exit 1
  fi
  sleep 0.5
done
if ! "$PYTHON" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$BASE/healthz', timeout=1).status != 200)" 2>/dev/null; then
  echo "audit: the gateway did not answer /healthz within 60 s:" >&2
  cat "$SCRATCH/server.log" >&2
  exit 1
fi

# The server has migrated and seeded the demo by now; the token is minted with the same env.
TOKEN=$("$GATEWAY" token --email admin@demo.example --portal "Acme Demo" --ttl 3600)

status=0
GATEWAY_AUDIT_URL=$BASE/graphql GATEWAY_AUDIT_TOKEN=$TOKEN node .ci/audit/audit.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "audit: failed; the gateway's log follows" >&2
  tail -n 50 "$SCRATCH/server.log" >&2
fi
exit "$status"
