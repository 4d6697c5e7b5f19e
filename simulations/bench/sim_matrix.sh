#!/usr/bin/env bash
# sim_matrix.sh — the consortium simulation (simulations/cmd/sim) across
# organisations and cells, one JSON line per run in simulations/out/sim.jsonl:
# the sim's fields plus "command" (what reproduces it) and, when a run
# failed, "error".
#
#   bash simulations/bench/sim_matrix.sh            # the default matrix
#   MATRIX="3:768 10:768:20ms" bash simulations/bench/sim_matrix.sh
#
# MATRIX is a list of ORGS:CELLS[:LATENCY]. The default: N = 3, 4, 10 ×
# cells = 1, 768, 8192, 20000 (a contract's limit), N = 10 with 20 ms
# links, and N = 30 and 50 at 768 cells; about 15 minutes on 2 cores.
# Environment: MATRIX, RECORDS (2000 per organisation), ROUNDS (3),
# OUT (simulations/out), TIMEOUT (per run, 900s), GOMEMLIMIT (9GiB: the
# Go runtime's soft memory limit for the one process that holds every
# node; 50 nodes peak at ~12 GB with it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$ROOT/simulations/out}
RECORDS=${RECORDS:-2000}
ROUNDS=${ROUNDS:-3}
TIMEOUT=${TIMEOUT:-900}
export GOMEMLIMIT=${GOMEMLIMIT:-9GiB}
MATRIX=${MATRIX:-"3:1 3:768 3:8192 3:20000 4:1 4:768 4:8192 4:20000 10:1 10:768 10:8192 10:20000 10:768:20ms 30:768 50:768"}

mkdir -p "$OUT"
BIN=$(mktemp -d "${TMPDIR:-/tmp}/cxnet-sim.XXXXXX")
trap 'rm -rf "$BIN"' EXIT
(cd "$ROOT" && go build -o "$BIN/sim" ./simulations/cmd/sim)
: >"$OUT/sim.jsonl"
for run in $MATRIX; do
	IFS=: read -r orgs cells latency <<<"$run"
	args=(--orgs "$orgs" --records "$RECORDS" --cells "$cells" --rounds "$ROUNDS" --json)
	[[ -n ${latency:-} ]] && args+=(--latency "$latency")
	cmd="go run ./simulations/cmd/sim ${args[*]}"
	echo "sim_matrix: $cmd" >&2
	if res=$(timeout "$TIMEOUT" "$BIN/sim" "${args[@]}" 2>"$BIN/err"); then
		jq -c --arg cmd "$cmd" --arg lat "${latency:-0}" '. + {command: $cmd, latency: $lat}' <<<"$res" >>"$OUT/sim.jsonl"
	else
		err=$(tail -c 400 "$BIN/err" | tr '\n' ' ')
		[[ -z $err ]] && err="no result within ${TIMEOUT}s"
		jq -nc --arg cmd "$cmd" --arg lat "${latency:-0}" --arg err "$err" --argjson orgs "$orgs" --argjson cells "$cells" \
			'{orgs: $orgs, cells: $cells, latency: $lat, command: $cmd, error: $err}' >>"$OUT/sim.jsonl"
	fi
done
echo "wrote $OUT/sim.jsonl" >&2
