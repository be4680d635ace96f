#!/usr/bin/env bash
# Issue #14, "How cost grows": generate, prepare, train one epoch, score and publish at several log sizes, each stage
# timed alone (wall, peak RSS, CPU) under `flock` on the shared heavy-work lock, and one TSV of the results.
#
#   PGHOST=127.0.0.1 PGUSER=hrnn_scaling PGPASSWORD=... benchmarks/scaling.sh [SCRATCH_DIR]
#
# Sizes: SIZES (target input events, default "1000000 4000000 16000000 36832389"). The largest is the log of
# BENCHMARKS.md's "One million users" (generate --users 1260000 --items 100000 --mean-sessions 4 --seed 7); the others
# scale --users in proportion and keep the catalogue (--items 100000) and the seed, so users grow with the events.
# Every stage runs the shipped defaults, except `prepare --min-user-sessions 2 --min-session-length 2` (as in "One
# million users") and `train --epochs 1`; TRAIN_ARGS adds train options (e.g. "--batch-size 256").
# PostgreSQL: a role that may create databases, named by the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD);
# each size publishes into a fresh database hrnn_scaling_<size>, dropped afterwards. For example, as root:
#   pg_ctlcluster 15 main start
#   su postgres -c "psql -c \"create role hrnn_scaling login createdb password 'hrnn_scaling'\""
# The app is built (Release) from `git archive HEAD`, so uncommitted changes in the work tree are not measured.
# Each size's log, work folder and database are deleted once it is measured (the 36.8M one takes ~10 GB); a size
# starts only with MIN_FREE_GB (default 20) free on SCRATCH_DIR's disk. LOCK (default /tmp/heavy.lock) is taken for
# each heavy stage, so measurements of others that take it do not overlap; uptime's load is read inside the lock.
# Output: SCRATCH_DIR/scaling.tsv (one row per size and stage; '#' lines: machine, commit, date), the stages' output
# in SCRATCH_DIR/logs/. Chart and slopes from the TSV: benchmarks/scaling-chart.sh SCRATCH_DIR/scaling.tsv OUT.png
set -euo pipefail
scratch=$(mkdir -p "${1:-/tmp/scaling}" && realpath "${1:-/tmp/scaling}")
repo=$(cd "$(dirname "$0")/.." && pwd)
sizes=${SIZES:-1000000 4000000 16000000 36832389}
lock=${LOCK:-/tmp/heavy.lock}
min_free_gb=${MIN_FREE_GB:-20}
train_args=${TRAIN_ARGS:-}
: "${PGHOST:=127.0.0.1}" "${PGPORT:=5432}" "${PGUSER:?set PGUSER (and PGPASSWORD) to a role that may create databases}"
export PGHOST PGPORT PGUSER
tsv=$scratch/scaling.tsv
mkdir -p "$scratch/logs"

commit=$(git -C "$repo" rev-parse --short HEAD)
rm -rf "$scratch/src" "$scratch/app"
mkdir -p "$scratch/src"
git -C "$repo" archive HEAD | tar -x -C "$scratch/src"
dotnet build "$scratch/src/Pipeline/Pipeline.csproj" -c Release -o "$scratch/app" -v quiet -nologo > "$scratch/logs/build.log"
app=$scratch/app/HrnnPipeline.Pipeline.dll

{
    echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GB, $(uname -r)"
    echo "# commit: $commit ($(git -C "$repo" log -1 --format=%s HEAD | cut -c1-80)), built from git archive HEAD, Release"
    echo "# date: $(date -u +%FT%TZ); sizes: $sizes; train: --epochs 1 $train_args; lock: $lock"
    echo "# postgres: $(psql -d postgres -Atc 'show server_version') at $PGHOST:$PGPORT, shared_buffers $(psql -d postgres -Atc 'show shared_buffers')"
    printf '%s\t' size target_events events gen_users users items stage wall_s rate rate_unit rss_mb cpu_pct \
        started_utc lock_wait_s load_before load_after
    echo note
} > "$tsv"

load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'; }

# measure NAME CMD...: runs CMD alone under the lock and GNU time; sets wall, rss (MB), cpu, started, waited,
# load_before, load_after. Output: logs/NAME.out.
measure() {
    local name=$1; shift
    local t0; t0=$(date +%s.%N)
    (
        flock 9
        echo "$(date -u +%FT%TZ) $(date +%s.%N) $(load)" > "$scratch/logs/$name.before"
        /usr/bin/time -f '%e %M %P' -o "$scratch/logs/$name.time" "$@" > "$scratch/logs/$name.out" 2>&1 \
            || { echo "$name failed:" >&2; tail -20 "$scratch/logs/$name.out" >&2; exit 1; }
        load > "$scratch/logs/$name.after"
    ) 9> "$lock"
    local t1
    read -r started t1 load_before < "$scratch/logs/$name.before"
    read -r wall rss_kb cpu < "$scratch/logs/$name.time"
    read -r load_after < "$scratch/logs/$name.after"
    rss=$((rss_kb / 1024))
    cpu=${cpu%\%}
    waited=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
    echo "  $name: ${wall} s, ${rss} MB, ${cpu}% CPU, load $load_before -> $load_after (waited ${waited} s for the lock)"
}

label() { awk -v e="$1" 'BEGIN { v = e / 1e6; printf (v == int(v) ? "%dM" : "%.1fM"), v }'; }
json() { jq -r "$2" "$1"; }

for target in $sizes; do
    size=$(label "$target")
    users=$(awk -v e="$target" 'BEGIN { printf "%d", 1260000 * e / 36832389 + 0.5 }')
    dir=$scratch/$size
    db=$(echo "hrnn_scaling_${size//./_}" | tr "[:upper:]" "[:lower:]") # unquoted names fold to lower case in psql
    free_gb=$(df -BG --output=avail "$scratch" | tail -1 | tr -dc 0-9)
    if (( free_gb < min_free_gb )); then
        echo "stopping before $size: ${free_gb} GB free on $scratch's disk, fewer than $min_free_gb" >&2
        exit 1
    fi
    echo "$size: $users users ($(date -u +%T), ${free_gb} GB free)"
    rm -rf "$dir"; mkdir -p "$dir"
    row() { # stage rate unit note
        printf '%s\t' "$size" "$target" "$events" "$users" "$kept_users" "$items" "$1" "$wall" "$2" "$3" "$rss" "$cpu" \
            "$started" "$waited" "$load_before" "$load_after" >> "$tsv"
        echo "$4" >> "$tsv"
    }
    kept_users='' items=''

    measure "$size-generate" dotnet "$app" generate --users "$users" --items 100000 --mean-sessions 4 --seed 7 --out "$dir/log.csv"
    events=$(grep -o 'wrote [0-9,]* events' "$scratch/logs/$size-generate.out" | tr -dc 0-9)
    row generate "$(awk -v n="$events" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')" events/s \
        "$(du -m "$dir/log.csv" | cut -f1) MB CSV"

    measure "$size-prepare" dotnet "$app" prepare --input "$dir/log.csv" --work "$dir/work" \
        --min-user-sessions 2 --min-session-length 2
    p=$dir/work/prepare-summary.json
    [[ $(json "$p" .input_events) == "$events" ]] || echo "  note: prepare read $(json "$p" .input_events) events, generate wrote $events" >&2
    kept_users=$(json "$p" .users) items=$(json "$p" .items)
    row prepare "$(awk -v n="$events" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')" events/s \
        "$(json "$p" '"\(.train_events) train events (\(.fit_events) fit), \(.train_sessions) train sessions"')"

    # shellcheck disable=SC2086 # TRAIN_ARGS is a list of options
    measure "$size-train" dotnet "$app" train --work "$dir/work" --epochs 1 $train_args
    t=$dir/work/train-summary.json
    fit=$(json "$t" .train_events)
    row train "$(awk -v n="$fit" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')" "fit events/s (whole process)" \
        "$(json "$t" '"fit \(.train_events) events: epoch \(.train_seconds | floor) s at \(.events_per_second | floor) events/s, batch \(.settings.batch_size); " + (if .refit then "refit \(.refit.events) events: \(.refit.seconds | floor) s at \(.refit.events_per_second | floor) events/s" else "no refit" end)')"

    measure "$size-score" dotnet "$app" score --work "$dir/work"
    s=$dir/work/score-summary.json
    row score "$(awk -v n="$(json "$s" .users)" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')" users/s \
        "$(json "$s" '"\(.users) users, \(.seconds | floor) s scoring"')"

    psql -d postgres -qc "drop database if exists $db" -c "create database $db"
    export ConnectionStrings__postgres="Host=$PGHOST;Port=$PGPORT;Username=$PGUSER;Password=${PGPASSWORD:-};Database=$db"
    measure "$size-publish" dotnet "$app" publish --work "$dir/work"
    rows=$(psql -d "$db" -Atc "select count(*) from recommendations" 2>/dev/null || echo '?')
    row publish "$(awk -v n="$kept_users" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')" users/s "$rows rows"
    unset ConnectionStrings__postgres

    for f in prepare train score; do cp "$dir/work/$f-summary.json" "$scratch/logs/$size-$f-summary.json"; done
    rm -rf "$dir"
    psql -d postgres -qc "drop database $db"
done
echo "results: $tsv"
