#!/usr/bin/env bash
# Whole-process benchmarks of fedgen, with Docker Compose v2 as the baseline where it does the same
# job. Prints one Markdown table (medians) to stdout; progress goes to stderr.
#   bash scripts/bench.sh            # everything (prepares the engine like the tests do)
#   bash scripts/bench.sh compile    # compile only (no engine needed)
#   bash scripts/bench.sh lint       # fedgen lint against dclint and compose-lint (the oracles
#                                    # of scripts/prepare-test-env.sh), with hyperfine if present
#   bash scripts/bench.sh noop       # no-op apply only: 9 and 50 services, fedgen (full and
#                                    # fast refresh) against `docker compose up -d`, 9 runs each
# Engine benchmarks use their own project names (fedgen-bench-*) and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
runs=${RUNS:-3}

cargo build -q --release --bin fedgen --example gen_stack
target=${CARGO_TARGET_DIR:-$PWD/target}
fedgen=$target/release/fedgen
gen=$target/release/examples/gen_stack
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b-a)*1000}'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
log() { printf '[bench] %s\n' "$*" >&2; }

if [ "$what" = lint ]; then
  # The oracles' paths (FEDGEN_DCLINT, FEDGEN_COMPOSE_LINT), as the tests get them.
  if [ -z "${FEDGEN_DCLINT:-}" ]; then
    [ -f target/test-env.sh ] || bash scripts/prepare-test-env.sh >&2
    # shellcheck disable=SC1091
    . target/test-env.sh
  fi
  corpus=${FEDGEN_SHARED:-../shared}/corpus/awesome-compose
  lint_runs=${LINT_RUNS:-30}
  echo "| file | fedgen lint | dclint $("$FEDGEN_DCLINT" --version) | $("$FEDGEN_COMPOSE_LINT" --version) | dclint / fedgen (wall) | compose-lint / fedgen (wall) |"
  echo "|---|---|---|---|---|---|"
  # The largest file of the corpus by size, and the one with the most lines.
  for file in $(ls -S "$corpus"/*/compose.y*ml | head -1) $(wc -l "$corpus"/*/compose.y*ml | sort -n | grep -v ' total$' | tail -1 | awk '{print $2}'); do
    name="$(basename "$(dirname "$file")")/$(basename "$file") ($(wc -c <"$file") bytes, $(wc -l <"$file") lines)"
    log "lint: $name, $lint_runs runs each"
    if command -v hyperfine >/dev/null 2>&1; then
      hyperfine -N -i --warmup 3 --runs "$lint_runs" --export-json "$work/lint.json" \
        -n fedgen "$fedgen lint $file" -n dclint "$FEDGEN_DCLINT $file" \
        -n compose-lint "$FEDGEN_COMPOSE_LINT check $file" >&2
      # Wall-time medians, and the mean CPU time (user + system), steadier on a busy machine.
      read -r f d c fc dc cc < <(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"]; print(" ".join(["%.1f" % (x["median"] * 1000) for x in r] + ["%.1f" % ((x["user"] + x["system"]) * 1000) for x in r]))' "$work/lint.json")
    else
      each() { for _ in $(seq 1 "$lint_runs"); do a=$(now); "$@" >/dev/null 2>&1 || true; b=$(now); awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f\n", (b-a)*1000}'; done | median; }
      f=$(each "$fedgen" lint "$file"); d=$(each "$FEDGEN_DCLINT" "$file"); c=$(each "$FEDGEN_COMPOSE_LINT" check "$file")
      fc=-; dc=-; cc=-
    fi
    printf '| %s | %s ms (CPU %s ms) | %s ms (CPU %s ms) | %s ms (CPU %s ms) | %s | %s |\n' "$name" "$f" "$fc" "$d" "$dc" "$c" "$cc" \
      "$(awk -v a="$d" -v b="$f" 'BEGIN {printf "%.0fx", a/b}')" "$(awk -v a="$c" -v b="$f" 'BEGIN {printf "%.0fx", a/b}')"
  done
  exit 0
fi

echo "| measurement | fedgen | Docker Compose 2.26 | ratio | notes |"
echo "|---|---|---|---|---|"

if [ "$what" = all ] || [ "$what" = compile ]; then
  export REGISTRY=registry.example.com TAG=1.0.0 JWT_SECRET=x POSTGRES_PASSWORD=x
  for n in 10 100 1000 5000; do
    log "compile $n services"
    "$gen" "$n" >"$work/s$n.yml"
    "$fedgen" build "$work/s$n.yml" -o "$work/c$n.yml" 2>/dev/null
    times=$(for _ in $(seq 1 10); do a=$(now); "$fedgen" build "$work/s$n.yml" -o "$work/c$n.yml" 2>/dev/null; b=$(now); ms "$a" "$b"; echo; done | median)
    rss=$( { /usr/bin/time -f '%M' "$fedgen" build "$work/s$n.yml" -o "$work/c$n.yml" 2>&1 >/dev/null; } | tail -1)
    ctimes=-; ratio=-
    if docker compose version >/dev/null 2>&1; then
      ctimes=$(for _ in 1 2 3; do a=$(now); docker compose -f "$work/c$n.yml" config -q; b=$(now); ms "$a" "$b"; echo; done | median)
      ratio=$(awk -v f="$times" -v c="$ctimes" 'BEGIN {printf "%.1fx", c/(f>0?f:1)}')
      ctimes="${ctimes} ms (config -q of the output)"
    fi
    row "build, $n services (wall, process start included)" "${times} ms, peak RSS $((rss / 1024)) MiB" "$ctimes" "$ratio" "$(wc -l <"$work/c$n.yml") lines out"
  done
  for s in federated-imputation document-platform; do
    times=$(for _ in $(seq 1 10); do a=$(now); "$fedgen" build "stacks/$s.yml" --env env.example -o "$work/$s.yml" 2>/dev/null; b=$(now); ms "$a" "$b"; echo; done | median)
    row "build, bundled $s" "${times} ms" "-" "-" ""
  done
fi

if [ "$what" = all ] || [ "$what" = engine ]; then
  bash scripts/prepare-test-env.sh >&2
  set -a; . tests/stacks/standin.env; set +a
  cleanup() { docker compose -p "$1" -f "$2" down -v -t 1 >/dev/null 2>&1 || true; }
  engine_case() { # name, spec file[, health gates in a chain (1 s interval each)]
    local name=$1 spec=$2 gates=${3:-} f="$work/$1.yml"
    sed "s/^name: .*/name: fedgen-bench-$name/" "$spec" >"$work/$name.spec.yml"
    GATEWAY_PORT=29000 FRONTEND_PORT=29001 "$fedgen" build "$work/$name.spec.yml" --env tests/stacks/standin.env -o "$f" 2>/dev/null
    local p=fedgen-bench-$name cold_f cold_c noop_f noop_c calls
    log "$name: cold apply (fedgen) x$runs"
    cold_f=$(for _ in $(seq 1 "$runs"); do cleanup "$p" "$f"; a=$(now); "$fedgen" apply -f "$f" --env tests/stacks/standin.env --output json >"$work/$name.events" 2>/dev/null; b=$(now); ms "$a" "$b"; echo; done | median)
    # Where a cold apply's time goes, from fedgen's own progress events (the last run): the
    # engine's start call, start to healthy (interval and probe), and fedgen's reaction (a
    # dependency's healthy to its dependant's starting).
    local gates_note
    gates_note=$(python3 - "$work/$name.events" "$gates" <<'PY'
import json, statistics, sys
t = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "service":
        t.setdefault(e["service"], {})[e["status"]] = e["elapsed_ms"]
start = [s["waiting for health"] - s["starting"] for s in t.values() if "starting" in s and "waiting for health" in s]
health = [s["healthy"] - s["waiting for health"] for s in t.values() if "healthy" in s and "waiting for health" in s]
healthy = sorted(s["healthy"] for s in t.values() if "healthy" in s)
react = [s["starting"] - max(h for h in healthy if h <= s["starting"]) for s in t.values() if "starting" in s and any(h <= s["starting"] for h in healthy)]
chain = len(sys.argv) > 2 and sys.argv[2] != ""
if start and health:
    note = f"per gate (median): start call {statistics.median(start):.0f} ms, start to healthy {statistics.median(health):.0f} ms"
    if chain:
        note += f", fedgen's reaction (healthy to dependant starting) max {max(react, default=0)} ms"
    print(note)
PY
)
    log "$name: no-op apply (fedgen, default full refresh) x$runs"
    noop_f=$(for _ in $(seq 1 "$runs"); do a=$(now); "$fedgen" apply -f "$f" --env tests/stacks/standin.env >/dev/null 2>&1; b=$(now); ms "$a" "$b"; echo; done | median)
    calls=$("$fedgen" apply -f "$f" --env tests/stacks/standin.env --output json 2>/dev/null | tail -1 | sed -n 's/.*"api_calls":\([0-9]*\).*"mutating_calls":\([0-9]*\).*/\1 calls, \2 changing/p')
    log "$name: diff (fedgen, full and fast refresh) x$runs"
    diff_f=$(for _ in $(seq 1 "$runs"); do a=$(now); "$fedgen" diff -f "$f" --env tests/stacks/standin.env >/dev/null 2>&1 || true; b=$(now); ms "$a" "$b"; echo; done | median)
    dcalls=$("$fedgen" diff -f "$f" --env tests/stacks/standin.env --output json 2>/dev/null | sed -n 's/.*"api_calls": \([0-9]*\).*/\1/p')
    diff_fast=$(for _ in $(seq 1 "$runs"); do a=$(now); "$fedgen" diff --refresh fast -f "$f" --env tests/stacks/standin.env >/dev/null 2>&1 || true; b=$(now); ms "$a" "$b"; echo; done | median)
    dcalls_fast=$("$fedgen" diff --refresh fast -f "$f" --env tests/stacks/standin.env --output json 2>/dev/null | sed -n 's/.*"api_calls": \([0-9]*\).*/\1/p')
    cleanup "$p" "$f"
    log "$name: cold up --wait (compose) x$runs"
    cold_c=$(for _ in $(seq 1 "$runs"); do cleanup "$p" "$f"; a=$(now); docker compose -p "$p" -f "$f" up -d --wait >/dev/null 2>&1; b=$(now); ms "$a" "$b"; echo; done | median)
    log "$name: no-op up -d (compose) x$runs"
    noop_c=$(for _ in $(seq 1 "$runs"); do a=$(now); docker compose -p "$p" -f "$f" up -d >/dev/null 2>&1; b=$(now); ms "$a" "$b"; echo; done | median)
    cleanup "$p" "$f"
    local n; n=$(grep -c '^  [a-z0-9-]*:$' "$work/$name.spec.yml" || true)
    local floor=""
    if [ -n "$gates" ]; then
      floor=$(awk -v f="$cold_f" -v c="$cold_c" -v g="$gates" 'BEGIN {printf "%d x interval = %d ms: fedgen %.2fx, Compose %.2fx of it", g, g*1000, f/(g*1000), c/(g*1000)}')
    fi
    row "cold apply, $name ($n services)" "${cold_f} ms" "${cold_c} ms (up -d --wait)" "$(awk -v f="$cold_f" -v c="$cold_c" 'BEGIN {printf "%.2fx", c/f}')" "${floor:+$floor; }$gates_note"
    row "no-op apply, $name" "${noop_f} ms ($calls)" "${noop_c} ms (up -d)" "$(awk -v f="$noop_f" -v c="$noop_c" 'BEGIN {printf "%.1fx", c/f}')" "full refresh (apply's default)"
    row "diff, $name" "full: ${diff_f} ms (${dcalls} calls); fast: ${diff_fast} ms (${dcalls_fast} calls)" "-" "-" ""
  }
  engine_case standin9 tests/stacks/standin.yml
  "$gen" --chains 4 5 --standin fedgen-test/busybox:1 >"$work/chains.src.yml"
  engine_case chains4x5 "$work/chains.src.yml" 5
  "$gen" --chains 1 5 --standin fedgen-test/busybox:1 >"$work/chain1.src.yml"
  engine_case chain1x5 "$work/chain1.src.yml" 5
  # The health-gate floor on this engine: a gate costs the dependant's start, the health interval
  # (the engine's first probe runs one interval after start; API 1.41 has no start_interval) and
  # one probe. Measured with the chain services' own settings, through the docker CLI.
  log "engine floor: docker start and one probe x5"
  starts=() probes=()
  for _ in 1 2 3 4 5; do
    docker rm -f fedgen-bench-floor >/dev/null 2>&1 || true
    docker create --name fedgen-bench-floor --read-only --tmpfs /tmp --cap-drop ALL \
      --security-opt no-new-privileges:true -m 32m --cpus 0.1 fedgen-test/busybox:1 \
      httpd -f -p 8000 -h /var/www >/dev/null
    a=$(now); docker start fedgen-bench-floor >/dev/null; b=$(now); starts+=("$(ms "$a" "$b")")
    a=$(now); docker exec fedgen-bench-floor wget -q -O /dev/null http://127.0.0.1:8000/health; b=$(now); probes+=("$(ms "$a" "$b")")
  done
  docker rm -f fedgen-bench-floor >/dev/null 2>&1 || true
  start_ms=$(printf '%s\n' "${starts[@]}" | median); probe_ms=$(printf '%s\n' "${probes[@]}" | median)
  gate_ms=$((start_ms + 1000 + probe_ms))
  row "health-gate floor per gate (engine, measured)" "${gate_ms} ms = start ${start_ms} + interval 1000 + probe ${probe_ms}" "-" "-" "5 gates: $((5 * gate_ms)) ms; 5 x interval alone: 5000 ms"
  for n in 10 50; do
    "$gen" "$n" --standin fedgen-test/busybox:1 >"$work/n$n.src.yml"
    engine_case "svc$n" "$work/n$n.src.yml"
  done
fi

# No-op apply alone, the figure a pipeline pays on every run: fedgen (its default full refresh,
# and --refresh fast) on a stack fedgen applied, and `docker compose up -d` on the same stack
# brought up by Compose (each tool's no-op on its own containers: Compose recreates containers
# another tool made, as fedgen adopts Compose's without content hashes), 9 runs each, one run.
if [ "$what" = noop ]; then
  bash scripts/prepare-test-env.sh >&2
  set -a; . tests/stacks/standin.env; set +a
  noop_runs=${NOOP_RUNS:-9}
  noop_case() { # name, spec file
    local name=$1 spec=$2 f="$work/$1.yml" p=fedgen-bench-$1
    sed "s/^name: .*/name: $p/" "$spec" >"$work/$name.spec.yml"
    GATEWAY_PORT=29000 FRONTEND_PORT=29001 "$fedgen" build "$work/$name.spec.yml" --env tests/stacks/standin.env -o "$f" 2>/dev/null
    docker compose -p "$p" -f "$f" down -v -t 1 >/dev/null 2>&1 || true
    log "$name: fedgen apply, then its no-op x$noop_runs (full and fast, interleaved)"
    "$fedgen" apply -f "$f" --env tests/stacks/standin.env >/dev/null 2>&1
    local full=() fast=() comp=()
    for _ in $(seq 1 "$noop_runs"); do
      a=$(now); "$fedgen" apply -f "$f" --env tests/stacks/standin.env >/dev/null 2>&1; b=$(now); full+=("$(ms "$a" "$b")")
      a=$(now); "$fedgen" apply -f "$f" --env tests/stacks/standin.env --refresh fast >/dev/null 2>&1; b=$(now); fast+=("$(ms "$a" "$b")")
    done
    local calls_full calls_fast mf ms_ mc
    calls_full=$("$fedgen" apply -f "$f" --env tests/stacks/standin.env --output json 2>/dev/null | tail -1 | sed -n 's/.*"api_calls":\([0-9]*\).*"mutating_calls":\([0-9]*\).*/\1 calls, \2 changing/p')
    calls_fast=$("$fedgen" apply -f "$f" --env tests/stacks/standin.env --refresh fast --output json 2>/dev/null | tail -1 | sed -n 's/.*"api_calls":\([0-9]*\).*"mutating_calls":\([0-9]*\).*/\1 calls, \2 changing/p')
    docker compose -p "$p" -f "$f" down -v -t 1 >/dev/null 2>&1 || true
    log "$name: docker compose up -d --wait, then its no-op x$noop_runs"
    docker compose -p "$p" -f "$f" up -d --wait >/dev/null 2>&1
    for _ in $(seq 1 "$noop_runs"); do
      a=$(now); docker compose -p "$p" -f "$f" up -d >/dev/null 2>&1; b=$(now); comp+=("$(ms "$a" "$b")")
    done
    docker compose -p "$p" -f "$f" down -v -t 1 >/dev/null 2>&1 || true
    mf=$(printf '%s\n' "${full[@]}" | median); ms_=$(printf '%s\n' "${fast[@]}" | median); mc=$(printf '%s\n' "${comp[@]}" | median)
    local n; n=$(grep -c '^  [a-z0-9-]*:$' "$work/$name.spec.yml" || true)
    row "no-op apply, $name ($n services), full refresh (default)" "${mf} ms ($calls_full)" "${mc} ms (up -d)" "$(awk -v f="$mf" -v c="$mc" 'BEGIN {printf "%.1fx", c/f}')" "runs: ${full[*]}"
    row "no-op apply, $name, --refresh fast" "${ms_} ms ($calls_fast)" "-" "$(awk -v f="$ms_" -v c="$mc" 'BEGIN {printf "%.1fx", c/f}')" "runs: ${fast[*]}; Compose runs: ${comp[*]}"
  }
  noop_case standin9 tests/stacks/standin.yml
  "$gen" 50 --standin fedgen-test/busybox:1 >"$work/n50.src.yml"
  noop_case svc50 "$work/n50.src.yml"
fi
