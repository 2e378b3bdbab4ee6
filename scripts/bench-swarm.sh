#!/usr/bin/env bash
# fedgen on a swarm against `docker stack deploy`, on the same stack file. Prints one Markdown
# table (medians) to stdout; progress goes to stderr.
#   bash scripts/bench-swarm.sh          # the stand-in stack (busybox images)
#   bash scripts/bench-swarm.sh real     # also federated-imputation on the lab's real images
# It starts a single-node swarm of its own, as the tests do (a second dockerd in a network
# namespace of its own: tests/common/swarm.rs, docs/swarm.md), and removes it at the end; the
# shared engine only lends its images.
#
# `docker stack deploy` does not wait for anything: its time is measured until every service of
# the stack runs its tasks (`docker service ls` REPLICAS n/n, which on a service with a
# healthcheck means healthy: the engine holds a task in `starting` until its first healthy probe).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-standin}
runs=${RUNS:-3}

cargo build -q --release --bin fedgen
fedgen=${CARGO_TARGET_DIR:-$PWD/target}/release/fedgen
work=$(mktemp -d)
id=bench$$
dir=/tmp/fgsw-$id exec_root=/tmp/fgx-$id netns=fgsw-$id
host=unix://$dir/docker.sock

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b-a)*1000}'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
log() { printf '[bench-swarm] %s\n' "$*" >&2; }
d() { docker -H "$host" "$@"; }

swarm_down() {
  d swarm leave --force >/dev/null 2>&1 || true
  [ -f "$dir/docker.pid" ] && kill "$(cat "$dir/docker.pid")" 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -F "$dir/docker.pid" >/dev/null 2>&1 || break; sleep 0.2; done
  for p in $(ip netns pids "$netns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  grep -E "$dir|$exec_root" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$dir" "$exec_root" "$work"
  ip netns del "$netns" 2>/dev/null || true
}
trap swarm_down EXIT

log "starting a single-node swarm of its own"
mkdir -p "$dir" "$exec_root"; echo '{}' >"$dir/daemon.json"
ip netns add "$netns"; ip netns exec "$netns" ip link set lo up
nsenter --net="/run/netns/$netns" -- dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
  --exec-root "$exec_root" --pidfile "$dir/docker.pid" -H "$host" \
  --containerd-namespace "fgsw$id" --containerd-plugins-namespace "fgsw${id}p" --cgroup-parent "fgsw-$id" \
  >"$dir/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 1 150); do d info >/dev/null 2>&1 && break; sleep 0.2; done
d swarm init --advertise-addr 127.0.0.1 >/dev/null
node=$(d info --format '{{.Swarm.NodeID}}')

echo "| measurement | fedgen apply --target swarm | docker stack deploy (CLI $(docker version -f '{{.Client.Version}}')) | ratio | notes |"
echo "|---|---|---|---|---|"

# Everything of the stack gone (services, then their networks once their tasks stopped, and the
# secrets fedgen made), so that the next run starts from nothing.
stack_rm() {
  d stack rm "$1" >/dev/null 2>&1 || true
  for _ in $(seq 1 300); do
    [ -z "$(d service ls -q --filter "label=com.docker.stack.namespace=$1")" ] &&
      [ -z "$(d network ls -q --filter "label=com.docker.stack.namespace=$1")" ] && break
    sleep 0.2
  done
}

# Until every service of the stack runs all its tasks.
wait_running() {
  while :; do
    local lines bad
    lines=$(d service ls --filter "label=com.docker.stack.namespace=$1" --format '{{.Replicas}}')
    bad=$(printf '%s\n' "$lines" | awk -F/ '$1 != $2 || $1 == ""' | wc -l)
    [ -n "$lines" ] && [ "$bad" = 0 ] && [ "$(printf '%s\n' "$lines" | wc -l)" = "$2" ] && return
    sleep 0.1
  done
}

bench_case() { # name, stack file, env file, services
  local name=$1 file=$2 env=$3 n=$4
  d node update --label-add "dev.fedgen.data.$name=true" "$node" >/dev/null
  local cold_f cold_c noop_f noop_c calls fcalls
  log "$name: cold apply (fedgen, until healthy) x$runs"
  cold_f=$(for _ in $(seq 1 "$runs"); do
    stack_rm "$name"
    a=$(now); DOCKER_HOST=$host "$fedgen" apply -f "$file" --env "$env" --timeout 900s --output json >"$work/$name.report" 2>/dev/null; b=$(now)
    ms "$a" "$b"; echo
  done | median)
  fcalls=$(tail -1 "$work/$name.report" | sed -n 's/.*"api_calls":\([0-9]*\).*"mutating_calls":\([0-9]*\).*/\1 calls, \2 changing/p')
  log "$name: no-op apply (fedgen) x$runs"
  noop_f=$(for _ in $(seq 1 "$runs"); do a=$(now); DOCKER_HOST=$host "$fedgen" apply -f "$file" --env "$env" >/dev/null 2>&1; b=$(now); ms "$a" "$b"; echo; done | median)
  calls=$(DOCKER_HOST=$host "$fedgen" apply -f "$file" --env "$env" --output json 2>/dev/null | tail -1 | sed -n 's/.*"api_calls":\([0-9]*\).*"mutating_calls":\([0-9]*\).*/\1 calls, \2 changing/p')
  stack_rm "$name"
  # docker stack deploy reads secrets from files only: the environment's are made by hand
  # first (as docs/swarm.md says), outside the timing.
  python3 - "$file" "$env" <<'PY' >"$work/$name.secrets"
import sys, yaml
stack = yaml.safe_load(open(sys.argv[1]))
env = dict(l.split("=", 1) for l in open(sys.argv[2]).read().splitlines() if "=" in l and not l.startswith("#"))
for key, src in stack.get("x-fedgen", {}).get("secrets", {}).items():
    print(stack["secrets"][key]["name"], env[src["environment"]])
PY
  while read -r sname value; do printf '%s' "$value" | d secret create "$sname" - >/dev/null; done <"$work/$name.secrets"
  log "$name: cold docker stack deploy (until every task runs) x$runs"
  cold_c=$(for _ in $(seq 1 "$runs"); do
    stack_rm "$name"
    a=$(now); d stack deploy --resolve-image never -c "$file" "$name" >/dev/null 2>&1; wait_running "$name" "$n"; b=$(now)
    ms "$a" "$b"; echo
  done | median)
  log "$name: no-op docker stack deploy x$runs"
  noop_c=$(for _ in $(seq 1 "$runs"); do a=$(now); d stack deploy --resolve-image never -c "$file" "$name" >/dev/null 2>&1; b=$(now); ms "$a" "$b"; echo; done | median)
  local sync
  sync=$(DOCKER_HOST=$host "$fedgen" diff -f "$file" --env "$env" >/dev/null 2>&1 && echo "in sync" || echo "NOT in sync")
  stack_rm "$name"
  while read -r sname _; do d secret rm "$sname" >/dev/null 2>&1 || true; done <"$work/$name.secrets"
  row "cold, $name ($n services)" "${cold_f} ms (uses: order, each gated; $fcalls)" "${cold_c} ms (all at once, no order)" "$(awk -v f="$cold_f" -v c="$cold_c" 'BEGIN {printf "%.2fx", c/f}')" "until every task runs healthy"
  row "no-op, $name" "${noop_f} ms ($calls)" "${noop_c} ms (one update call per service)" "$(awk -v f="$noop_f" -v c="$noop_c" 'BEGIN {printf "%.1fx", c/f}')" "fedgen diff after the CLI's deploy: $sync"
}

log "loading the stand-in image"
docker save fedgen-test/busybox:1 | d load -q >/dev/null
sed -e "s/^name: .*/name: standin9/" -e 's/^defaults:/defaults:\n  stop_grace_period: 2s/' tests/stacks/standin.yml >"$work/standin.yml"
"$fedgen" build "$work/standin.yml" --env tests/stacks/standin.env --target swarm -o "$work/standin.stack.yml" 2>/dev/null
bench_case standin9 "$work/standin.stack.yml" tests/stacks/standin.env 9
# The same services without `uses:` (so without order): what fedgen's gating costs by itself.
sed -e "s/^name: .*/name: flat9/" -e '/^    uses:/d' -e '/DATABASE_URL/d' "$work/standin.yml" >"$work/flat.yml"
"$fedgen" build "$work/flat.yml" --env tests/stacks/standin.env --target swarm -o "$work/flat.stack.yml" 2>/dev/null
bench_case flat9 "$work/flat.stack.yml" tests/stacks/standin.env 9

if [ "$what" = real ]; then
  log "loading the lab's images"
  docker save fedgen-lab/postgres:15 fedgen-lab/redis:7 fedgen-lab/user-service:1 fedgen-lab/service-registry:1 \
    fedgen-lab/job-processor:1 fedgen-lab/file-manager:1 fedgen-lab/monitoring:1 fedgen-lab/api-gateway:1 \
    fedgen-lab/frontend:1 | d load -q >/dev/null
  { cat env.example; printf '\nREGISTRY=fedgen-lab\nTAG=1\nPOSTGRES_IMAGE=fedgen-lab/postgres:15\nREDIS_IMAGE=fedgen-lab/redis:7\nPUBLISH_IP=0.0.0.0\n'; } >"$work/real.env"
  sed -e "s/^name: .*/name: real9/" stacks/federated-imputation.yml >"$work/real.yml"
  "$fedgen" build "$work/real.yml" --env "$work/real.env" --target swarm -o "$work/real.stack.yml" 2>/dev/null
  bench_case real9 "$work/real.stack.yml" "$work/real.env" 9
fi
