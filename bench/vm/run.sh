#!/bin/bash
# Boot the benchmark VM (Debian 6.1 kernel under qemu TCG, no network device) and run
# the DR throughput cases inside it: kernel IPVS (rr wrr wlc sh mh), the bare XDP
# MAC-swap forwarder (ceiling) and xlb, with kernel pktgen as the generator.
# Writes bench/results/<UTC time>-vm-<mode>.json.
#
#   bench/vm/run.sh --quick            # CI smoke: one case each, < 3 min with the boot
#   bench/vm/run.sh                    # full: 4 flow counts x all cases, ~15 min
#   bench/vm/run.sh --cases "ipvs:rr:1000 fwd:-:1000" --duration 5
#   bench/vm/run.sh --no-xlb           # skip the xlb cases even if ./cmd/xlb builds
#
# Options: --quick, --cases LIST, --flows "1 1000 ...", --duration S, --warmup S,
#          --timeout S (hard limit for qemu, default 170 quick / 1700 full),
#          --xlb-bin PATH (use a prebuilt static xlb), --no-xlb, --out FILE,
#          --rs-sink xdpdrop|stack, --keep-going (exit 0 even if a case failed),
#          --kernel 6.1|6.12 (Debian bookworm kernel of the VM, default 6.1),
#          --repeat N (N interleaved rounds of the cases; the plot takes medians)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH="$(dirname "$HERE")"
REPO="$(dirname "$BENCH")"
CACHE="${XLB_BENCH_CACHE:-$BENCH/.cache}"

MODE=full
CASES=""
FLOWS="1 1000 10000 100000"
DURATION=""
WARMUP=""
TIMEOUT=""
XLB_BIN=""
NO_XLB=0
OUT=""
RS_SINK=xdpdrop
KEEP_GOING=0
REPEAT=1
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MODE=quick ;;
	--cases) CASES="$2"; shift ;;
	--flows) FLOWS="$2"; shift ;;
	--duration) DURATION="$2"; shift ;;
	--warmup) WARMUP="$2"; shift ;;
	--timeout) TIMEOUT="$2"; shift ;;
	--xlb-bin) XLB_BIN="$2"; shift ;;
	--no-xlb) NO_XLB=1 ;;
	--out) OUT="$2"; shift ;;
	--rs-sink) RS_SINK="$2"; shift ;;
	--keep-going) KEEP_GOING=1 ;;
	--repeat) REPEAT="$2"; shift ;;
	--kernel) export XLB_VM_KERNEL="$2"; shift ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
log() { echo "[run] $*" >&2; }
[ "$MODE" = full ] && [ -n "$CASES" ] && MODE=custom
VMC="$CACHE/vm-${XLB_VM_KERNEL:-6.1}"

if [ "$MODE" = quick ]; then
	: "${DURATION:=2}" "${WARMUP:=1}" "${TIMEOUT:=170}"
else
	: "${DURATION:=6}" "${WARMUP:=2}" "${TIMEOUT:=1700}"
fi

# --- VM image and binaries ------------------------------------------------------------------
bash "$HERE/build.sh"
mkdir -p "$CACHE/bin"
log "building static benchmark binaries"
(cd "$REPO" && CGO_ENABLED=0 go build -o "$CACHE/bin/xlb-benchfwd" ./bench/cmd/xlb-benchfwd)
HAVE_XLB=0
XLB_NOTE=none
if [ $NO_XLB = 0 ]; then
	# shellcheck source=../vm/xlbbin.sh
	. "$BENCH/vm/xlbbin.sh"
	get_xlb_binary "$CACHE/bin/xlb" "$XLB_BIN" && HAVE_XLB=1
fi
if [ -z "$CASES" ]; then
	if [ "$MODE" = quick ]; then
		CASES="ipvs:rr:1000 fwd:-:1000"
		[ $HAVE_XLB = 1 ] && CASES="$CASES xlb:rr:1000"
	else
		for f in $FLOWS; do
			for s in rr wrr wlc sh mh; do CASES="$CASES ipvs:$s:$f"; done
			CASES="$CASES fwd:-:$f"
			[ $HAVE_XLB = 1 ] && for s in rr wrr wlc sh mh; do CASES="$CASES xlb:$s:$f"; done
		done
	fi
fi
CASES="$(echo $CASES)"
# --repeat N: N rounds of all cases, interleaved (bench/plot takes the median)
ONE="$CASES"; i=1; while [ "$i" -lt "$REPEAT" ]; do CASES="$CASES $ONE"; i=$((i + 1)); done
log "cases: $CASES"

# --- per-run overlay: inner script, parameters, binaries (appended as a second cpio) --------
OV="$VMC/overlay"
rm -rf "$OV"; mkdir -p "$OV/bench/bin"
cp "$HERE/inner.sh" "$OV/bench/inner.sh"; chmod +x "$OV/bench/inner.sh"
cp "$CACHE/bin/xlb-benchfwd" "$OV/bench/bin/"
[ $HAVE_XLB = 1 ] && cp "$CACHE/bin/xlb" "$OV/bench/bin/"
cat > "$OV/bench/params" <<EOF
export CASES="$CASES"
export GEN=pktgen
export DURATION=$DURATION
export WARMUP=$WARMUP
export BIN=/bench/bin
export RS_SINK=$RS_SINK
export LABEL=vm-$MODE
export DEBUG=${DEBUG:-}
export XLB_ARGS="${XLB_ARGS:---no-pin}"
EOF
(cd "$OV" && find . -mindepth 1 | cpio -o -H newc --owner=0:0 --quiet | gzip -1) > "$VMC/overlay.cpio.gz"
cat "$VMC/base.cpio.gz" "$VMC/overlay.cpio.gz" > "$VMC/run.img"

# --- boot ----------------------------------------------------------------------------------
CONSOLE="$VMC/console.log"
log "booting VM (tcg, 2 vCPU, 2G, no NIC), hard timeout ${TIMEOUT}s; console: $CONSOLE"
T0=$(date +%s.%N)
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -smp 2 -m 2G -nographic -nic none \
	-no-reboot -kernel "$VMC/vmlinuz" -initrd "$VMC/run.img" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init mitigations=off" \
	</dev/null >"$CONSOLE" 2>&1
QRC=$?
set -e
T1=$(date +%s.%N)
WALL=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')
log "qemu exit $QRC after ${WALL}s"
tr -d '\r' < "$CONSOLE" | grep -v '^XLBRESULT' | tail -n 40 >&2 || true

# --- results JSON ----------------------------------------------------------------------------
mkdir -p "$BENCH/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT="$BENCH/results/$STAMP-vm${XLB_VM_KERNEL:-6.1}-$MODE.json"
BOOT=$(tr -d '\r' < "$CONSOLE" | grep -o 'XLBVM boot.*' | sed -n 's/^XLBVM boot \([0-9.]*\)s kernel \([^ ]*\).*/\1/p' | head -1)
VMKERNEL=$(tr -d '\r' < "$CONSOLE" | grep -o 'XLBVM boot.*' | sed -n 's/^XLBVM boot [0-9.]*s kernel \([^ ]*\).*/\1/p' | head -1)
NRES=$(tr -d '\r' < "$CONSOLE" | grep -c '^XLBRESULT {' || true)
NERR=$(tr -d '\r' < "$CONSOLE" | grep '^XLBRESULT {' | grep -c '"error"' || true)
jstr() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
	printf '{\n "run": {"time": "%s", "mode": "%s", "environment": "vm", "generator": "pktgen",' "$STAMP" "$MODE"
	printf ' "duration_s": %s, "warmup_s": %s, "wall_s": %s, "qemu_exit": %s, "vm_boot_s": %s, "git": "%s", "xlb_binary": "%s"},\n' \
		"$DURATION" "$WARMUP" "$WALL" "$QRC" "${BOOT:-null}" "$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo none)" "$(jstr "$XLB_NOTE")"
	printf ' "machine": {"host_kernel": "%s", "host_cpu": "%s", "host_cpus": %s, "host_mem_kb": %s,' \
		"$(uname -r)" "$(jstr "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')")" "$(nproc)" \
		"$(awk '/MemTotal/{print $2}' /proc/meminfo)"
	printf ' "vm_kernel": "%s", "qemu": "%s", "accel": "tcg", "vm_cpus": 2, "vm_mem": "2G"},\n' \
		"${VMKERNEL:-unknown}" "$(jstr "$(qemu-system-x86_64 --version | head -1)")"
	printf ' "results": [\n'
	tr -d '\r' < "$CONSOLE" | sed -n 's/^XLBRESULT //p' | sed '$!s/$/,/' | sed 's/^/  /'
	printf ' ]\n}\n'
} > "$OUT"
log "wrote $OUT ($NRES results, $NERR errors)"
tr -d '\r' < "$CONSOLE" | sed -n 's/^XLBRESULT //p' | awk '{
	c=$0; gsub(/.*"case":"/,"",c); gsub(/".*/,"",c)
	s=$0; gsub(/.*"scheduler":"/,"",s); gsub(/".*/,"",s)
	f=$0; gsub(/.*"flows":/,"",f); gsub(/,.*/,"",f)
	p=$0; if (p ~ /"pps":/) { gsub(/.*"pps":/,"",p); gsub(/,.*/,"",p) } else p="ERR"
	u=$0; if (u ~ /"director_cpu_pct":/) { gsub(/.*"director_cpu_pct":/,"",u); gsub(/,.*/,"",u) } else u="-"
	printf "  %-5s %-4s flows=%-7s pps=%-9s director_cpu=%s%%\n", c, s, f, p, u }' >&2

if [ "$NRES" -eq 0 ] || { [ "$NERR" -gt 0 ] && [ $KEEP_GOING = 0 ]; }; then
	log "FAILED: $NRES results, $NERR errors"
	exit 1
fi
