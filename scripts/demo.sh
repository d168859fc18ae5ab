#!/usr/bin/env bash
# Install KBTC into .venv and run the embedded demo: dashboard, trader and exchange simulator
# in one process, SQLite in ./var, listening on 127.0.0.1:${PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
exec .venv/bin/python manage.py run_demo --port "${PORT:-8000}" "$@"
