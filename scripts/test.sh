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
status=0
cargo test --no-fail-fast 2>&1 | tee target/test.log || status=$?
if [ "${FEDGEN_OWNS_DAEMON:-0}" = 1 ]; then
  echo "[test] the reboot test, alone (this script started the daemon)"
  cargo test --test engine_reboot -- --ignored --test-threads=1 2>&1 | tee -a target/test.log || status=$?
else
  echo "[test] not restarting a Docker daemon this script did not start: the reboot test is skipped"
fi
# One closing line for the whole run (cargo prints one per test binary, the last being doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "fedgen: %d passed, %d failed\n", p, f }' target/test.log
exit "$status"
