#!/usr/bin/env bash
# Runs every benchmark in turn. Each script installs its anchor in its own venv and prints ratios.
set -euo pipefail
cd "$(dirname "$0")"
for script in bench_*.py; do
  echo "=== $script"
  python "$script"
done
