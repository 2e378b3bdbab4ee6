#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a developer's: prepares what the tests need (Docker
# engine, Compose v2, dclint, compose-lint, the busybox test image; see prepare-test-env.sh), then
# runs fmt, clippy and every test. Tests that need the engine or an oracle fail, not skip, here.
#
# Tests that restart the Docker daemon (the reboot case) run last and alone, and only when this
# script started the daemon itself (FEDGEN_OWNS_DAEMON=1); on a laptop with its own running engine
# they are skipped, so this command never restarts it or touches containers it did not create.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/prepare-test-env.sh
# shellcheck disable=SC1091
source target/test-env.sh

echo "[test] cargo fmt --check"
cargo fmt --all -- --check
echo "[test] cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "[test] cargo test"
cargo test --all-targets --no-fail-fast
