#!/usr/bin/env bash
# Idempotent set-up: a virtualenv in .venv with torch (CPU wheel first) and the project.
# Usage: scripts/setup.sh [test]   ("test" also installs test tools and Debian's chromium,
#                                   espeak-ng, postgresql and caddy)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)${1:+-$1}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first: 2.13.0 resolves to a local CPU wheel here; other specs pull GBs of CUDA.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
if [ "${1:-}" = "test" ]; then
  # Debian packages the tests use: chromium (voice page), espeak-ng (spoken test phrases),
  # postgresql (the shared store's tests start a throw-away server from its binaries), caddy
  # (the deploy recipe's reverse proxy: tests/test_deploy.py validates its config).
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v caddy >/dev/null 2>&1 || missing+=(caddy)  # the deploy recipe's proxy, validated
  if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
      >/dev/null) || echo "setup: could not install ${missing[*]}; tests that need them fail" >&2
  fi
fi
