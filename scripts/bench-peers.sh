#!/usr/bin/env bash
# Side-by-side benchmark, in one run on this machine, of our CLI (referrers)
# against oras and regctl, on a registry with the Referrers API (olareg) and
# one without it (distribution, so the tag schema fallback). Writes the
# results to docs/bench-peers.md (or $BENCH_DOC) and the raw hyperfine exports
# (JSON, markdown, CSV), the time -v outputs and the registry logs to
# .oracles/bench-peers/ (git-ignored).
#
#   bash scripts/bench-peers.sh
#
# Operations, for each registry and tool:
#   attach 1 KiB    a new referrer each run (unique annotation per run)
#   list few        a subject with $FEW referrers
#   list many       a subject with $MANY referrers (seeded by benchseed)
#   list deep       the same subject, depth 2 (every referrer asked for its
#                   own; one of them is signed): `oras discover --depth 2`,
#                   `regctl artifact tree`
#   attach 1 GiB    a new blob each run; peak RSS from /usr/bin/time -v
#   copy few/many   `referrers copy` vs `oras cp -r` vs `regctl image copy
#                   --referrers` of a subject with $FEW and with $COPY_MANY
#                   referrers from the other registry into this one (olareg
#                   to distribution: API to tag schema, and back), each run
#                   into a new repository; requests counted on both registries
# plus, for each, one extra run that counts the HTTP requests in the
# registry's log (distribution's access log; olareg's trace log, which has one
# msg=ServeHTTP line per request).
#
# Each tool's runs are split in rounds, the three tools taking turns, so that
# load from other processes on the machine does not land on one tool alone.
#
# Knobs (environment): BENCH_ROUNDS (10), BENCH_RUNS_PER_ROUND (2),
# BENCH_WARMUP (1, per round), BENCH_BIG_RUNS (2: rounds of one run each),
# BENCH_DEEP_ROUNDS (5: rounds of BENCH_RUNS_PER_ROUND runs, no warm-up),
# BENCH_BIG_SIZE (1073741824), BENCH_MANY (2000), BENCH_FEW (5),
# BENCH_COPY_MANY (200), BENCH_DOC (docs/bench-peers.md). Needs root (or the packages present) for
# `apt-get install hyperfine time`. Takes about 13-16 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

rounds=${BENCH_ROUNDS:-10}
per_round=${BENCH_RUNS_PER_ROUND:-2}
warmup=${BENCH_WARMUP:-1}
runs=$((rounds * per_round))
big_runs=${BENCH_BIG_RUNS:-2}
deep_rounds=${BENCH_DEEP_ROUNDS:-5}
big_size=${BENCH_BIG_SIZE:-1073741824}
many=${BENCH_MANY:-2000}
few=${BENCH_FEW:-5}
copy_many=${BENCH_COPY_MANY:-200}
doc=${BENCH_DOC:-$root/docs/bench-peers.md}
oracles=${REFERRERS_ORACLES:-$root/.oracles}
results=$oracles/bench-peers
atype=application/vnd.example.bench
started=$SECONDS

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf '!! %s\n' "$*" >&2
  exit 1
}

# --- tools ------------------------------------------------------------------

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]} (or install them first)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
fi

log "oracles"
bash scripts/oracles.sh >&2
bin=$oracles/bin

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-peers.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building referrers and benchseed"
# static, as scripts/release.sh builds it and as scripts/oracles.sh builds the peers
CGO_ENABLED=0 go build -trimpath -o "$work/bin/referrers" ./cmd/referrers
go build -o "$work/bin/benchseed" ./internal/tools/benchseed
ours=$work/bin/referrers
seed=$work/bin/benchseed
oras=$bin/oras
regctl=$bin/regctl

go_version=$(go version)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- core cmd 2>/dev/null) ]]; then
  commit="$commit (core/ or cmd/ modified)"
fi
rm -rf "$results"
mkdir -p "$results" "$work/files" "$(dirname "$doc")"

# The tools run with a private, empty HOME: no login or config of ours leaks in.
home=$work/home
mkdir -p "$home/.docker" "$home/.config" "$home/.regctl" "$home/.run"
unset REGISTRY_AUTH_FILE REFERRERS_USERNAME REFERRERS_PASSWORD
export HOME=$home DOCKER_CONFIG=$home/.docker XDG_CONFIG_HOME=$home/.config \
  XDG_RUNTIME_DIR=$home/.run REGCTL_CONFIG=$home/.regctl/config.json

# --- registries -------------------------------------------------------------

# start_registry KIND: starts olareg or distribution on a free port; sets
# $host and $logfile, and $storage (the store's root directory) for
# distribution.
start_registry() {
  local kind=$1 attempt port dir pid
  for attempt in 1 2 3; do
    port=$("$seed" port)
    dir=$work/$kind
    rm -rf "$dir"
    mkdir -p "$dir"
    logfile=$results/$kind.log
    storage=""
    case $kind in
      olareg)
        # -v trace: olareg logs nothing per request below it.
        "$bin/olareg" serve --addr 127.0.0.1 --port "$port" --store-type mem \
          --api-delete --api-blob-delete -v trace >"$logfile" 2>&1 &
        ;;
      distribution)
        storage=$dir/storage
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  debug:
    addr: ""
EOF
        OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true \
          "$bin/registry" serve "$dir/config.yml" >"$logfile" 2>&1 &
        ;;
    esac
    pid=$!
    if "$seed" wait "127.0.0.1:$port"; then
      pids+=("$pid")
      host=127.0.0.1:$port
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "$kind did not start (attempt $attempt):"
    tail -n 5 "$logfile" >&2
  done
  die "$kind did not start"
}

# requests KIND: how many requests the registry has logged so far.
requests() {
  case $1 in
    olareg) grep -c 'msg=ServeHTTP' "$results/olareg.log" || true ;;
    distribution) grep -cE '^127\.0\.0\.1 - - \[' "$results/distribution.log" || true ;;
  esac
}

log "starting registries"
declare -A host_of storage_of
for kind in olareg distribution; do
  start_registry "$kind"
  host_of[$kind]=$host
  storage_of[$kind]=$storage
  log "$kind on $host"
done

log "pushing subjects and seeding referrers ($few and $many per registry)"
head -c 1024 /dev/urandom >"$work/files/small.bin"
seedpids=()
for kind in olareg distribution; do
  h=${host_of[$kind]}
  (
    for t in ours oras regctl; do
      "$seed" image "$h/attach-$t:v1" >/dev/null
      "$seed" image "$h/big-$t:v1" >/dev/null
    done
    "$seed" image "$h/few:v1" >/dev/null
    "$seed" image "$h/many:v1" >/dev/null
    "$seed" image "$h/copysrc:v1" >/dev/null
    "$seed" seed -n "$few" "$h/few:v1"
    "$seed" seed -n "$many" "$h/many:v1"
    # one of the many referrers is signed: the depth-2 listing must find it
    first=$("$ours" list "$h/many:v1" --plain-http --format json |
      awk 'match($0, /sha256:[0-9a-f]+/) && !d { d = substr($0, RSTART, RLENGTH) } END { print d }')
    "$ours" attach "$h/many@$first" "$work/files/small.bin:application/octet-stream" \
      --artifact-type "$atype.sig" --plain-http >/dev/null
    "$seed" seed -n "$copy_many" "$h/copysrc:v1"
  ) >"$results/seed-$kind.txt" 2>&1 &
  seedpids+=($!)
done
for p in "${seedpids[@]}"; do
  wait "$p" || {
    cat "$results"/seed-*.txt >&2
    die "seeding failed"
  }
done
cat "$results"/seed-*.txt >&2

# --- floor: the same requests with no client work ----------------------------

# For the list rows, the time a client that does nothing but the requests the
# operation needs would take: curl sending them over one connection (the
# children of a depth-2 listing 16 at a time, as ours), its output thrown away.
# The registry's time to answer is the same for every client, so floor/oras is
# the lowest ratio any client could reach; a target below it cannot be met.
declare -A floor_cmd
accept_m='Accept: application/vnd.oci.image.manifest.v1+json'
accept_i='Accept: application/vnd.oci.image.index.v1+json'
for kind in olareg distribution; do
  h=${host_of[$kind]}
  subj=$(curl -sfI -H "$accept_m" "http://$h/v2/many/manifests/v1" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
  [[ $subj == sha256:* ]] || die "no digest for $h/many:v1"
  head_cmd="curl -sf -o /dev/null -I -H '$accept_m' http://$h/v2/many/manifests/v1"
  "$ours" list "$h/many:v1" --plain-http --format json | grep -o 'sha256:[0-9a-f]\{64\}' |
    sort -u >"$work/referrers-$kind.txt"
  if [[ $kind == olareg ]]; then
    top="--next -s -o /dev/null http://$h/v2/many/referrers/$subj"
    floor_cmd[$kind:list-many]="$head_cmd $top"
    sed "s#.*#url = \"http://$h/v2/many/referrers/&\"\noutput = \"/dev/null\"#" \
      "$work/referrers-$kind.txt" >"$work/floor-deep-$kind.curl"
    floor_cmd[$kind:list-deep]="$head_cmd $top && curl -s --no-progress-meter -Z --parallel-max 16 -K $work/floor-deep-$kind.curl"
  else
    # the tag schema index (the API probe, answered 404, can go at the same
    # time and is left out), the tag list, and the one referrer's own index
    top="--next -s -o /dev/null -H '$accept_i' http://$h/v2/many/manifests/sha256-${subj#sha256:}"
    floor_cmd[$kind:list-many]="$head_cmd $top"
    sig=$(curl -s "http://$h/v2/many/tags/list" | grep -o 'sha256-[0-9a-f]\{64\}' | grep -v "${subj#sha256:}" | head -1)
    floor_cmd[$kind:list-deep]="$head_cmd $top --next -s -o /dev/null http://$h/v2/many/tags/list --next -s -o /dev/null -H '$accept_i' http://$h/v2/many/manifests/$sig"
  fi
done

# --- commands ---------------------------------------------------------------

# other KIND: the registry a copy into KIND comes from.
other() { if [[ $1 == olareg ]]; then echo distribution; else echo olareg; fi; }

# cmd TOOL OP HOST: the shell command of one run. $$ (the PID of hyperfine's
# shell, new each run) makes each attach's annotation, and so its manifest,
# unique: every run creates a new referrer for every tool. A copy goes into
# HOST, from the other registry, into a new repository each run.
cmd() {
  local tool=$1 op=$2 h=$3 repo file src
  case $op in
    attach-small) repo=attach-$tool file=small.bin ;;
    attach-big) repo=big-$tool file=big-$tool.bin ;;
    list-few) repo=few ;;
    list-many | list-deep) repo=many ;;
    copy-few | copy-many) repo=$op-$tool-\$\$ ;;
  esac
  local subject=$h/$repo:v1
  if [[ $op == copy-* ]]; then
    local kind
    for kind in olareg distribution; do
      [[ ${host_of[$kind]} == "$h" ]] && src=${host_of[$(other "$kind")]}
    done
    src=$src/copysrc:v1
    [[ $op == copy-few ]] && src=${src%/copysrc:v1}/few:v1
  fi
  case $tool:$op in
    ours:copy-*)
      echo "$ours copy --plain-http --progress never $src $subject"
      ;;
    oras:copy-*)
      echo "$oras cp -r --from-plain-http --to-plain-http $src $subject"
      ;;
    regctl:copy-*)
      echo "$regctl --host reg=${src%%/*},tls=disabled --host reg=$h,tls=disabled image copy --referrers $src $subject"
      ;;
    ours:attach-*)
      echo "$ours attach $subject $file:application/octet-stream --artifact-type $atype --annotation bench.run=ours-\$\$ --plain-http"
      ;;
    oras:attach-*)
      echo "$oras attach --plain-http --artifact-type $atype --annotation bench.run=oras-\$\$ $subject $file:application/octet-stream"
      ;;
    regctl:attach-*)
      echo "$regctl --host reg=$h,tls=disabled artifact put --subject $subject --artifact-type $atype --annotation bench.run=regctl-\$\$ -f $file -m application/octet-stream --file-title"
      ;;
    ours:list-deep)
      echo "$ours list $subject --plain-http --format json --depth 2"
      ;;
    oras:list-deep)
      echo "$oras discover --plain-http --format json --depth 2 $subject"
      ;;
    regctl:list-deep)
      echo "$regctl --host reg=$h,tls=disabled artifact tree $subject --format '{{json .}}'"
      ;;
    ours:list-*)
      echo "$ours list $subject --plain-http --format json"
      ;;
    oras:list-*)
      echo "$oras discover --plain-http --format json --depth 1 $subject"
      ;;
    regctl:list-*)
      echo "$regctl --host reg=$h,tls=disabled artifact list $subject --format '{{json .}}'"
      ;;
  esac
}

# prepare TOOL KIND: the command that gives big-TOOL.bin new content before a
# 1 GiB run, deleting the previous run's blob from the registry.
prepare() {
  local tool=$1 kind=$2 extra=""
  if [[ -n ${storage_of[$kind]} ]]; then
    extra="-storage ${storage_of[$kind]}"
  fi
  echo "$seed bigfile -size $big_size -registry ${host_of[$kind]} -repo big-$tool $extra big-$tool.bin"
}

# requests_of KIND OP: the requests an operation on KIND causes: on KIND, and
# for a copy on the registry it copies from too.
requests_of() {
  local n
  n=$(requests "$1")
  if [[ $2 == copy-* ]]; then
    n=$((n + $(requests "$(other "$1")")))
  fi
  echo "$n"
}

# count_run KIND OP TOOL: one extra run; records its requests (and for the
# 1 GiB attach its peak RSS) and checks what a list printed, and what a copy
# left at its destination (into a repository of its own: counted-TOOL).
count_run() {
  local kind=$1 op=$2 tool=$3 c before after n
  c=$(cmd "$tool" "$op" "${host_of[$kind]}")
  [[ $op == copy-* ]] && c=${c//\$\$/counted}
  if [[ $op == attach-big ]]; then
    sh -c "$(prepare "$tool" "$kind")"
  fi
  before=$(requests_of "$kind" "$op")
  if [[ $op == attach-big ]]; then
    /usr/bin/time -v -o "$results/$kind-$op-$tool.time" sh -c "$c" >"$results/$kind-$op-$tool.out"
  else
    sh -c "$c" >"$results/$kind-$op-$tool.out"
  fi
  sleep 0.3 # the registry logs a request after answering it
  after=$(requests_of "$kind" "$op")
  echo $((after - before)) >"$results/$kind-$op-$tool.requests"
  case $op in
    list-few | list-many | list-deep)
      n=$(grep -o '"bench.seq"' "$results/$kind-$op-$tool.out" | wc -l)
      local want=$few
      [[ $op == list-few ]] || want=$many
      ((n == want)) || die "$tool listed $n referrers on $kind for $op, not $want"
      if [[ $op == list-deep ]] && ! grep -q "$atype.sig" "$results/$kind-$op-$tool.out"; then
        if [[ $tool == ours ]]; then die "ours did not list the signed referrer's signature on $kind"; fi
        log "$tool did not list the signed referrer's signature on $kind"
      fi
      ;;
    copy-few | copy-many)
      local want=$few
      [[ $op == copy-many ]] && want=$copy_many
      n=$("$ours" list "${host_of[$kind]}/$op-$tool-counted:v1" --plain-http --format json | grep -o '"bench.seq"' | wc -l)
      echo "$n" >"$results/$kind-$op-$tool.listed"
      if [[ $tool == ours ]]; then
        ((n == want)) || die "ours copied $n referrers into $kind for $op, not $want"
      elif ((n != want)); then
        log "$tool's copy into $kind for $op left $n referrers, not $want"
      fi
      ;;
  esac
}

# bench KIND OP: hyperfine over the three tools in $rounds rounds (so that a
# burst of load from other processes is spread over all three rather than
# landing on whichever tool hyperfine runs at the time), the rounds' runs
# merged by benchseed stats; then the extra counting runs (after the timed
# ones, so that they see the same state: the small blobs already uploaded, the
# indexes as large as in the timed runs).
bench() {
  local kind=$1 op=$2 tool round n args=() jsons=()
  local out=$results/$kind-$op
  log "$kind: $op"
  n=$rounds
  [[ $op == attach-big ]] && n=$big_runs
  [[ $op == list-deep ]] && n=$deep_rounds
  for ((round = 1; round <= n; round++)); do
    if [[ $op == list-deep ]]; then
      args=(--runs "$per_round" --warmup 0)
    elif [[ $op == attach-big ]]; then
      args=(--runs 1 --warmup 0)
      for tool in ours oras regctl; do
        args+=(--prepare "$(prepare "$tool" "$kind")")
      done
    else
      args=(--runs "$per_round" --warmup "$warmup")
    fi
    for tool in ours oras regctl; do
      args+=(-n "$tool" "$(cmd "$tool" "$op" "${host_of[$kind]}")")
    done
    if [[ -n ${floor_cmd[$kind:$op]:-} ]]; then
      args+=(-n floor "${floor_cmd[$kind:$op]}")
    fi
    hyperfine --style basic "${args[@]}" \
      --export-json "$out.$round.json" --export-markdown "$out.$round.md" >&2
    jsons+=("$out.$round.json")
  done
  "$seed" stats "${jsons[@]}" >"$out.csv"
  for tool in ours oras regctl; do
    count_run "$kind" "$op" "$tool"
  done
  if [[ $op == attach-big ]]; then
    for tool in ours oras regctl; do
      "$seed" bigfile -clean -registry "${host_of[$kind]}" -repo "big-$tool" \
        ${storage_of[$kind]:+-storage "${storage_of[$kind]}"} "big-$tool.bin"
    done
  fi
}

ops=(attach-small list-few list-many list-deep attach-big copy-few copy-many)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# Every run starts in the files directory: oras wants relative file paths.
cd "$work/files"
for kind in olareg distribution; do
  for op in "${ops[@]}"; do
    bench "$kind" "$op"
  done
done
cd "$root"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Each attach run made a new referrer: 1 counting run + warm-ups + runs.
for kind in olareg distribution; do
  for tool in ours oras regctl; do
    for op in attach-small attach-big; do
      repo=attach-$tool want=$((1 + rounds * warmup + runs))
      if [[ $op == attach-big ]]; then
        repo=big-$tool want=$((1 + big_runs))
      fi
      n=$("$ours" list "${host_of[$kind]}/$repo:v1" --plain-http --format json | grep -o '"bench.run"' | wc -l)
      ((n == want)) || die "$kind: $tool's $op runs left $n referrers, not $want"
    done
  done
done

# --- report -----------------------------------------------------------------

# stat KIND OP TOOL FIELD: a column of hyperfine's CSV (seconds).
stat() {
  awk -F, -v t="$3" -v f="$4" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == t { print $col[f] }' "$results/$1-$2.csv"
}

# fmt_time MEDIAN MEAN STDDEV (seconds): "36.0 ms (mean 54.0 ± 48.7)" or
# "5.51 s (mean 5.51 ± 0.92)".
fmt_time() {
  awk -v md="$1" -v m="$2" -v s="$3" 'BEGIN {
    if (md >= 1) printf "%.2f s (mean %.2f ± %.2f)", md, m, s
    else printf "%.1f ms (mean %.1f ± %.1f)", md * 1000, m * 1000, s * 1000 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(a / b <= t) }'; }

rss_mib() {
  awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$results/$1-$2-$3.time"
}

# size_label BYTES: "1 GiB", "64 MiB".
size_label() {
  if (($1 % (1 << 30) == 0)); then echo "$(($1 >> 30)) GiB"; else echo "$(($1 >> 20)) MiB"; fi
}
big=$(size_label "$big_size")

label() {
  case $1 in
    attach-small) echo "attach 1 KiB" ;;
    list-few) echo "list ($few referrers)" ;;
    list-many) echo "list ($many referrers)" ;;
    list-deep) echo "list depth 2 ($many referrers, one signed)" ;;
    attach-big) echo "attach $big" ;;
    copy-few) echo "copy ($few referrers) from $(other "$kind")" ;;
    copy-many) echo "copy ($copy_many referrers) from $(other "$kind")" ;;
  esac
}

table() {
  local kind=$1 op tool target verdict q_ours q_oras q_regctl qv qt ql rss rv peer tl
  local -A md mean
  echo "| operation | ours | oras | regctl | ours/oras | ours/regctl | time target | requests ours/oras/regctl | requests target | peak RSS MiB ours/oras/regctl | RSS target |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for op in "${ops[@]}"; do
    for tool in ours oras regctl; do
      md[$tool]=$(stat "$kind" "$op" "$tool" median)
      mean[$tool]=$(stat "$kind" "$op" "$tool" mean)
    done
    case $kind:$op in
      *:list-many) target=0.5 ;;
      olareg:attach-big) target="" ;;
      distribution:list-deep) target=0.1 ;;
      distribution:attach-small) target=1.2 ;;
      *) target=0.7 ;;
    esac
    # the time target is against oras, and for a copy against the faster peer
    peer=oras tl=""
    [[ $op == copy-* ]] && tl=" × the faster peer ($peer)"
    if [[ $op == copy-* ]] && awk -v a="${md[regctl]}" -v b="${md[oras]}" 'BEGIN { exit !(a < b) }'; then
      peer=regctl tl=" × the faster peer (regctl)"
    fi
    if [[ -z $target ]]; then
      verdict="none set"
    elif le "${md[ours]}" "${md[$peer]}" "$target"; then
      verdict="≤ $target$tl: **met**"
      le "${mean[ours]}" "${mean[$peer]}" "$target" || verdict+=" (on the means: missed)"
    else
      verdict="≤ $target$tl: **missed**"
      ! le "${mean[ours]}" "${mean[$peer]}" "$target" || verdict+=" (on the means: met)"
    fi
    q_ours=$(cat "$results/$kind-$op-ours.requests")
    q_oras=$(cat "$results/$kind-$op-oras.requests")
    q_regctl=$(cat "$results/$kind-$op-regctl.requests")
    case $kind:$op in
      olareg:list-deep) qt=$((many + 2)) ql="≤ N+2 = $qt" ;;
      distribution:list-deep) qt=10 ql="≤ 10" ;;
      *) qt=$q_oras ql="≤ oras" ;;
    esac
    if ((q_ours <= qt)); then qv="$ql: **met**"; else qv="$ql: **missed** (+$((q_ours - qt)))"; fi
    rss="—" rv="—"
    if [[ $op == attach-big ]]; then
      rss="$(rss_mib "$kind" "$op" ours) / $(rss_mib "$kind" "$op" oras) / $(rss_mib "$kind" "$op" regctl)"
      if (($(rss_mib "$kind" "$op" ours) <= $(rss_mib "$kind" "$op" oras))); then rv="**met**"; else rv="**missed**"; fi
    fi
    printf '| %s | %s | %s | %s | %s (mean %s) | %s (mean %s) | %s | %s / %s / %s | %s | %s | %s |\n' \
      "$(label "$op")" \
      "$(fmt_time "${md[ours]}" "${mean[ours]}" "$(stat "$kind" "$op" ours stddev)")" \
      "$(fmt_time "${md[oras]}" "${mean[oras]}" "$(stat "$kind" "$op" oras stddev)")" \
      "$(fmt_time "${md[regctl]}" "${mean[regctl]}" "$(stat "$kind" "$op" regctl stddev)")" \
      "$(ratio "${md[ours]}" "${md[oras]}")" "$(ratio "${mean[ours]}" "${mean[oras]}")" \
      "$(ratio "${md[ours]}" "${md[regctl]}")" "$(ratio "${mean[ours]}" "${mean[regctl]}")" \
      "$verdict" "$q_ours" "$q_oras" "$q_regctl" "$qv" "$rss" "$rv"
  done
}

# floor_table: the list rows' floor (see floor_cmd) beside ours and oras.
floor_table() {
  local kind op target f o u
  echo "| registry | operation | floor | ours | oras | floor/oras | ours/oras | time target | reachable |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for kind in olareg distribution; do
    for op in list-many list-deep; do
      f=$(stat "$kind" "$op" floor median)
      u=$(stat "$kind" "$op" ours median)
      o=$(stat "$kind" "$op" oras median)
      case $kind:$op in
        *:list-many) target=0.5 ;;
        distribution:list-deep) target=0.1 ;;
        *) target=0.7 ;;
      esac
      local reach="no: the floor is above it"
      le "$f" "$o" "$target" && reach=yes
      printf '| %s | %s | %s | %s | %s | %s | %s | ≤ %s | %s |\n' "$kind" "$(label "$op")" \
        "$(fmt_time "$f" "$(stat "$kind" "$op" floor mean)" "$(stat "$kind" "$op" floor stddev)")" \
        "$(fmt_time "$u" "$(stat "$kind" "$op" ours mean)" "$(stat "$kind" "$op" ours stddev)")" \
        "$(fmt_time "$o" "$(stat "$kind" "$op" oras mean)" "$(stat "$kind" "$op" oras stddev)")" \
        "$(ratio "$f" "$o")" "$(ratio "$u" "$o")" "$target" "$reach"
    done
  done
}

# oras discover without --depth also asks for the referrers of each referrer.
oras_default_requests() {
  local kind=$1 h=${host_of[$1]} before after
  before=$(requests "$kind")
  "$oras" discover --plain-http --format json "$h/few:v1" >/dev/null
  sleep 0.3
  after=$(requests "$kind")
  echo $((after - before))
}
declare -A oras_nodepth
for kind in olareg distribution; do
  oras_nodepth[$kind]=$(oras_default_requests "$kind")
done

time_version=$(dpkg-query -W -f='${Version}' time 2>/dev/null || echo "(version unknown)")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
elapsed=$((SECONDS - started))
{
  cat <<EOF
# Peer benchmark: referrers vs oras vs regctl

One run of \`scripts/bench-peers.sh\` on one machine: all three clients against the same
registries, one after another, on loopback. Generated by the script; do not edit by hand.

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
- our CLI: commit $commit, built with $go_version
- CPU: $cpu, nproc $(nproc); load average (1/5/15 min) $load_start at the start, $load_end at the end
- oras v1.3.6, regctl v0.11.7; registries olareg v0.2.2 (Referrers API, in-memory store) and
  distribution v3.1.2 (no Referrers API, filesystem store), all built by \`scripts/oracles.sh\`;
  every client built static (\`CGO_ENABLED=0\`), as the three projects release them
- $(hyperfine --version); GNU time $time_version
- runs per tool: $runs timed (1 KiB attach and lists: $rounds rounds of $warmup warm-up and
  $per_round timed runs, the tools taking turns); $big_runs timed, no warm-up, for the
  $big attach (one per round); the script took ${elapsed} s

Times are the wall time of one process run (start, requests, exit), measured by hyperfine:
the median over all rounds, and the mean ± standard deviation. Ratios and the time verdicts
use the medians: other jobs share this machine (see the load average), and a burst of their
load lands on whichever tool runs at that moment, which moves a mean far more than a median.
The ratios of the means are shown too, and a verdict says so when the means would change it.
Requests are counted in the registry's log during one extra run of each operation
(distribution's access log; olareg logs each request at \`-v trace\`, so no proxy is needed).
Peak RSS is from \`/usr/bin/time -v\` on that extra run.

Targets set by the project: attach and list at most 0.7 × oras's time, copy at most 0.7 ×
the faster peer's, listing $many referrers at most 0.5 ×; listing them at depth 2 at most
0.7 × and N+2 requests on olareg, 0.1 × and 10 requests on distribution; the 1 KiB attach
on distribution (the tag schema, with its settling wait) at most 1.2 ×; the $big attach on
distribution at most 0.7 × with a peak RSS at most oras's; elsewhere no more HTTP requests
than oras for the same operation. No time target is set for the $big attach on olareg: that
time is mostly olareg's (its in-memory store takes the upload, and the same upload varies by
several times from run to run, see σ).

## olareg v0.2.2 (Referrers API)

EOF
  table olareg
  cat <<EOF

## distribution v3.1.2 (no Referrers API: referrers tag schema)

EOF
  table distribution
  cat <<EOF

## The registry's floor for the list rows

What a client that only sends the requests would take: \`curl\` sending, over one
connection, the requests the operation needs (resolve the tag; the Referrers API GET, or
on distribution the tag schema index; at depth 2 on olareg every referrer's API GET, 16 at
a time; on distribution the tag list and the one referrer tag that exists), its output
discarded. It runs in the same rounds as the three tools. The registry's share of the time
is the same for every client, so floor/oras is the lowest ratio any client could reach on
that row: where it is above the target, no client meets it on this machine.

$(floor_table)

## How each operation is run

| operation | referrers | oras | regctl |
|---|---|---|---|
| attach | \`referrers attach SUBJECT FILE:application/octet-stream --artifact-type T --annotation bench.run=ours-\$\$ --plain-http\` | \`oras attach --plain-http --artifact-type T --annotation bench.run=oras-\$\$ SUBJECT FILE:application/octet-stream\` | \`regctl artifact put --subject SUBJECT --artifact-type T --annotation bench.run=regctl-\$\$ -f FILE -m application/octet-stream --file-title\` |
| list | \`referrers list SUBJECT --plain-http --format json\` | \`oras discover --plain-http --format json --depth 1 SUBJECT\` | \`regctl artifact list SUBJECT --format '{{json .}}'\` |
| list depth 2 | \`referrers list SUBJECT --plain-http --format json --depth 2\` | \`oras discover --plain-http --format json --depth 2 SUBJECT\` | \`regctl artifact tree SUBJECT --format '{{json .}}'\` |
| copy | \`referrers copy --plain-http --progress never SRC DST\` | \`oras cp -r --from-plain-http --to-plain-http SRC DST\` | \`regctl image copy --referrers SRC DST\` |

- The subject is always a tag (\`REPO:v1\`), so every tool resolves it. regctl gets
  \`--host reg=HOST,tls=disabled\`. All tools run with an empty private HOME.
- **Attach is a new referrer every run, for every tool.** hyperfine runs each command in a
  new shell, and \`\$\$\` (its PID) makes the annotation, and so the manifest, unique. With
  identical content the comparison would not be fair: our attach is deterministic (no
  \`created\` annotation), so a repeated run finds its entry already indexed, while oras adds
  a \`created\` timestamp and pushes a new referrer each time. Each tool attaches to its own
  subject (\`attach-TOOL:v1\`), so each tag schema index grows the same way; afterwards the
  script checks that each subject has exactly one referrer per run
  ($((1 + rounds * warmup + runs)) for the 1 KiB attach, $((1 + big_runs)) for the $big one).
  The 1 KiB file and the empty config are the same blobs in every run, so after the
  first run every tool finds them present (HEAD) and uploads only the manifest.
- **Big attach**: before each run, \`benchseed bigfile\` rewrites the first bytes of a sparse
  $big file with a unique nonce (a new blob for the registry), hashes it (so the
  page cache is warm) and deletes the previous run's blob from the registry (on
  distribution also its data on disk: its blob DELETE only unlinks it), so neither the
  registry's memory nor its disk grows with the runs.
- **List**: all three print JSON. \`oras discover\` without \`--depth\` lists every level of
  the referrer graph, one more request per referrer (measured now: ${oras_nodepth[olareg]} requests on olareg
  and ${oras_nodepth[distribution]} on distribution for the $few-referrer subject, against the 1-level numbers
  above); \`--depth 1\` makes it the same operation as ours and regctl's. Each tool's
  counted run is checked to list exactly $few or $many referrers.
- **List depth 2**: the $many-referrer subject, one of whose referrers has a signature
  (attached with our CLI after seeding; on distribution that writes the referrer's own
  tag). Every tool asks each referrer for referrers of its own; ours must list the
  signature (a peer that does not is logged). $deep_rounds rounds of $per_round runs, no warm-up.
- **Copy**: SRC is the subject with $few referrers (\`few:v1\`) or with $copy_many
  (\`copysrc:v1\`) on the *other* registry, so a copy into distribution goes from the
  Referrers API to the tag schema and a copy into olareg the other way; DST is a new
  repository each run (\`copy-...-\$\$:v1\`), so every run copies the image and all its
  referrers (the blobs are the same each time, but new to that repository). Requests are
  those logged by both registries. After the counted run the script lists the
  destination: ours must hold every referrer; a peer that left fewer is logged. All
  three tools also ask each referrer for referrers of its own (every level is copied).
  Ours records all referrers of a subject in one tag schema update with its settling
  wait; on olareg it then lists the subject once to check that the Referrers API lists
  what it pushed.
- **Seeding** (\`internal/tools/benchseed\`): referrer manifests (empty config and layer, a
  \`bench.seq\` annotation) pushed by digest with our core/registry client. On distribution
  16 at a time and then one tag schema index listing all of them; on olareg one at a time,
  because olareg v0.2.2 loses referrers when manifests with the same subject are pushed at
  once (it kept 426 of 2,000 pushed 16 at a time). benchseed checks that the registry
  lists every one.

## Why some targets are missed (known, by design)

- **Attach on distribution** waits a deliberate "settle" after its plain push of the tag
  schema index (the 5 ms guard plus twice its last read's and its push's durations, at
  least 40 ms: 40-50 ms on loopback, longer under load), before it verifies that no
  concurrent writer dropped its entry (distribution ignores \`If-Match\`; see RATIONALE.md,
  "No lost entries in the tag schema" and "The settling wait, shortened"). oras and regctl
  do not wait, and lose entries when jobs attach at once. So our attach is slower than
  oras there, by about that wait, and the 1.2 × target is out of reach while the wait
  stays: the 40 ms floor alone is about 0.65 × oras's time, and the rest of our attach (the
  process start and six dependent requests, as many as oras sends) is about 0.9 × (RATIONALE.md,
  "The settling wait, shortened", its last paragraph). The project keeps the entries.
- **Requests on distribution (attach)**: ours sends one request oras does not (the
  verifying HEAD after the settle) and skips one that oras sends (a HEAD of the artifact
  manifest before pushing it): even. While the PUT of the tag schema index is in flight
  longer than a read takes, ours reads the tag again to see whether another writer's index
  lands meanwhile (RATIONALE.md, "Watching the tag while a plain push is in flight"): one
  more request on a run where distribution was slow to take that PUT.
- **Requests on olareg (attach)**: after the push that the registry answers with
  \`OCI-Subject\`, ours confirms the Referrers API with one filtered GET (RATIONALE.md,
  "Capability is learned per repository and confirmed"); oras instead HEADs the artifact
  manifest before pushing it, so the counts can come out even.
- **Copy of a few referrers** is about even with the peers: ours lists every referrer's own
  referrers at the source as they do, and on distribution records the copied referrers in
  one tag schema update with the same settling wait as attach; on olareg it
  lists the subject once more to check that the Referrers API lists every referrer it
  pushed, and pushes again those it does not. That check is why **copy of 200 referrers
  into olareg** keeps all 200 where oras and regctl do not (the script logs how many each
  left: olareg v0.2.2 drops referrers pushed at once), and it costs the time that puts
  ours behind regctl there.
- **Requests on list**: in auto mode ours reads the referrers tag beside the Referrers API
  (one GET, answered 404 on olareg, concurrent with the API GET), to add referrers that
  olareg's API stops listing once a tag-mode client has written the tag (RATIONALE.md,
  "Listing reads the tag beside the API"): one request more than oras on olareg.
- **List of $many, one level**: ours reads the body into one buffer of its length, decodes
  the index in one pass without reflection, sorts and de-duplicates it in place, writes it
  one descriptor at a time from the listing's nodes and runs no collection cycle
  (RATIONALE.md, "A long list is decoded and written without reflection"). What is left
  is the process start, the registry's time to answer (the floor table above), the fresh
  memory the decoded descriptors take (about 1 MB; a page touched for the first time is
  expensive on this VM) and, on olareg, the read of the referrers tag beside the API (see
  "Requests on list" above), which runs at the same time as the API GET but shares the
  two cores with it.
- **List depth 2 on olareg**: one API GET per referrer, as oras, 16 at a time. olareg
  v0.2.2 copies the repository's whole index under the repository's lock for each API GET
  (about a millisecond of its CPU), so its answers come one at a time, and it shares the two
  cores with the client: most of every client's time is olareg's (see the floor), and the
  ratio moves with the machine's load (RATIONALE.md, "Nested listing": 16 at once took 5-10%
  less time than 8).
- **Requests on list depth 2**: instead of one tag read per referrer, ours lists the tags
  once (\`GET /v2/NAME/tags/list\`, paged) and reads only the referrers tags that exist
  (RATIONALE.md, "Nested listing asks the tag list, not each tag"). On olareg that is the
  subject's resolve, its API GET, the tag list and one API GET per referrer: N+3 where
  oras sends N+2; the one request over keeps the mixed state complete at every level.
- **Attach $big**: ours reads the file once, hashing it while a single PATCH sends it,
  and closes the upload with the digest (POST, PATCH, PUT); oras and regctl hash the file
  first and then upload it whole. The file is not HEADed first (its digest is not known
  before it is read), so re-attaching the same large file uploads it again.

## Re-run

<!-- not run: a benchmark of many minutes that needs hyperfine and GNU time; checked: the script parses -->
\`\`\`sh
bash scripts/bench-peers.sh        # as root, or with hyperfine and GNU time installed
\`\`\`

Raw hyperfine exports (JSON and markdown per round; the merged CSV), \`time -v\` outputs, request counts and the
registry logs of the last run are in \`.oracles/bench-peers/\`. Other processes on the
machine (see the load average above) add noise: compare ratios from one run, not absolute
times across runs.
EOF
} >"$doc.tmp"
mv -f "$doc.tmp" "$doc"

echo
sed -n '/^## olareg/,/^## How each/p' "$doc" | sed '$d'
log "wrote $doc in $((SECONDS - started)) s (raw results in $results)"
