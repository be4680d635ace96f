#!/usr/bin/env bash
# Issue #14: `prepare` (ingest + features + Arrow) against the DuckDB query a user would write by hand
# (benchmarks/DuckDbBaseline), on the same log, one after the other, in one go. Prints each one's wall time,
# events/s and peak RSS, and the ratio. Run it alone on the machine (e.g. under `flock /tmp/heavy.lock`):
#
#   benchmarks/prepare-vs-duckdb.sh LOG.csv [SCRATCH_DIR]
#
# A log: dotnet <app>/HrnnPipeline.Pipeline.dll generate --users 1260000 --items 100000 --mean-sessions 4 --seed 7 --out LOG.csv
# Both builds are Release; SCRATCH_DIR (default /tmp/prepare-bench) gets the builds, the work folder and the outputs.
set -euo pipefail
log=$(realpath "$1")
scratch=${2:-/tmp/prepare-bench}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$scratch"

dotnet build "$repo/Pipeline/Pipeline.csproj" -c Release -o "$scratch/app" -v quiet -nologo > "$scratch/build.log"
dotnet build "$repo/benchmarks/DuckDbBaseline/DuckDbBaseline.csproj" -c Release -o "$scratch/baseline" -v quiet -nologo >> "$scratch/build.log"
cat "$log" > /dev/null # both read the log from the page cache

# Runs "$@" under GNU time; sets wall (s) and rss (MB).
measure() {
    local name=$1; shift
    /usr/bin/time -f '%e %M' -o "$scratch/$name.time" "$@" > "$scratch/$name.out" 2>&1 \
        || { echo "$name failed:"; tail -20 "$scratch/$name.out"; exit 1; }
    read -r wall rss_kb < "$scratch/$name.time"
    rss=$((rss_kb / 1024))
}

echo "commit  $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' (uncommitted changes)')"
echo "date    $(date -u +%FT%TZ)"
echo "machine $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

measure baseline dotnet "$scratch/baseline/HrnnPipeline.DuckDbBaseline.dll" "$log" "$scratch/baseline.parquet"
base_wall=$wall base_rss=$rss
rm -rf "$scratch/work"
measure prepare dotnet "$scratch/app/HrnnPipeline.Pipeline.dll" prepare --input "$log" --work "$scratch/work" \
    --min-user-sessions 2 --min-session-length 2
prep_wall=$wall prep_rss=$rss

events=$(grep -o '"input_events": *[0-9]*' "$scratch/work/prepare-summary.json" | grep -o '[0-9]*$')
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
tail -1 "$scratch/baseline.out"
grep '^prepared:' "$scratch/prepare.out" || true
echo
awk -v e="$events" -v bw="$base_wall" -v br="$base_rss" -v pw="$prep_wall" -v pr="$prep_rss" 'BEGIN {
    printf "%-22s %10s %14s %12s\n", "", "wall (s)", "events/s", "peak RSS"
    printf "%-22s %10.1f %13.2fM %9d MB\n", "hand-written DuckDB", bw, e / bw / 1e6, br
    printf "%-22s %10.1f %13.2fM %9d MB\n", "prepare", pw, e / pw / 1e6, pr
    printf "prepare / DuckDB: %.2fx (%s input events)\n", pw / bw, e
}'
echo "per-step seconds: $scratch/work/ingest-summary.json and prepare-summary.json (\"timings\")"
