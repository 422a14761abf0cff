#!/usr/bin/env bash
# What the Docker image does, without Docker (this machine kind has no engine): install
# requirements.lock with --require-hashes into a fresh venv, then start `serve` with the
# image's environment (Dockerfile, runtime stage: DEBUG=0).
#   1. without SECRET_KEY / FIELD_ENCRYPTION_KEY it must refuse to start, saying what to set;
#   2. with them (and ALLOWED_HOSTS) it must serve /v1/health and stop cleanly on SIGTERM.
# Usage: deploy/check-production-install.sh [python]   (run from the repository root, after `make proto`)
set -euo pipefail
PY="${1:-python3.11}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=""

"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r requirements.lock 2>&1 \
  | grep -v "^WARNING: Location" || true
"$work/venv/bin/pip" check >/dev/null   # the lock is complete: every dependency pinned in it

# The runtime stage's ENV (Dockerfile), on free ports and a throwaway SQLite file.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
image_env=(env -i PATH="$work/venv/bin:/usr/bin:/bin" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 DEBUG=0
  HTTP_PORT="$(free_port)" PORT="$(free_port)" METRICS_PORT="$(free_port)" DATABASE_URL="sqlite:///$work/db.sqlite3")
http_port=$(printf '%s\n' "${image_env[@]}" | sed -n 's/^HTTP_PORT=//p')

if out=$("${image_env[@]}" "$work/venv/bin/python" manage.py check 2>&1); then
  echo "FAIL: DEBUG=0 started on the development SECRET_KEY / FIELD_ENCRYPTION_KEY"; exit 1
fi
grep -q "SECRET_KEY" <<<"$out" || { echo "FAIL: the refusal does not say what to set:"; echo "$out"; exit 1; }
echo "ok: DEBUG=0 refuses the development keys ($(grep -o 'set [A-Z_, ]*' <<<"$out" | head -1))"

secrets=(SECRET_KEY="$(head -c 48 /dev/urandom | base64)" FIELD_ENCRYPTION_KEY="$(head -c 48 /dev/urandom | base64)"
  ALLOWED_HOSTS=127.0.0.1)
"${image_env[@]}" "${secrets[@]}" "$work/venv/bin/python" manage.py migrate --noinput -v0
"${image_env[@]}" "${secrets[@]}" "$work/venv/bin/python" manage.py serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/v1/health" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "FAIL: /v1/health answered '$code'"; cat "$work/serve.log"; exit 1; }
kill -TERM "$pid"
wait "$pid" || { echo "FAIL: serve did not stop cleanly"; cat "$work/serve.log"; exit 1; }
pid=""
echo "ok: installed from requirements.lock with hashes; served /v1/health with DEBUG=0 and stopped cleanly"
