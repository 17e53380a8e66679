#!/usr/bin/env bash
# `make demo` entry point. For now it runs the integrity demo; later steps grow it into
# `kastell assess` over the whole demo deployment.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/integrity.sh"
