package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// craftICMP sends, from the client, an ICMP "fragmentation needed" about a
// packet from VIP:80 to the client's port cport, as a router on the way
// back from a real server would.
const craftICMP = `
import socket, struct, sys
vip, client, cport = sys.argv[1], sys.argv[2], int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 1500, 1, 0x4000, 64, 6, 0, socket.inet_aton(vip), socket.inet_aton(client))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
tcp8 = struct.pack('!HHI', 80, cport, 12345)
icmp = struct.pack('!BBHHH', 3, 4, 0, 0, 1400) + ip + tcp8
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(icmp, (vip, 0))
`

// An ICMP "fragmentation needed" for a live flow arrives at that flow's
// real server (so path MTU discovery works through the director), not at
// the other one.
func TestICMPTooBigReachesFlowsServer(t *testing.T) {
	l := newLab(t, lab.Options{BigFileBytes: 4 << 20, BigRate: "1m"})
	startXLB(t, l, 0, rrConfig)
	caps := []func() []string{}
	for _, rs := range l.RealServers() {
		caps = append(caps, startCapture(t, l, rs, "icmp[icmptype] == 3"))
	}
	const cport = 40123
	hdr := filepath.Join(l.Dir(), "dl.hdr")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := l.Exec(ctx, l.Client(), "curl", "-sS", "--fail", "--max-time", "20", "--local-port", strconv.Itoa(cport),
			"-D", hdr, "-o", "/dev/null", "http://"+l.VIP().String()+"/big")
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := l.Exec(ctx, l.Client(), "python3", "-c", craftICMP, l.VIP().String(), l.Client().IP.String(), strconv.Itoa(cport)); err != nil {
		t.Fatalf("send icmp: %v %s", err, out)
	}
	if err := <-done; err != nil {
		t.Fatalf("download: %v", err)
	}
	h, _ := os.ReadFile(hdr)
	owner := header(string(h), "X-Real-Server")
	for i, stop := range caps {
		lines := stop()
		name := l.RealServers()[i].Name
		got := len(lines) > 0
		if got != (name == owner) {
			t.Fatalf("ICMP error seen on %s: %v (the flow is on %s):\n%s", name, got, owner, strings.Join(lines, "\n"))
		}
	}
}

const udpSink = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE: a slow sink must not drop
s.bind(('0.0.0.0', 9000))
f = open(sys.argv[1], 'a')
while True:
    d, a = s.recvfrom(65535)
    f.write('%d %d\n' % (len(d), a[1])); f.flush()
`

const udpSend = `
import socket, sys, time
vip, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    time.sleep(0.002)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 41000 + i))
    s.sendto(bytes([i % 256]) * 100, (vip, 9000))
    time.sleep(0.002)
    s.sendto(bytes([i % 256]) * 4000, (vip, 9000))
    s.close()
`

// Fragmented UDP datagrams to the VIP (4000 bytes over a 1500 MTU: three
// fragments each) reassemble at one real server, and at the one their
// flow's unfragmented datagrams go to: 40 client sockets each send 100
// bytes, then 4000; rr spreads the 40 flows over both servers, and each
// socket's two datagrams meet at one of them.
func TestFragmentedUDPReassembles(t *testing.T) {
	l := newLab(t, lab.Options{})
	cfg := `services:
  - vip: 192.168.101.100
    port: 9000
    protocol: udp
    scheduler: rr
    real_servers:
      - {address: 192.168.101.3, port: 9000}
      - {address: 192.168.101.4, port: 9000}
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    real_servers:
      - {address: 192.168.101.3, port: 80}
      - {address: 192.168.101.4, port: 80}
`
	startXLB(t, l, 0, cfg)
	var logs []string
	for _, rs := range l.RealServers() {
		f := filepath.Join(l.Dir(), rs.Name+".udp")
		logs = append(logs, f)
		if _, err := l.Start(rs, "python3", "-c", udpSink, f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	const n = 40
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := l.Exec(ctx, l.Client(), "python3", "-c", udpSend, l.VIP().String(), strconv.Itoa(n)); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	total := 0
	per := []int{}
	// Which server each client port's datagrams reached, by size.
	var small, large map[string]int
	deadline := time.Now().Add(5 * time.Second)
	for {
		total, per = 0, per[:0]
		small, large = map[string]int{}, map[string]int{}
		for i, f := range logs {
			b, _ := os.ReadFile(f)
			c := 0
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if line == "" {
					continue
				}
				size, port, _ := strings.Cut(line, " ")
				switch size {
				case "100":
					small[port] = i
				case "4000":
					large[port] = i
					c++
				default:
					t.Fatalf("a real server received a partial datagram: %q", line)
				}
			}
			per = append(per, c)
			total += c
		}
		if total >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if total != n {
		st, _ := l.Exec(ctx, l.Directors()[0], "ethtool", "-S", "eth0")
		ns, _ := l.Exec(ctx, l.RealServers()[0], "nstat", "-az", "IpReasm*", "UdpRcvbufErrors", "UdpInErrors", "IpInDiscards")
		ns2, _ := l.Exec(ctx, l.RealServers()[1], "nstat", "-az", "IpReasm*", "UdpRcvbufErrors", "UdpInErrors", "IpInDiscards")
		m, _ := l.Exec(ctx, l.Directors()[0], "curl", "-s", "http://127.0.0.1:9273/metrics")
		var dp []string
		for _, line := range strings.Split(string(m), "\n") {
			if strings.HasPrefix(line, "xlb_datapath") {
				dp = append(dp, line)
			}
		}
		t.Logf("director:\n%s\nrs1:\n%s\nrs2:\n%s\n%s", st, ns, ns2, strings.Join(dp, "\n"))
		t.Fatalf("%d of %d fragmented datagrams reassembled (per server %v)", total, n, per)
	}
	for port, at := range large {
		if s, ok := small[port]; !ok || s != at {
			t.Fatalf("client port %s: its fragmented datagram reached server %d, its small one %v (seen: %v)", port, at, s, ok)
		}
	}
	if per[0] != n/2 || per[1] != n/2 {
		t.Fatalf("rr sent the %d flows' fragmented datagrams %v, want %d each", n, per, n/2)
	}
	t.Logf("reassembled per server: %v", fmt.Sprint(per))
}
