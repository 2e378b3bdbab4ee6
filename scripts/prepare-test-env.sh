#!/usr/bin/env bash
# Installs and starts what fedgen's tests need, idempotently:
#   - the Docker engine (Debian's docker.io, API 1.41) and busybox-static for stand-in images
#   - Docker Compose v2 (2.26, from Debian trixie, unpacked as a CLI plugin, no new apt sources)
#   - the oracles: dclint (npm, pinned), compose-lint (PyPI, pinned, in a venv) and the SARIF 2.1.0
#     JSON schema (the copy Microsoft ships in @microsoft/jest-sarif, npm, pinned)
#   - the busybox stand-in image fedgen-test/busybox:1
#   - OpenSSH's server and openssl (Debian), for the remote-engine tests: each test runs its own
#     sshd on 127.0.0.1 with keys it makes, and its own TLS dockerd; nothing is started here
#   - the real-image lab: fedgen-lab/* images reproducing the official ones (scripts/lab/build.sh)
# Writes the locations it found to target/test-env.sh, which scripts/test.sh sources.
#
# On a developer's machine with a running engine it uses that engine as it is: it never restarts it
# and never touches containers it did not create. It starts dockerd only when none answers, and then
# records that it owns the daemon (FEDGEN_OWNS_DAEMON=1), which unlocks the reboot test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
oracles="$root/target/oracles"
mkdir -p "$oracles"

DCLINT_VERSION=3.1.0
COMPOSE_LINT_VERSION=0.36.2
JEST_SARIF_VERSION=1.0.0-beta.0
TEST_IMAGE=fedgen-test/busybox:1

log() { printf '[prepare] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- Docker engine ---------------------------------------------------------------------------
owns_daemon=0
if docker info >/dev/null 2>&1; then
  log "using the running Docker engine as it is"
else
  if ! command -v dockerd >/dev/null 2>&1; then
    log "installing docker.io"
    apt_install docker.io
  fi
  log "starting dockerd"
  # A larger address pool than the default 31 networks: engine tests run in parallel, and each
  # stack derives a network per provider. The command is kept so that the daemon-restart tests
  # start it again the same way.
  echo "dockerd --default-address-pool base=10.210.0.0/16,size=24" | as_root tee /run/fedgen-dockerd.cmd >/dev/null
  as_root sh -c 'setsid $(cat /run/fedgen-dockerd.cmd) >/var/log/fedgen-dockerd.log 2>&1 </dev/null & echo $! >/run/fedgen-dockerd.pid'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/fedgen-dockerd.log"; tail -20 /var/log/fedgen-dockerd.log >&2; exit 1; }
  owns_daemon=1
fi
if [ -f /run/fedgen-dockerd.pid ] && kill -0 "$(cat /run/fedgen-dockerd.pid)" 2>/dev/null; then
  owns_daemon=1   # started by this script earlier in this boot
fi

# --- busybox stand-in image --------------------------------------------------------------------
if ! docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
  if ! [ -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
    log "installing busybox-static"; apt_install busybox-static
  fi
  bb=$(command -v busybox)
  tree=$(mktemp -d)
  mkdir -p "$tree/bin" "$tree/tmp" "$tree/var/www" "$tree/etc"
  cp "$bb" "$tree/bin/busybox"
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$tree/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$tree/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$tree/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
  echo ok >"$tree/var/www/health"
  log "importing $TEST_IMAGE"
  tar -C "$tree" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$TEST_IMAGE" >/dev/null
  rm -rf "$tree"
fi

# --- the real-image lab (scripts/lab): postgres, redis, nginx, caddy, prometheus, a FastAPI app ---
# Built from Debian packages and PyPI (no image registry is reachable); cached in target/lab.
bash scripts/lab/build.sh

# --- sshd and openssl for the remote-engine tests -------------------------------------------------
# Installed only: no service is started (the tests start their own sshd on loopback, with their own
# config and keys; Debian's policy-rc.d in containers keeps apt from starting one on port 22, and
# where there is none, one is put in place for the install only).
if ! [ -x /usr/sbin/sshd ] || ! command -v openssl >/dev/null 2>&1 || ! command -v ssh >/dev/null 2>&1; then
  log "installing openssh-server, openssh-client and openssl"
  added_policy=0
  if ! [ -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d; added_policy=1
  fi
  apt_install openssh-server openssh-client openssl
  [ $added_policy = 0 ] || as_root rm -f /usr/sbin/policy-rc.d
fi
# sshd refuses to start without its privilege separation directory.
[ -d /run/sshd ] || as_root mkdir -p -m 0755 /run/sshd

# --- Docker Compose v2 -------------------------------------------------------------------------
if ! docker compose version 2>/dev/null | grep -q 'v\?2\.'; then
  log "installing Docker Compose v2 from Debian trixie (plugin only)"
  t=$(mktemp -d); mkdir -p "$t/lists/partial"
  src=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$src" ] || src=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  echo "deb $src trixie main" >"$t/sources.list"
  o="-oDir::State::Lists=$t/lists -oDir::Etc::SourceList=$t/sources.list -oDir::Etc::SourceParts=/dev/null"
  # shellcheck disable=SC2086
  as_root apt-get $o update -qq >/dev/null
  # shellcheck disable=SC2086
  (cd "$t" && apt-get $o download docker-compose >/dev/null)
  dpkg -x "$t"/docker-compose_*.deb "$t/x"
  as_root mkdir -p /usr/libexec/docker/cli-plugins /usr/local/lib/docker/cli-plugins
  as_root cp "$t/x/usr/libexec/docker/cli-plugins/docker-compose" /usr/libexec/docker/cli-plugins/
  as_root ln -sf /usr/libexec/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$t"
fi
compose_version=$(docker compose version --short 2>/dev/null || true)

# --- dclint (npm, pinned) ----------------------------------------------------------------------
if ! [ -x "$oracles/node_modules/.bin/dclint" ] || ! grep -q "\"version\": \"$DCLINT_VERSION\"" "$oracles/node_modules/dclint/package.json" 2>/dev/null; then
  if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
  log "installing dclint@$DCLINT_VERSION"
  (cd "$oracles" && [ -f package.json ] || echo '{"private":true}' >"$oracles/package.json")
  (cd "$oracles" && npm install --no-audit --no-fund --silent "dclint@$DCLINT_VERSION" >/dev/null)
fi
schema="$oracles/node_modules/dclint/schemas/compose.schema.json"
[ -f "$schema" ] || { log "no compose.schema.json inside dclint"; exit 1; }

# --- the SARIF 2.1.0 schema (npm, pinned): Microsoft's jest-sarif ships the OASIS schema -------
sarif_pkg="$oracles/node_modules/@microsoft/jest-sarif"
sarif_schema="$sarif_pkg/lib/schemas/sarif-2.1.0-rtm.5.json"
if ! [ -f "$sarif_schema" ] || ! grep -q "\"version\": \"$JEST_SARIF_VERSION\"" "$sarif_pkg/package.json" 2>/dev/null; then
  if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
  log "installing @microsoft/jest-sarif@$JEST_SARIF_VERSION (for its SARIF 2.1.0 schema)"
  (cd "$oracles" && [ -f package.json ] || echo '{"private":true}' >"$oracles/package.json")
  (cd "$oracles" && npm install --no-audit --no-fund --silent "@microsoft/jest-sarif@$JEST_SARIF_VERSION" >/dev/null)
fi
[ -f "$sarif_schema" ] || { log "no SARIF schema inside @microsoft/jest-sarif"; exit 1; }

# --- compose-lint (PyPI, pinned, venv) ---------------------------------------------------------
if ! "$oracles/venv/bin/compose-lint" --version 2>/dev/null | grep -q "$COMPOSE_LINT_VERSION"; then
  log "installing compose-lint==$COMPOSE_LINT_VERSION"
  python3 -m venv "$oracles/venv"
  "$oracles/venv/bin/pip" install -q --disable-pip-version-check "compose-lint==$COMPOSE_LINT_VERSION"
fi

cat >"$root/target/test-env.sh" <<ENV
export FEDGEN_DCLINT='$oracles/node_modules/.bin/dclint'
export FEDGEN_COMPOSE_LINT='$oracles/venv/bin/compose-lint'
export FEDGEN_COMPOSE_SCHEMA='$schema'
export FEDGEN_SARIF_SCHEMA='$sarif_schema'
export FEDGEN_TEST_IMAGE='$TEST_IMAGE'
export FEDGEN_COMPOSE_V2='$compose_version'
export FEDGEN_OWNS_DAEMON=$owns_daemon
export FEDGEN_LAB_IMAGES=1
export FEDGEN_REQUIRE_ENGINE=1
ENV
log "ready: engine $(docker version -f '{{.Server.Version}}' 2>/dev/null), compose $compose_version, dclint $DCLINT_VERSION, compose-lint $COMPOSE_LINT_VERSION, SARIF schema from jest-sarif $JEST_SARIF_VERSION, owns daemon: $owns_daemon"
