#!/bin/sh
# xlb throughput benchmark, inner part: builds the DR lab in network namespaces, runs
# one director case after another and prints one "XLBRESULT {json}" line per case.
# Runs inside the benchmark VM (GEN=pktgen, busybox sh) and on the host (GEN=live,
# generator = xlb-benchgen with BPF_F_TEST_XDP_LIVE_FRAMES). POSIX sh only.
#
# Topology (every node is a namespace, every link a veth whose peer sits on one bridge):
#
#   client .50 (eth0) ─┐
#   director .8 + VIP  ├─ br0 (namespace $NSP-lan)
#   rs3 .3, rs4 .4     ┘   real servers hold the VIP on lo, arp_ignore=1/arp_announce=2
#
# Environment:
#   CASES      "ipvs:rr:1000 fwd:-:1000 xlb:rr:1000 ..."  (director:scheduler:flows)
#   GEN        pktgen | live
#   DURATION   measured seconds per case (default 5); WARMUP seconds before (default 1)
#   BIN        folder with xlb-benchfwd, xlb-benchgen, xlb (default /bench/bin)
#   NSP        namespace prefix (default xbb)
#   RS_SINK    xdpdrop (XDP_DROP on the real servers' eth0, default) | stack
#   GEN_CPU    CPU of the generator (default 0); DIR_CPU CPU of the director's
#              receive processing (default 1): RPS for IPVS, threaded NAPI for XDP
#   PKT_SIZE   frame size without FCS (default 60)
#   XDP_MODE   native (default) | generic
#   LABEL      free text copied to each result
#   XLB_ARGS   extra arguments of `xlb run` (default --no-pin)

CASES=${CASES:-"ipvs:rr:1000 fwd:-:1000"}
GEN=${GEN:-pktgen}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
BIN=${BIN:-/bench/bin}
NSP=${NSP:-xbb}
RS_SINK=${RS_SINK:-xdpdrop}
GEN_CPU=${GEN_CPU:-0}
DIR_CPU=${DIR_CPU:-1}
PKT_SIZE=${PKT_SIZE:-60}
XDP_MODE=${XDP_MODE:-native}
MAXPKTS=${MAXPKTS:-500000000}

NET=192.168.101
VIP=$NET.100
CLI_IP=$NET.50
DIR_IP=$NET.8
RS_IPS="$NET.3 $NET.4"
SRC_BASE=200 # flows come from $NET.200, .201, ...
mac() { printf '02:00:c0:a8:65:%02x' "$1"; }
CLI_MAC=$(mac 50)
DIR_MAC=$(mac 8)

# busybox sh (Debian's busybox-static) prefers its own applets: name the real iproute2.
IP=ip
for p in /sbin/ip /usr/sbin/ip /bin/ip /usr/bin/ip; do [ -x $p ] && [ ! -L $p ] && { IP=$p; break; }; done

PIDS=""
say() { echo "[inner $(cut -d" " -f1 /proc/uptime)] $*" >&2; }
nsx() { ns=$1; shift; $IP netns exec "$NSP-$ns" "$@"; }
sysw() { nsx "$1" sh -c "echo $3 > /proc/sys/$2"; }

# --- topology -------------------------------------------------------------------------
node() { # name last-octet
	$IP netns add "$NSP-$1"
	$IP link add eth0 netns "$NSP-$1" address "$(mac "$2")" type veth peer name "p-$1" netns "$NSP-lan"
	nsx lan $IP link set "p-$1" master br0 up
	# static forwarding entries and no learning: a frame bounced back by a director
	# with a foreign source MAC must not move that MAC to the director's port
	nsx lan bridge fdb replace "$(mac "$2")" dev "p-$1" master static
	nsx lan bridge link set dev "p-$1" learning off
	sysw "$1" net/ipv6/conf/all/disable_ipv6 1
	sysw "$1" net/ipv6/conf/default/disable_ipv6 1
	nsx "$1" $IP link set lo up
	nsx "$1" $IP link set eth0 up
	nsx "$1" $IP addr add "$NET.$2/24" dev eth0
}

topo_up() {
	topo_down 2>/dev/null
	$IP netns add "$NSP-lan"
	nsx lan $IP link set lo up
	sysw lan net/ipv6/conf/all/disable_ipv6 1
	sysw lan net/ipv6/conf/default/disable_ipv6 1
	nsx lan $IP link add br0 type bridge ageing_time 30000 stp_state 0
	nsx lan $IP link set br0 up
	node cli 50
	node dir 8
	for ip in $RS_IPS; do node "rs${ip##*.}" "${ip##*.}"; done
	# client: the VIP's MAC is the director's
	nsx cli $IP neigh replace $VIP lladdr "$DIR_MAC" dev eth0 nud permanent
	# director: VIP /32 on eth0, forwarding, static neighbours for the real servers
	nsx dir $IP addr add $VIP/32 dev eth0
	sysw dir net/ipv4/ip_forward 1
	for ip in $RS_IPS; do
		nsx dir $IP neigh replace "$ip" lladdr "$(mac "${ip##*.}")" dev eth0 nud permanent
	done
	nsx dir $IP neigh replace $CLI_IP lladdr "$CLI_MAC" dev eth0 nud permanent
	# real servers: VIP on lo, ARP suppression (the seed's lvsdr script)
	for ip in $RS_IPS; do
		rs="rs${ip##*.}"
		nsx $rs $IP addr add $VIP/32 dev lo
		for c in all lo; do
			sysw $rs net/ipv4/conf/$c/arp_ignore 1
			sysw $rs net/ipv4/conf/$c/arp_announce 2
		done
		sysw $rs net/ipv4/conf/all/rp_filter 0
		sysw $rs net/ipv4/conf/eth0/rp_filter 0
		if [ "$RS_SINK" = xdpdrop ]; then
			bg $rs "$BIN/xlb-benchfwd" --iface eth0 --prog drop --xdp-mode "$XDP_MODE" --timeout 900s
		fi
	done
}

topo_down() {
	for n in cli dir rs3 rs4 lan; do $IP netns del "$NSP-$n" 2>/dev/null; done
	return 0
}

# --- processes we start -------------------------------------------------------------------
# bg NS CMD...: start CMD in namespace NS in the background; `ip netns exec` execs
# CMD, so the PID we record is CMD's own and we kill exactly what we started.
bg() { ns=$1; shift; $IP netns exec "$NSP-$ns" "$@" >>/tmp/bg.$$.log 2>&1 & PIDS="$PIDS $!"; LASTPID=$!; }
kill_ours() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
}

uptime_s() { cut -d. -f1 /proc/uptime; }
wait_xdp() { # ns iface seconds [pid that must stay alive]
	end=$(($(uptime_s) + $3))
	while [ "$(uptime_s)" -lt $end ]; do
		nsx "$1" $IP link show "$2" 2>/dev/null | grep -q 'xdp' && return 0
		if [ -n "$4" ] && ! kill -0 "$4" 2>/dev/null; then return 1; fi
		sleep 0.2
	done
	return 1
}

# --- counters ---------------------------------------------------------------------------------
stat_of() { nsx "$1" cat "/sys/class/net/$2/statistics/$3"; }
cpu_line() { grep "^cpu$1 " /proc/stat; }
cpu_busy_idle() { # prints "busy total" jiffies of cpu$1
	cpu_line "$1" | awk '{t=0; for(i=2;i<=NF;i++) t+=$i; idle=$5+$6; print t-idle, t}'
}
now_ns() { awk '{printf "%.0f", $1*1000000000}' /proc/uptime 2>/dev/null; }
now_s() { date +%s.%N 2>/dev/null | grep -v N || cut -d' ' -f1 /proc/uptime; }

sample() { # sets S_<var>
	S_t=$(cut -d' ' -f1 /proc/uptime)
	S_rs=0
	S_rsl=""
	for ip in $RS_IPS; do
		v=$(stat_of "rs${ip##*.}" eth0 rx_packets)
		S_rs=$((S_rs + v)); S_rsl="$S_rsl $v"
	done
	S_tx=$(stat_of cli eth0 tx_packets)
	S_drop=$(stat_of lan p-dir tx_dropped)
	set -- $(cpu_busy_idle "$GEN_CPU"); S_g_busy=$1; S_g_tot=$2
	set -- $(cpu_busy_idle "$DIR_CPU"); S_d_busy=$1; S_d_tot=$2
	set -- $(cpu_busy_idle ""); S_a_busy=$1; S_a_tot=$2
	S_proc=0
	if [ -n "$DIRPROC" ] && [ -r /proc/$DIRPROC/stat ]; then
		S_proc=$(awk '{print $14+$15}' /proc/$DIRPROC/stat)
	fi
}

# --- generator ---------------------------------------------------------------------------------
flows_split() { # flows -> "nip nport"
	f=$1
	if [ "$f" -le 50000 ]; then echo "1 $f"; return; fi
	nip=$(((f + 49999) / 50000))
	echo "$nip $(((f + nip - 1) / nip))"
}

gen_start() { # flows seconds
	set -- $(flows_split "$1") "$2"
	nip=$1; nport=$2; secs=$3
	case "$GEN" in
	pktgen)
		# pktgen's random (and sequential) source address and port ranges exclude
		# their max: max = min + count. (With max = min + count - 1, "1000 flows"
		# were 999 and "100000 flows" over two addresses were 50000 from one.)
		PG=/proc/net/pktgen
		nsx cli sh -c "
			echo rem_device_all > $PG/kpktgend_$GEN_CPU
			echo 'add_device eth0' > $PG/kpktgend_$GEN_CPU
			D=$PG/eth0
			echo 'count $MAXPKTS' > \$D
			echo 'clone_skb 0' > \$D
			echo 'burst 1' > \$D
			echo 'pkt_size $PKT_SIZE' > \$D
			echo 'delay 0' > \$D
			echo 'dst $VIP' > \$D
			echo 'dst_mac $DIR_MAC' > \$D
			echo 'src_min $NET.$SRC_BASE' > \$D
			echo 'src_max $NET.$((SRC_BASE + nip))' > \$D
			echo 'udp_src_min 1024' > \$D
			echo 'udp_src_max $((1024 + nport))' > \$D
			echo 'udp_dst_min 80' > \$D
			echo 'udp_dst_max 80' > \$D
			echo 'flag UDPSRC_RND' > \$D
			echo 'flag IPSRC_RND' > \$D
			echo 'flag NO_TIMESTAMP' > \$D 2>/dev/null
		" || return 1
		bg cli sh -c "echo start > $PG/pgctrl"
		GENPID=$LASTPID
		;;
	live)
		# veth's ndo_xdp_xmit needs NAPI (an XDP program) on the peer
		bg lan "$BIN/xlb-benchfwd" --iface p-cli --prog pass --xdp-mode "$XDP_MODE" --timeout 900s
		wait_xdp lan p-cli 20 || return 1
		bg cli taskset -c "$GEN_CPU" "$BIN/xlb-benchgen" --iface eth0 --dst-mac "$DIR_MAC" \
			--src-ip "$NET.$SRC_BASE" --dst-ip $VIP --dst-port 80 --flows "$1" \
			--size "$PKT_SIZE" --duration "${secs}s" --packets "$MAXPKTS"
		GENPID=$LASTPID
		;;
	*) say "unknown GEN $GEN"; return 1 ;;
	esac
}

gen_stop() {
	case "$GEN" in
	pktgen) nsx cli sh -c "echo stop > /proc/net/pktgen/pgctrl" 2>/dev/null ;;
	live) kill "$GENPID" 2>/dev/null ;;
	esac
	wait "$GENPID" 2>/dev/null
}

# --- directors ---------------------------------------------------------------------------------
steer_rps() { # IPVS path: RPS moves the director's receive processing to DIR_CPU
	mask=$(printf '%x' $((1 << DIR_CPU)))
	nsx dir sh -c "echo $mask > /sys/class/net/eth0/queues/rx-0/rps_cpus"
}

steer_napi() { # XDP path: threaded NAPI on the director's eth0, pinned to DIR_CPU
	nsx dir sh -c "echo 1 > /sys/class/net/eth0/threaded" 2>/dev/null || { say "threaded NAPI failed"; return 1; }
	DIRPROC=""
	for c in /proc/[0-9]*/comm; do
		case "$(cat "$c" 2>/dev/null)" in napi/eth0-*)
			p=${c#/proc/}; p=${p%/comm}
			taskset -p "$(printf '%x' $((1 << DIR_CPU)))" "$p" >/dev/null 2>&1
			DIRPROC=$p ;;
		esac
	done
}

ipvs_up() { # scheduler
	nsx dir ipvsadm -C
	nsx dir ipvsadm -A -u $VIP:80 -s "$1" || return 1
	w=1
	for ip in $RS_IPS; do
		[ "$1" = wrr ] && w=$((w + 1)) # wrr: weights 2 and 3
		nsx dir ipvsadm -a -u $VIP:80 -r "$ip":80 -g -w $w || return 1
	done
	steer_rps
}

fwd_up() {
	set -- $RS_IPS
	bg lan "$BIN/xlb-benchfwd" --iface p-dir --prog pass --xdp-mode "$XDP_MODE" --timeout 900s
	bg dir "$BIN/xlb-benchfwd" --iface eth0 --prog fwd --dst-mac "$(mac "${1##*.}")" --vip $VIP --xdp-mode "$XDP_MODE" --timeout 900s
	wait_xdp dir eth0 20 || { say "fwd did not attach"; grep -v "^	" /tmp/bg.$$.log | tail -20 >&2; return 1; }
	wait_xdp lan p-dir 20 || return 1
	steer_napi
}

xlb_up() { # scheduler
	[ -x "$BIN/xlb" ] || { say "no $BIN/xlb binary"; return 2; }
	cfg=/tmp/xlb-bench.yaml
	{
		echo "services:"
		echo "  - vip: $VIP"
		echo "    port: 80"
		echo "    protocol: udp"
		echo "    scheduler: $1"
		echo "    real_servers:"
		w=1
		for ip in $RS_IPS; do
			[ "$1" = wrr ] && w=$((w + 1))
			echo "      - {address: $ip, port: 80, weight: $w}"
		done
	} > $cfg
	bg lan "$BIN/xlb-benchfwd" --iface p-dir --prog pass --xdp-mode "$XDP_MODE" --timeout 900s
	# --no-pin: bpffs is shared by all namespaces, never touch another xlb's pins
	bg dir "$BIN/xlb" run --iface eth0 --config $cfg --xdp-mode "$XDP_MODE" ${XLB_ARGS:---no-pin}
	XLBPID=$LASTPID
	# Under TCG the verifier runs ~100x slower than on the host (seconds
	# there); on failure show xlb's own words, verifier log included.
	wait_xdp dir eth0 120 $XLBPID || { say "xlb did not attach XDP"; tail -60 /tmp/bg.$$.log >&2; return 1; }
	wait_xdp lan p-dir 20 || return 1
	sleep 1 # let xlb fill its maps
	steer_napi
}

# --- one case ----------------------------------------------------------------------------------
run_case() { # director scheduler flows
	d=$1; s=$2; f=$3
	DIRPROC=""
	say "case $d/$s flows=$f"
	topo_up || { say "topology failed"; return 1; }
	rc=0
	case "$d" in
	ipvs) ipvs_up "$s" || rc=$? ;;
	fwd) fwd_up || rc=$? ;;
	xlb) xlb_up "$s" || rc=$? ;;
	*) say "unknown director $d"; rc=1 ;;
	esac
	err=""
	say "director up rc=$rc"
	if [ $rc = 0 ]; then
		gen_start "$f" $((WARMUP + DURATION + 10)) || rc=1
	fi
	if [ $rc = 0 ]; then
		sleep "$WARMUP"
		sample; A_t=$S_t; A_rs=$S_rs; A_rsl=$S_rsl; A_tx=$S_tx; A_drop=$S_drop
		A_gb=$S_g_busy; A_gt=$S_g_tot; A_db=$S_d_busy; A_dt=$S_d_tot; A_ab=$S_a_busy; A_at=$S_a_tot; A_p=$S_proc
		sleep "$DURATION"
		sample
		gen_stop
		say "measured"
		if [ -n "$DEBUG" ]; then
			for n in cli lan dir rs3 rs4; do echo "--- $n" >&2; nsx $n $IP -s link >&2; done
			nsx lan bridge fdb show br br0 >&2
			nsx lan bridge link show >&2
			nsx dir ethtool -S eth0 >&2 2>/dev/null
			nsx lan ethtool -S p-dir >&2 2>/dev/null
		fi
		[ "$d" = ipvs ] && conns=$(nsx dir cat /proc/net/ip_vs_conn 2>/dev/null | wc -l) || conns=0
		awk -v d="$d" -v s="$s" -v f="$f" -v gen="$GEN" -v label="$LABEL" -v mode="$XDP_MODE" \
			-v t0="$A_t" -v t1="$S_t" -v rs0="$A_rs" -v rs1="$S_rs" -v rsl0="$A_rsl" -v rsl1="$S_rsl" \
			-v tx0="$A_tx" -v tx1="$S_tx" -v dr0="$A_drop" -v dr1="$S_drop" \
			-v gb0="$A_gb" -v gb1="$S_g_busy" -v gt0="$A_gt" -v gt1="$S_g_tot" \
			-v db0="$A_db" -v db1="$S_d_busy" -v dt0="$A_dt" -v dt1="$S_d_tot" \
			-v ab0="$A_ab" -v ab1="$S_a_busy" -v at0="$A_at" -v at1="$S_a_tot" \
			-v p0="$A_p" -v p1="$S_proc" -v hasp="$DIRPROC" -v conns="$conns" -v size="$PKT_SIZE" \
			-v gcpu="$GEN_CPU" -v dcpu="$DIR_CPU" -v sink="$RS_SINK" 'BEGIN {
				dt = t1 - t0; if (dt <= 0) dt = 1
				pps = (rs1 - rs0) / dt
				split(rsl0, a, " "); split(rsl1, b, " ")
				per = ""; for (i = 1; i in b; i++) per = per (i > 1 ? "," : "") sprintf("%.0f", (b[i] - a[i]) / dt)
				dcpu_pct = (dt1 > dt0) ? 100 * (db1 - db0) / (dt1 - dt0) : -1
				gcpu_pct = (gt1 > gt0) ? 100 * (gb1 - gb0) / (gt1 - gt0) : -1
				acpu_pct = (at1 > at0) ? 100 * (ab1 - ab0) / (at1 - at0) : -1
				napi_pct = hasp != "" ? (p1 - p0) / dt : -1   # jiffies (HZ=100) per second = %
				nspp = (pps > 0 && dcpu_pct >= 0) ? dcpu_pct / 100 * 1e9 / pps : -1
				printf "XLBRESULT {\"case\":\"%s\",\"scheduler\":\"%s\",\"flows\":%d,\"generator\":\"%s\",\"xdp_mode\":\"%s\",\"pkt_size\":%d,", d, s, f, gen, mode, size
				printf "\"seconds\":%.3f,\"pps\":%.0f,\"pps_per_rs\":[%s],\"gen_pps\":%.0f,\"dir_in_drops_ps\":%.0f,", dt, pps, per, (tx1 - tx0) / dt, (dr1 - dr0) / dt
				printf "\"director_cpu_pct\":%.1f,\"director_cpu\":%d,\"director_ns_per_pkt\":%.0f,\"napi_thread_cpu_pct\":%.1f,", dcpu_pct, dcpu, nspp, napi_pct
				printf "\"gen_cpu_pct\":%.1f,\"gen_cpu\":%d,\"all_cpu_pct\":%.1f,\"ipvs_conns\":%d,\"rs_sink\":\"%s\",\"label\":\"%s\"}\n", gcpu_pct, gcpu, acpu_pct, (conns > 1 ? conns - 1 : 0), sink, label
			}'
	else
		echo "XLBRESULT {\"case\":\"$d\",\"scheduler\":\"$s\",\"flows\":$f,\"generator\":\"$GEN\",\"error\":\"setup failed rc=$rc\",\"label\":\"$LABEL\"}"
	fi
	[ "$d" = ipvs ] && nsx dir ipvsadm -C 2>/dev/null
	kill_ours
	topo_down
}

trap 'kill_ours; topo_down; [ -n "$DEBUG" ] || rm -f /tmp/bg.$$.log' EXIT INT TERM
for c in $CASES; do
	IFS=: read -r d s f <<EOF
$c
EOF
	run_case "$d" "$s" "$f"
done
