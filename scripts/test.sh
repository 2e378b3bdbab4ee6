#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a developer's: prepares what the tests need (Docker
# engine, Compose v2, dclint, compose-lint, the test images; see prepare-test-env.sh), then runs
# fmt, clippy and every test with cargo-nextest.
#
# Tests that need the engine or an oracle are #[ignore]d, so a plain `cargo test` lists them as
# not run; here they run (--run-ignored all) and fail, never skip, when what they need is missing.
# The swarm tests (engine_swarm) start a dockerd of their own per test, in its own network
# namespace, and load images from the shared engine: they run with the others (two at a time,
# .config/nextest.toml), never beside the daemon-restart tests.
# Tests that restart the Docker daemon run last and alone, and only when prepare-test-env.sh
# started the daemon itself (FEDGEN_OWNS_DAEMON=1). On a laptop with its own running engine they
# are left out (said so below), so this command never restarts it; in CI (CI set) that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/prepare-test-env.sh
# shellcheck disable=SC1091
source target/test-env.sh

echo "[test] cargo fmt --check"
cargo fmt --all -- --check
echo "[test] cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "[test] cargo clippy --no-default-features (the compiler alone: the README's first command)"
cargo clippy --all-targets --no-default-features --quiet -- -D warnings
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "[test] installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
status=0
echo "[test] every test but those that restart the daemon"
cargo nextest run --no-fail-fast --run-ignored all -E 'not binary(engine_reboot)' || status=$?
if [ "${FEDGEN_OWNS_DAEMON:-0}" = 1 ]; then
  echo "[test] the tests that restart the daemon, alone (this run started the daemon)"
  cargo nextest run --no-fail-fast --run-ignored only -E 'binary(engine_reboot)' --test-threads 1 || status=$?
elif [ -n "${CI:-}" ]; then
  echo "[test] FAILED: in CI the daemon must be one this run started, for the daemon-restart tests" >&2
  status=1
else
  echo "[test] not restarting a Docker daemon this run did not start: the daemon-restart tests (engine_reboot) were not run"
fi
exit "$status"
