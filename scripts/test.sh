#!/usr/bin/env bash
# Install KBTC's test dependencies into .venv, then lint, type-check and run the tests.
# Uses PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) and Debian's chromium +
# chromium-driver when present; tests that need a missing one are skipped with a message
# saying so, unless KBTC_REQUIRE_SERVICES=1, where they fail. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements-dev.txt
py=.venv/bin/python

if [ "${KBTC_TEST_PROFILE:-}" = "embedded" ]; then
  unset DATABASE_URL REDIS_URL
else
  probe() { "$py" -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
  if [ -z "${DATABASE_URL:-}" ] && probe 5432; then export DATABASE_URL=postgres://postgres@127.0.0.1:5432/kbtc; fi
  if [ -z "${REDIS_URL:-}" ] && probe 6379; then export REDIS_URL=redis://127.0.0.1:6379/0; fi
fi
# Tests never touch the demo's data directory.
export KBTC_DATA_DIR="${KBTC_TEST_DATA_DIR:-$(mktemp -d)}"
echo "test profile: database=${DATABASE_URL:-embedded SQLite} redis=${REDIS_URL:-none}"

if [ "${KBTC_LINT:-1}" = "1" ]; then
  # Lint what is tracked, not whatever else lies in the folder (scratch files, other tools'
  # output); outside a git checkout, the whole folder.
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t sources < <(git ls-files -- '*.py' | grep -v '/migrations/')
  else
    sources=(.)
  fi
  .venv/bin/ruff check --force-exclude "${sources[@]}"
  .venv/bin/ruff format --check --force-exclude "${sources[@]}"
  .venv/bin/mypy "${sources[@]}"
  "$py" manage.py makemigrations --check --dry-run
fi
exec "$py" -m pytest "$@"
