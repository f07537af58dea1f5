#!/bin/bash
# Host-side throughput (no VM, the host's own kernel): the same DR lab in network
# namespaces (bench/vm/inner.sh), generator = xlb-benchgen (BPF_PROG_RUN with
# BPF_F_TEST_XDP_LIVE_FRAMES; pktgen needs a module the host cannot load). Kernel
# IPVS is not available on the host, so the cases are the bare XDP forwarder and xlb.
# Writes bench/results/<UTC time>-host-<mode>.json.
#
#   bench/host/run.sh --quick          # one case each, a few seconds
#   bench/host/run.sh                  # flows 1 1000 10000 100000, fwd + xlb
#   bench/host/run.sh --cases "fwd:-:1000 xlb:rr:1000" --duration 5
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH="$(dirname "$HERE")"
REPO="$(dirname "$BENCH")"
CACHE="${XLB_BENCH_CACHE:-$BENCH/.cache}"
MODE=full; CASES=""; FLOWS="1 1000 10000 100000"; DURATION=""; WARMUP=""; NO_XLB=0; OUT=""; XLB_BIN=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MODE=quick ;;
	--cases) CASES="$2"; shift ;;
	--flows) FLOWS="$2"; shift ;;
	--duration) DURATION="$2"; shift ;;
	--warmup) WARMUP="$2"; shift ;;
	--no-xlb) NO_XLB=1 ;;
	--xlb-bin) XLB_BIN="$2"; shift ;;
	--out) OUT="$2"; shift ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
log() { echo "[host] $*" >&2; }
[ "$MODE" = full ] && [ -n "$CASES" ] && MODE=custom
[ "$(id -u)" = 0 ] || { log "needs root (namespaces, XDP)"; exit 1; }
if [ "$MODE" = quick ]; then : "${DURATION:=2}" "${WARMUP:=1}"; else : "${DURATION:=5}" "${WARMUP:=1}"; fi

mkdir -p "$CACHE/bin"
(cd "$REPO" && CGO_ENABLED=0 go build -o "$CACHE/bin/xlb-benchfwd" ./bench/cmd/xlb-benchfwd \
	&& CGO_ENABLED=0 go build -o "$CACHE/bin/xlb-benchgen" ./bench/cmd/xlb-benchgen)
HAVE_XLB=0
XLB_NOTE=none
if [ $NO_XLB = 0 ]; then
	# shellcheck source=../vm/xlbbin.sh
	. "$BENCH/vm/xlbbin.sh"
	get_xlb_binary "$CACHE/bin/xlb" "$XLB_BIN" && HAVE_XLB=1
fi
if [ -z "$CASES" ]; then
	if [ "$MODE" = quick ]; then
		CASES="fwd:-:1000"; [ $HAVE_XLB = 1 ] && CASES="$CASES xlb:rr:1000"
	else
		for f in $FLOWS; do
			CASES="$CASES fwd:-:$f"
			[ $HAVE_XLB = 1 ] && CASES="$CASES xlb:rr:$f xlb:mh:$f"
		done
	fi
fi
CASES="$(echo $CASES)"
log "cases: $CASES"

LOGF="$CACHE/host-inner.log"
T0=$(date +%s.%N)
set +e
CASES="$CASES" GEN=live DURATION=$DURATION WARMUP=$WARMUP BIN="$CACHE/bin" LABEL="host-$MODE" \
	NSP=${NSP:-xbbh} timeout --kill-after=10 $((60 + 40 * $(echo $CASES | wc -w))) sh "$BENCH/vm/inner.sh" >"$LOGF" 2>&1
RC=$?
set -e
WALL=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
grep -v '^XLBRESULT' "$LOGF" | tail -20 >&2 || true

mkdir -p "$BENCH/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT="$BENCH/results/$STAMP-host-$MODE.json"
NRES=$(grep -c '^XLBRESULT {' "$LOGF" || true)
NERR=$(grep '^XLBRESULT {' "$LOGF" | grep -c '"error"' || true)
{
	printf '{\n "run": {"time": "%s", "mode": "%s", "environment": "host", "generator": "xdp-live-frames",' "$STAMP" "$MODE"
	printf ' "duration_s": %s, "warmup_s": %s, "wall_s": %s, "exit": %s, "git": "%s", "xlb_binary": "%s"},\n' "$DURATION" "$WARMUP" "$WALL" "$RC" \
		"$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo none)" "$(printf '%s' "$XLB_NOTE" | sed 's/"/\\"/g')"
	printf ' "machine": {"host_kernel": "%s", "host_cpu": "%s", "host_cpus": %s, "host_mem_kb": %s, "note": "CPUs shared with other workloads"},\n' \
		"$(uname -r)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //; s/"/\\"/g')" "$(nproc)" \
		"$(awk '/MemTotal/{print $2}' /proc/meminfo)"
	printf ' "results": [\n'
	sed -n 's/^XLBRESULT //p' "$LOGF" | sed '$!s/$/,/' | sed 's/^/  /'
	printf ' ]\n}\n'
} > "$OUT"
log "wrote $OUT ($NRES results, $NERR errors, ${WALL}s)"
sed -n 's/^XLBRESULT //p' "$LOGF" | sed 's/"pps_per_rs.*"director_cpu_pct"/ director_cpu_pct/; s/,"generator[^}]*"pps":/ pps=/' | cut -c1-160 >&2
[ "$NRES" -gt 0 ] && [ "$NERR" = 0 ]
