#!/usr/bin/env bash
# The test command: installs dependencies and builds (scripts/setup.sh), then runs every test
# through ctest. Exit code is nonzero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j 2 "$@"
