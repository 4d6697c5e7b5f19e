#!/usr/bin/env bash
# import_vs_sqlite.sh — cxnet against sqlite3 on the same synthetic CSV.
#
#   (a) import: `sqlite3 DB ".import --csv FILE t"` into a fresh database
#       vs `cxnet data import FILE` into a freshly initialised node (only the
#       import command is timed; the daemon's peak RSS, VmHWM, is read
#       right after it);
#   (b) the NPS contract's `cxnet contract preview FILE --json` vs the
#       equivalent sqlite GROUP BY on the database just imported.
#
# Each is run RUNS times (a fresh node / database each run); the medians are
# compared with the bounds: import <= 2.0x sqlite, preview <= 3.0x sqlite,
# daemon peak RSS < 500 MB. Prints a table and writes the same as JSON to
# simulations/out/bench.json. Exits 1 when a bound fails.
#
#   ROWS=1000000 RUNS=3 bash simulations/bench/import_vs_sqlite.sh
#
# Environment: ROWS (1000000), RUNS (3), SEED (1), OUT (simulations/out),
# WORK (a temporary directory, removed at the end unless KEEP=1).
# Needs bash, coreutils, awk, go; installs sqlite3 with apt-get if missing;
# uses jq, when present, to check that both sides computed the same cells.
set -euo pipefail

ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$ROOT/simulations/out}
IMPORT_BOUND=2.0
PREVIEW_BOUND=3.0
RSS_BOUND_MB=500

die() { echo "import_vs_sqlite: $*" >&2; exit 1; }
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS=$ROWS: want a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive integer"

command -v sqlite3 >/dev/null && command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq sqlite3 jq)
command -v go >/dev/null || die "go is not on PATH"

if [[ -n ${WORK:-} ]]; then
	mkdir -p "$WORK"
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/cxnet-bench.XXXXXX")
fi
DAEMON_PID=
cleanup() {
	if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# median of the arguments (mean of the middle two for an even count)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }
# verdict VALUE BOUND [strict]: PASS when VALUE <= BOUND (VALUE < BOUND when strict)
verdict() {
	awk -v v="$1" -v b="$2" -v strict="${3:-}" 'BEGIN {
		ok = (v == "null") ? 0 : (strict ? v + 0 < b + 0 : v + 0 <= b + 0); print ok ? "PASS" : "FAIL" }'
}
json_list() { local IFS=,; echo "[$*]"; }

# --- build and generate -----------------------------------------------------
echo "building bin/cxnet and the generator ..." >&2
(cd "$ROOT" && go build -o bin/cxnet . && go build -o "$WORK/gen" ./simulations/cmd/gen) ||
	die "build failed (is the node code compiling yet?)"
CXNET=$ROOT/bin/cxnet
CSV=$WORK/survey.csv
"$WORK/gen" -rows "$ROWS" -seed "$SEED" -o "$CSV"
CSV_BYTES=$(stat -c %s "$CSV")
echo "generated $ROWS rows, $CSV_BYTES bytes: $CSV" >&2

CONTRACT=$WORK/bench-nps.yaml
cat >"$CONTRACT" <<'EOF'
id: bench-nps
version: 1
title: Benchmark NPS by care setting and quarter
measure: nps
aggregate: nps
value_range: [0, 10]
group_by:
  care_setting: [inpatient, outpatient, pharmacy]
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter
participants: [bench]
approvals: all
privacy:
  min_cohort: 11
EOF

# .import --csv creates TEXT columns, so value is compared as a number with
# CAST: `value >= 9` on text would order '10' before '9'. The local date is
# the first 10 characters of the RFC 3339 time, as cxnet's day of a record.
SQL="SELECT care_setting, (CAST(strftime('%m', substr(time,1,10)) AS INT)+2)/3 AS q,
 COUNT(*), SUM(CAST(value AS REAL) >= 9), SUM(CAST(value AS REAL) <= 6)
 FROM t WHERE measure = 'nps' AND substr(time,1,10) BETWEEN '2026-01-01' AND '2026-12-31'
 AND care_setting IN ('inpatient','outpatient','pharmacy') GROUP BY 1, 2 ORDER BY 1, 2;"

# --- runs: sqlite and cxnet in turn (A B A B ...), so that a slow spell
# of the machine hits both sides -------------------------------------------
sq_import=() sq_query=()
cx_import=() cx_preview=() cx_rss=()
sqlite_run() {
	db=$WORK/bench.db
	rm -f "$db"
	t0=$(now)
	sqlite3 "$db" ".import --csv $CSV t"
	t1=$(now)
	sqlite3 -csv "$db" "$SQL" >"$WORK/sqlite-cells.csv"
	t2=$(now)
	sq_import+=("$(elapsed "$t0" "$t1")")
	sq_query+=("$(elapsed "$t1" "$t2")")
	echo "sqlite run $i: import ${sq_import[-1]} s, query ${sq_query[-1]} s" >&2
	rm -f "$WORK/bench.db"
}
cxnet_run() {
	H=$WORK/node-$i
	rm -rf "$H"
	"$CXNET" --home "$H" init --org bench --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 >"$WORK/init.log" 2>&1 ||
		{ cat "$WORK/init.log" >&2; die "cxnet init failed"; }
	"$CXNET" --home "$H" run >"$WORK/run-$i.log" 2>&1 &
	DAEMON_PID=$!
	"$CXNET" --home "$H" status --wait 30s >/dev/null ||
		{ tail -20 "$WORK/run-$i.log" >&2; die "daemon not ready after 30s"; }

	t0=$(now)
	"$CXNET" --home "$H" data import "$CSV" >"$WORK/import.log" 2>&1 ||
		{ cat "$WORK/import.log" >&2; tail -20 "$WORK/run-$i.log" >&2; die "cxnet data import failed"; }
	t1=$(now)
	hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
	"$CXNET" --home "$H" contract preview "$CONTRACT" --json >"$WORK/cxnet-cells.json" 2>"$WORK/preview.log" ||
		{ cat "$WORK/preview.log" >&2; die "cxnet contract preview failed"; }
	t2=$(now)

	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || echo "daemon exited with status $? (run $i)" >&2
	DAEMON_PID=
	rm -rf "$H"

	cx_import+=("$(elapsed "$t0" "$t1")")
	cx_preview+=("$(elapsed "$t1" "$t2")")
	cx_rss+=("$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')")
	echo "cxnet  run $i: import ${cx_import[-1]} s, preview ${cx_preview[-1]} s, daemon peak RSS ${cx_rss[-1]} MB" >&2
}
for ((i = 1; i <= RUNS; i++)); do
	sqlite_run
	cxnet_run
done

# --- same answer? -----------------------------------------------------------------
# Compare the cells of the last run: sqlite's (care_setting, quarter, count,
# promoters, detractors) against cxnet's count and NPS value.
check=skipped
if command -v jq >/dev/null; then
	jq -r '.cells[] | [.group.care_setting, (.group.period | sub("^[0-9]+-Q"; "")), .count, .value] | @csv' \
		"$WORK/cxnet-cells.json" 2>/dev/null | tr -d '"' >"$WORK/cxnet-cells.csv" || true
	if awk -F, '
		NR == FNR { want[$1 "," $2] = $3 "," 100 * ($4 - $5) / $3; n++; next }
		{
			k = $1 "," $2; seen++
			if (!(k in want)) { print "cxnet only: " $0; bad = 1; next }
			split(want[k], w, ",")
			d = w[2] - $4; if (d < 0) d = -d
			# tolerate the rounding of the decimals cxnet printed (0.005..0.05)
			dec = index($4, ".") ? length($4) - index($4, ".") : 1
			tol = 0.5 / 10 ^ dec; if (tol < 0.005) tol = 0.005; if (tol > 0.05) tol = 0.05
			if (w[1] != $3 || d > tol + 1e-9) { print k ": sqlite count " w[1] " nps " w[2] ", cxnet count " $3 " nps " $4; bad = 1 }
		}
		END { if (seen != n) { print "cells: sqlite " n ", cxnet " seen; bad = 1 }; exit bad }
	' "$WORK/sqlite-cells.csv" "$WORK/cxnet-cells.csv" >&2; then
		check=same
	else
		check=different
	fi
fi

# --- report -------------------------------------------------------------------
mi_sq=$(median "${sq_import[@]}")
mi_cx=$(median "${cx_import[@]}")
mp_sq=$(median "${sq_query[@]}")
mp_cx=$(median "${cx_preview[@]}")
rss=$(printf '%s\n' "${cx_rss[@]}" | sort -g | tail -1)
r_import=$(ratio "$mi_cx" "$mi_sq")
r_preview=$(ratio "$mp_cx" "$mp_sq")
v_import=$(verdict "$r_import" "$IMPORT_BOUND")
v_preview=$(verdict "$r_preview" "$PREVIEW_BOUND")
v_rss=$(verdict "$rss" "$RSS_BOUND_MB" strict)
overall=PASS
for v in "$v_import" "$v_preview" "$v_rss"; do [[ $v == PASS ]] || overall=FAIL; done

{
	printf '\ncxnet vs sqlite3: %s rows, %s bytes, median of %s runs, %s CPUs\n\n' "$ROWS" "$CSV_BYTES" "$RUNS" "$(nproc)"
	printf '%-22s %10s %10s %8s %10s  %s\n' "" "cxnet" "sqlite3" "ratio" "bound" "result"
	printf '%-22s %9ss %9ss %7sx %9sx  %s\n' "import" "$mi_cx" "$mi_sq" "$r_import" "$IMPORT_BOUND" "$v_import"
	printf '%-22s %9ss %9ss %7sx %9sx  %s\n' "preview vs GROUP BY" "$mp_cx" "$mp_sq" "$r_preview" "$PREVIEW_BOUND" "$v_preview"
	printf '%-22s %8sMB %10s %8s %8sMB  %s\n' "daemon peak RSS" "$rss" "-" "-" "<$RSS_BOUND_MB" "$v_rss"
	printf '\ncells equal to sqlite: %s    overall: %s\n' "$check" "$overall"
}

mkdir -p "$OUT"
cat >"$OUT/bench.json" <<EOF
{
  "benchmark": "import_vs_sqlite",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "rows": $ROWS,
  "csv_bytes": $CSV_BYTES,
  "runs": $RUNS,
  "seed": $SEED,
  "cpus": $(nproc),
  "sqlite_version": "$(sqlite3 --version | awk '{ print $1 }')",
  "cxnet_version": "$("$CXNET" version 2>/dev/null | head -1 | tr -d '"\\' || true)",
  "import": {"cxnet_s": $mi_cx, "sqlite_s": $mi_sq, "ratio": $r_import, "bound": $IMPORT_BOUND, "result": "$v_import",
             "cxnet_runs_s": $(json_list "${cx_import[@]}"), "sqlite_runs_s": $(json_list "${sq_import[@]}")},
  "preview": {"cxnet_s": $mp_cx, "sqlite_s": $mp_sq, "ratio": $r_preview, "bound": $PREVIEW_BOUND, "result": "$v_preview",
              "cxnet_runs_s": $(json_list "${cx_preview[@]}"), "sqlite_runs_s": $(json_list "${sq_query[@]}")},
  "rss": {"peak_mb": $rss, "bound_mb": $RSS_BOUND_MB, "result": "$v_rss", "runs_mb": $(json_list "${cx_rss[@]}")},
  "cells_equal": "$check",
  "result": "$overall"
}
EOF
echo "wrote $OUT/bench.json" >&2
[[ $overall == PASS ]]
