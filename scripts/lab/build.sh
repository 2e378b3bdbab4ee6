#!/usr/bin/env bash
# The real-image lab: builds Docker images that reproduce official images (postgres, redis, nginx,
# caddy, prometheus, python:3.11-slim) and the bundled stacks' own services from Debian packages and
# PyPI, with no image registry. Cached and idempotent; see scripts/lab/README.md.
#   bash scripts/lab/build.sh            build what is missing or changed, verify what was built
#   LAB_VERIFY=all bash scripts/lab/build.sh   also verify the images that were already up to date
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$ROOT/scripts/lab
OUT=$ROOT/target/lab
SHARED=${LAB_SHARED:-$(cd "$ROOT/.." && pwd)/shared/lab}    # official entrypoints, used in place
NS=fedgen-lab
SUITE=bookworm
PACKAGES=python3,gosu,postgresql-15,redis-server,nginx-light,caddy,prometheus,busybox,ca-certificates,libnss-wrapper,libcap2-bin,tzdata,netbase
ROOTFS_REV=slim-1    # bump when the way the root file system is made changes
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
START=$SECONDS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fedgen-lab.XXXXXX")
RUN_ID=fedgen-lab-verify-$$
CONTAINERS=()
NETWORK=
CURRENT=    # the image being built and verified: removed if the run fails, so the next one retries
CHECKING=   # the image being verified, for messages
REPLACED=() # ids of the lab's images that a rebuild replaced: removed at the end

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }
cleanup() {
  local rc=$? i
  ((${#CONTAINERS[@]})) && docker rm -f -v "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  [[ -n $NETWORK ]] && docker network rm "$NETWORK" >/dev/null 2>&1 || true
  rm -rf "$TMP"
  ((rc == 0)) || [[ -z $CURRENT ]] || docker image rm "$CURRENT" >/dev/null 2>&1 || true
  # the images that rebuilds replaced, if now untagged (children first; one still in use stays)
  for ((i = ${#REPLACED[@]} - 1; i >= 0; i--)); do
    if [[ -n ${REPLACED[i]} && "$(docker image inspect -f '{{len .RepoTags}}' "${REPLACED[i]}" 2>/dev/null)" == 0 ]]; then
      docker image rm "${REPLACED[i]}" >/dev/null 2>&1 || true
    fi
  done
  ((rc == 0)) || printf '[lab] FAILED after %ss\n' $((SECONDS - START)) >&2
}
trap cleanup EXIT
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect -f '{{.Id}}' "$1" || true; }

# Refuses to delete a directory that still has something mounted under it (debootstrap mounts /proc).
safe_rm() {
  [[ -e $1 ]] || return 0
  if awk -v d="$(realpath "$1")/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    die "$1 still has mounts under it; unmount them first"
  fi
  rm -rf "$1"
}

# ---- 1. the Debian root file system, imported as fedgen-lab/bookworm:1 ------------------------------
rootfs() {
  local key dir mirror
  key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$BASE_PATH" "$ROOTFS_REV" | sha256sum | cut -c1-16)
  mkdir -p "$OUT/logs"
  if [[ -f $OUT/rootfs.tar && "$(cat "$OUT/rootfs.key" 2>/dev/null)" == "$key" ]]; then
    log "rootfs: cached target/lab/rootfs.tar (key $key)"
  else
    if ! command -v debootstrap >/dev/null; then
      log "rootfs: installing debootstrap"
      { apt-get update -qq && apt-get install -y -qq debootstrap; } >"$OUT/logs/apt.log" 2>&1 ||
        die "apt-get install debootstrap failed, see target/lab/logs/apt.log"
    fi
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${LAB_MIRROR:-${mirror:-http://deb.debian.org/debian}}
    dir=$OUT/rootfs.tmp
    safe_rm "$dir"
    log "rootfs: debootstrap $SUITE from $mirror (a few minutes; log in target/lab/logs/debootstrap.log)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir" "$mirror" >"$OUT/logs/debootstrap.log" 2>&1 ||
      { tail -n 20 "$OUT/logs/debootstrap.log" >&2; die "debootstrap failed, see target/lab/logs/debootstrap.log"; }
    # trimmed as debian:bookworm-slim is (its dpkg path-excludes): no docs but copyrights, man, locales
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log \
      "$dir"/usr/share/{man,groff,info,lintian,linda,locale}/*
    find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    log "rootfs: packing target/lab/rootfs.tar"
    tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$dir" -cf "$OUT/rootfs.tar.part" .
    mv "$OUT/rootfs.tar.part" "$OUT/rootfs.tar"
    echo "$key" >"$OUT/rootfs.key"
    safe_rm "$dir"
  fi
  if [[ "$(label "$NS/bookworm:1" fedgen.lab.key)" == "$key" ]]; then
    log "image $NS/bookworm:1: up to date"
    return
  fi
  log "image $NS/bookworm:1: docker import"
  REPLACED+=("$(image_id "$NS/bookworm:1" 2>/dev/null)")
  CURRENT=$NS/bookworm:1
  docker import -c "ENV PATH=$BASE_PATH" -c "LABEL fedgen.lab.key=$key" -c 'CMD ["bash"]' \
    "$OUT/rootfs.tar" "$NS/bookworm:1" >/dev/null
  docker run --rm --network none "$NS/bookworm:1" sh -c 'python3 --version && gosu --version && busybox true' >/dev/null ||
    die "$NS/bookworm:1 does not run python3, gosu and busybox"
  CURRENT=
}

# ---- 2. the FastAPI app's dependencies, installed on the host ---------------------------------------
PYDEPS=
pydeps() {
  local req=$LAB/fastapi-app/requirements.txt key
  key=$(sha256sum <"$req" | cut -c1-16)
  PYDEPS=$OUT/pydeps-$key
  if [[ -d $PYDEPS ]]; then
    log "pydeps: cached target/lab/pydeps-$key"
    return
  fi
  command -v python3.11 >/dev/null || die "python3.11 (Debian bookworm's Python) is needed on the host for pip"
  log "pydeps: pip install --target target/lab/pydeps-$key (requirements.txt)"
  rm -rf "$PYDEPS.part"
  python3.11 -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    --target "$PYDEPS.part" -r "$req" >"$OUT/logs/pip.log" 2>&1 ||
    { tail -n 20 "$OUT/logs/pip.log" >&2; die "pip install failed, see target/lab/logs/pip.log"; }
  rm -rf "$PYDEPS.part/bin"    # console scripts with the host's interpreter path: unused
  find "$OUT" -maxdepth 1 -name 'pydeps-*' ! -name "pydeps-$key*" -exec rm -rf {} +
  mv "$PYDEPS.part" "$PYDEPS"
}

# ---- 3. the images: build when the context (or the parent image) changed, then verify --------------
VERIFY_ALL=${LAB_VERIFY:-}

# build NAME:TAG DOCKERFILE VERIFY-FUNCTION [SOURCE ...]
#   a SOURCE file is copied into the context, a directory's contents are merged into it,
#   SRC=NAME copies SRC as NAME, and --build-arg=K=V is passed to docker build.
build() {
  local ref=$NS/$1 dockerfile=$2 verify=$3 ctx src parent hash log
  shift 3
  ctx=$TMP/ctx-${ref//[\/:]/-}
  mkdir -p "$ctx"
  cp "$LAB/images/$dockerfile" "$ctx/Dockerfile"
  local args=()
  for src in "$@"; do
    case $src in
    --build-arg=*) args+=(--build-arg "${src#--build-arg=}") ;;
    *=*) cp -al "${src%=*}" "$ctx/${src##*=}" 2>/dev/null || cp -a "${src%=*}" "$ctx/${src##*=}" ;;
    *) if [[ -d $src ]]; then cp -a "$src/." "$ctx/"; else cp -a "$src" "$ctx/"; fi ;;
    esac
  done
  parent=$(awk '/^FROM/ { print $2; exit }' "$ctx/Dockerfile")
  hash=$( { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$ctx" -cf - .
            printf '%s\n' "$(image_id "$parent")" "${args[@]}"; } | sha256sum | cut -c1-16)
  if [[ "$(label "$ref" fedgen.lab.hash)" == "$hash" ]]; then
    log "image $ref: up to date"
    if [[ $VERIFY_ALL == all ]]; then log "image $ref: verifying"; CHECKING=$ref; "$verify" "$ref"; fi
    return
  fi
  log "image $ref: docker build"
  REPLACED+=("$(image_id "$ref" 2>/dev/null)")
  CURRENT=$ref
  log=$OUT/logs/${ref//[\/:]/-}.log
  DOCKER_BUILDKIT=0 docker build --network none --label "fedgen.lab.hash=$hash" "${args[@]}" \
    -t "$ref" "$ctx" >"$log" 2>&1 ||
    { tail -n 25 "$log" >&2; die "docker build of $ref failed, see ${log#"$ROOT/"}"; }
  log "image $ref: verifying"
  CHECKING=$ref
  "$verify" "$ref"
  CURRENT=
}

# ---- verification helpers ---------------------------------------------------------------------------
# start NAME docker-run-args...: a detached container on the verification network, removed at exit
start() {
  local name=$1
  shift
  if [[ -z $NETWORK ]]; then
    NETWORK=$RUN_ID
    docker network create "$NETWORK" >/dev/null
  fi
  CONTAINERS+=("$name")
  docker run -d --name "$name" --network "$NETWORK" "$@" >/dev/null
}
# wait_until SECONDS command...: retries the command every half second
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
# fail MESSAGE [CONTAINER]: the container's last log lines, then the message
fail() {
  [[ -z ${2:-} ]] || docker logs --tail 15 "$2" 2>&1 | sed 's/^/    /' >&2
  die "$CHECKING: $1"
}
uid_of_pid1() { docker exec "$1" stat -c %u /proc/1; }
# http_bash CONTAINER PORT PATH: the whole answer to a GET made with bash's /dev/tcp (nginx has no wget)
http_bash() {
  docker exec "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$2 && printf 'GET $3 HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3"
}
# http_py CONTAINER PORT METHOD PATH: "STATUS BODY" of a request made with python3's urllib
http_py() {
  docker exec "$1" python3 -c '
import sys, urllib.request, urllib.error
req = urllib.request.Request("http://127.0.0.1:" + sys.argv[1] + sys.argv[3], method=sys.argv[2])
try:
    r = urllib.request.urlopen(req, timeout=5)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())' "$2" "$3" "$4"
}
no_tools() { # IMAGE TOOL...: fails if any of the tools is a command in the image
  local found
  found=$(docker run --rm --entrypoint sh "$1" -c "command -v ${*:2} || true")
  [[ -z $found ]] || fail "has $found, which the official image lacks"
}

# ---- verifications, one per image: short runs of the real thing ---------------------------------------
# (outputs are captured and compared, never piped into grep -q: an early exit of grep breaks the pipe
# of docker exec, and pipefail then reports a failure that is not one)
verify_postgres() {
  local c=$RUN_ID-postgres
  start "$c" -e POSTGRES_PASSWORD=lab "$1"
  wait_until 90 docker exec "$c" pg_isready -q -h 127.0.0.1 -U postgres || fail "pg_isready never answered" "$c"
  [[ "$(docker run --rm --network "$NETWORK" -e PGPASSWORD=lab "$1" psql -h "$c" -U postgres -tAc 'SELECT 1')" == 1 ]] ||
    fail "SELECT 1 over TCP from another container failed" "$c"
  [[ "$(uid_of_pid1 "$c")" == 999 ]] || fail "the server does not run as uid 999" "$c"
  docker stop -t 30 "$c" >/dev/null
  [[ "$(docker inspect -f '{{.State.ExitCode}}' "$c")" == 0 ]] || fail "did not stop cleanly on SIGINT" "$c"
  no_tools "$1" wget curl nc python3 busybox redis-cli
}

verify_redis() {
  local aof=$RUN_ID-redis-aof bare=$RUN_ID-redis c
  start "$aof" "$1" redis-server --port 6379 --appendonly yes
  start "$bare" "$1"
  for c in "$aof" "$bare"; do
    wait_until 30 redis_pong "$1" "$c" || fail "no PONG from another container" "$c"
    [[ "$(uid_of_pid1 "$c")" == 999 ]] || fail "redis-server does not run as uid 999" "$c"
    [[ "$(docker exec "$c" redis-cli config get protected-mode)" == *$'\n'no ]] || fail "protected mode is on" "$c"
  done
  docker exec "$aof" test -d /data/appendonlydir || fail "no append-only file in /data" "$aof"
  [[ "$(docker run --rm "$1" redis-server --version)" == Redis* ]] || fail "redis-server --version failed"
  no_tools "$1" wget curl nc python3 busybox psql
}
redis_pong() { [[ "$(docker run --rm --network "$NETWORK" "$1" redis-cli -h "$2" ping)" == PONG ]]; }

verify_nginx() {
  local c=$RUN_ID-nginx
  start "$c" "$1"
  wait_until 20 nginx_ok "$c" / || fail "GET / did not answer 200" "$c"
  [[ "$(docker top "$c" -eo pid,uid,args | awk '/worker process/ { print $2 }' | sort -u)" == 101 ]] ||
    fail "the workers do not run as nginx (uid 101)" "$c"
  no_tools "$1" wget curl nc python3 busybox
}
nginx_ok() { [[ "$(http_bash "$1" 80 "$2")" == "HTTP/1.1 200 "* ]]; }

verify_caddy() {
  local c=$RUN_ID-caddy
  start "$c" "$1"
  wait_until 20 docker exec "$c" wget -q -O /dev/null http://127.0.0.1:2019/config/ || fail "no admin API on :2019" "$c"
  [[ "$(docker exec "$c" wget -q -O - http://127.0.0.1/)" == *Caddy* ]] || fail "GET / did not serve the welcome page" "$c"
  no_tools "$1" curl bash python3
}

verify_prometheus() {
  local c=$RUN_ID-prometheus
  start "$c" "$1"
  wait_until 30 docker exec "$c" wget -q -O /dev/null http://127.0.0.1:9090/-/healthy || fail "/-/healthy did not answer" "$c"
  [[ "$(uid_of_pid1 "$c")" == 65534 ]] || fail "prometheus does not run as nobody" "$c"
  no_tools "$1" curl bash python3
}

verify_python() {
  docker run --rm "$1" python -c 'import sys; assert sys.version_info[:2] == (3, 11)' || fail "python is not 3.11"
  no_tools "$1" wget curl nc busybox
}

verify_fastapi_app() {
  local app=$RUN_ID-app db=$RUN_ID-db kv=$RUN_ID-kv peer=$RUN_ID-peer out sum
  mkdir -p "$TMP/secrets"
  printf 'lab-db-password\n' >"$TMP/secrets/db_password"
  chmod 644 "$TMP/secrets/db_password"
  start "$db" -e POSTGRES_PASSWORD_FILE=/run/secrets/db_password -v "$TMP/secrets:/run/secrets:ro" "$NS/postgres:15"
  start "$kv" "$NS/redis:7"
  start "$peer" "$1"
  wait_until 90 docker exec "$db" pg_isready -q -h 127.0.0.1 || fail "the test database never started" "$db"
  start "$app" -e PORT=8080 -e "DATABASE_URL=postgresql://postgres@$db:5432/postgres" \
    -e DB_PASSWORD_FILE=/run/secrets/db_password -e "REDIS_URL=redis://$kv:6379/0" \
    -e "PEER_URL=http://$peer:8000" -v "$TMP/secrets:/run/secrets:ro" "$1"
  wait_until 30 app_is "$app" 8080 GET /health '200 {"status":"ok"}' || fail "GET /health" "$app"
  wait_until 30 app_is "$peer" 8000 GET /health '200 {"status":"ok"}' || fail "GET /health on the default port" "$peer"
  app_is "$app" 8080 GET /check '200 {"database":"ok","redis":"ok","http":{"PEER_URL":"ok"}}' || fail "GET /check" "$app"
  app_is "$app" 8080 POST '/rows?value=lab' '200 {"inserted":"lab"}' || fail "POST /rows" "$app"
  app_is "$app" 8080 GET /rows '200 {"rows":["lab"]}' || fail "GET /rows" "$app"
  sum=$(sha256sum <"$TMP/secrets/db_password" | cut -d' ' -f1)
  app_is "$app" 8080 GET /secret/db_password "200 {\"name\":\"db_password\",\"sha256\":\"$sum\"}" || fail "GET /secret" "$app"
  app_is "$app" 8080 GET /secret/nope '404 {"detail":"no secret nope"}' || fail "GET /secret of a missing secret" "$app"
  app_is "$app" 8080 GET "/resolve/$kv" "200 {\"host\":\"$kv\",\"resolves\":true}" || fail "GET /resolve" "$app"
  app_is "$app" 8080 GET /resolve/nothing.invalid '200 {"host":"nothing.invalid","resolves":false}' || fail "GET /resolve" "$app"
  [[ "$(http_py "$app" 8080 GET /metrics)" == "200 fedgen_lab_requests_total "[0-9]* ]] || fail "GET /metrics" "$app"
  docker stop "$kv" >/dev/null
  app_is "$app" 8080 GET /check 503 || fail "GET /check with redis stopped did not answer 503" "$app"
  [[ "$(docker exec "$app" id -un):$(uid_of_pid1 "$app")" == app:1000 ]] || fail "does not run as app (uid 1000)" "$app"
}
# app_is CONTAINER PORT METHOD PATH EXPECTED: the answer is EXPECTED (or starts with it, for a bare status)
app_is() {
  local got
  got=$(http_py "$1" "$2" "$3" "$4" 2>/dev/null) || return 1
  [[ $got == "$5" || ($5 != *" "* && $got == "$5 "*) ]] || { printf '    %s %s: %s\n' "$3" "$4" "$got" >&2; return 1; }
}

# verify_service PORT: a service image of stacks/federated-imputation.yml answers /health on PORT
verify_service() {
  local c=$RUN_ID-svc
  docker rm -f -v "$c" >/dev/null 2>&1 || true
  start "$c" "$1"
  wait_until 30 app_is "$c" "$SERVICE_PORT" GET /health '200 {"status":"ok"}' || fail "GET /health on $SERVICE_PORT" "$c"
  if [[ $1 == */file-manager:* ]]; then
    docker exec "$c" sh -c 'touch /app/uploads/probe && rm /app/uploads/probe' || fail "/app/uploads is not writable" "$c"
  fi
  docker rm -f -v "$c" >/dev/null
}

verify_frontend() {
  local c=$RUN_ID-frontend
  start "$c" "$1"
  wait_until 20 nginx_ok "$c" / || fail "GET / did not answer 200" "$c"
  [[ "$(http_bash "$c" 80 /)" == *"Federated imputation"* ]] || fail "GET / did not serve the page" "$c"
}

# ---- main ---------------------------------------------------------------------------------------------
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info)"
[[ -f $SHARED/postgres-15-bookworm/docker-entrypoint.sh && -f $SHARED/redis-7.2-debian/docker-entrypoint.sh ]] ||
  die "the official entrypoint scripts are not in $SHARED (set LAB_SHARED)"
mkdir -p "$OUT/logs"
exec 9>"$OUT/.lock"    # one run at a time: runs share the cache and the image names
if ! flock -n 9; then
  log "waiting for another run of build.sh"
  flock 9
fi

rootfs
pydeps
I=$LAB/images
PG=$SHARED/postgres-15-bookworm
build postgres:15 postgres.Dockerfile verify_postgres "$I/lab-setup" "$PG/docker-entrypoint.sh" "$PG/docker-ensure-initdb.sh"
build redis:7 redis.Dockerfile verify_redis "$I/lab-setup" "$I/redis-server" "$SHARED/redis-7.2-debian/docker-entrypoint.sh"
build nginx:1 nginx.Dockerfile verify_nginx "$I/lab-setup" "$I/nginx"
build caddy:2 caddy.Dockerfile verify_caddy "$I/lab-setup" "$I/caddy"
build prometheus:2 prometheus.Dockerfile verify_prometheus "$I/lab-setup" "$I/prometheus"
build python:3.11-slim python.Dockerfile verify_python "$I/lab-setup"
build fastapi-app:1 fastapi-app.Dockerfile verify_fastapi_app "$LAB/fastapi-app/app.py" "$PYDEPS=pydeps"
for svc in user-service:8001 service-registry:8002 job-processor:8003 monitoring:8005 api-gateway:8000; do
  SERVICE_PORT=${svc#*:}
  build "${svc%:*}:1" service.Dockerfile verify_service "--build-arg=SERVICE_PORT=$SERVICE_PORT"
done
SERVICE_PORT=8004
build file-manager:1 file-manager.Dockerfile verify_service
build frontend:1 frontend.Dockerfile verify_frontend "$I/frontend"

log "done in $((SECONDS - START))s; images:"
docker images --filter "reference=$NS/*" --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | sort |
  while IFS=$'\t' read -r ref size; do log "  $(printf '%-32s %s' "$ref" "$size")"; done
