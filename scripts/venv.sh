# Sourced by demo.sh and test.sh: make .venv with Python 3.11 and install a requirements file.
# Re-installs only when the requirements files change (a stamp holds their hash).
set -euo pipefail
requirements="$1"
python_bin="${KBTC_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "KBTC needs Python 3.11 (python3.11 on PATH, or set KBTC_PYTHON)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
stamp=".venv/.kbtc-$(basename "$requirements" .txt)"
want=$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  if [ "$requirements" = "requirements-dev.txt" ]; then
    # The official Kalshi SDK (test-only) declares Python 3.13 but is pure Python and runs on 3.11.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --ignore-requires-python kalshi-python-sync==3.34.0
  fi
  echo "$want" > "$stamp"
fi
