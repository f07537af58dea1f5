package flowsync_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/flowsync"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

var key = []byte("0123456789abcdef-shared-secret")

// The two families' test services: the same numbering of clients and
// real servers in each.
var (
	vip4 = netip.MustParseAddrPort("192.168.101.100:80")
	vip6 = netip.MustParseAddrPort("[2001:db8:101::100]:80")
)

func vipOf(v6 bool) netip.AddrPort {
	if v6 {
		return vip6
	}
	return vip4
}

// realServer is real server s (.s or ::s) of the family's service.
func realServer(v6 bool, s int) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0x01, 15: byte(s)}), 80)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 101, byte(s)}), 80)
}

func client(v6 bool, n int) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x99, 13: byte(n >> 16), 14: byte(n >> 8), 15: byte(n)}), uint16(1024+n%60000))
	}
	return fixture.Client(n)
}

func sampleOf(v6 bool, n int) []maps.Flow {
	var out []maps.Flow
	for i := range n {
		out = append(out, maps.Flow{Proto: 6, Client: client(v6, i), VIP: vipOf(v6), Backend: realServer(v6, 3+i%2)})
	}
	return out
}

func sample(n int) []maps.Flow { return sampleOf(false, n) }

func encode(t testing.TB, flows []maps.Flow, now time.Time) []byte {
	t.Helper()
	msg, err := flowsync.Encode(flows, now, key)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestCodec(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			now := time.Now()
			most := map[bool]int{false: flowsync.MaxBatch, true: flowsync.MaxBatch6}[v6]
			flows := sampleOf(v6, most)
			msg := encode(t, flows, now)
			if len(msg) > 1400 {
				t.Fatalf("a full datagram is %d bytes: an MTU of 1500 fragments it", len(msg))
			}
			got, err := flowsync.Decode(msg, now, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(flows) {
				t.Fatalf("round trip gave %d flows, want %d", len(got), len(flows))
			}
			for i := range flows {
				if got[i] != flows[i] {
					t.Fatalf("flow %d: sent %+v, decoded %+v", i, flows[i], got[i])
				}
			}
			for i := range msg {
				bad := bytes.Clone(msg)
				bad[i] ^= 0x40
				if _, err := flowsync.Decode(bad, now, key); err == nil {
					t.Fatalf("datagram with byte %d altered was accepted", i)
				}
			}
			if _, err := flowsync.Decode(msg, now, []byte("another-key-of-sixteen")); err == nil {
				t.Fatal("datagram accepted under the wrong key")
			}
			if _, err := flowsync.Decode(msg, now.Add(time.Minute), key); err == nil {
				t.Fatal("a minute-old datagram (replay) was accepted")
			}
			if _, err := flowsync.Decode(msg[:20], now, key); err == nil {
				t.Fatal("truncated datagram accepted")
			}
			if _, err := flowsync.Encode(sampleOf(v6, most+1), now, key); err == nil {
				t.Fatalf("%d flows encoded in one datagram", most+1)
			}
		})
	}
	mixed := append(sampleOf(false, 2), sampleOf(true, 2)...)
	if _, err := flowsync.Encode(mixed, time.Now(), key); err == nil {
		t.Fatal("IPv4 and IPv6 flows encoded in one datagram")
	}
	odd := sampleOf(true, 1)
	odd[0].Backend = realServer(false, 3)
	if _, err := flowsync.Encode(odd, time.Now(), key); err == nil {
		t.Fatal("IPv6 flow with an IPv4 real server encoded")
	}
}

// decodeV1 is Decode as xlb had it before IPv6 flows were shared (it
// knew version 1 only), kept to show what a peer still running that xlb
// makes of today's datagrams.
func decodeV1(b []byte, now time.Time, key []byte) ([]maps.Flow, error) {
	if len(b) < 16+sha256.Size || string(b[:4]) != "XLBS" {
		return nil, errors.New("not a flow sync datagram")
	}
	body, mac := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return nil, errors.New("bad authentication")
	}
	if body[4] != 1 {
		return nil, fmt.Errorf("version %d", body[4])
	}
	n := int(body[5])
	if len(body) != 16+n*20 {
		return nil, errors.New("bad length")
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[8:])))
	if d := now.Sub(sent); d > 10*time.Second || d < -10*time.Second {
		return nil, fmt.Errorf("stale or replayed (age %v)", d)
	}
	flows := make([]maps.Flow, 0, n)
	for i := range n {
		r := body[16+i*20:]
		ap := func(off int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(r[off:off+4])), binary.BigEndian.Uint16(r[off+4:]))
		}
		flows = append(flows, maps.Flow{Proto: r[0], Client: ap(2), VIP: ap(8), Backend: ap(14)})
	}
	return flows, nil
}

// Mixed versions: a peer of the previous xlb still reads IPv4 flows as
// they were sent and rejects IPv6 ones (never misreading them as IPv4).
func TestDatagramsForThePreviousVersion(t *testing.T) {
	now := time.Now()
	v4 := sampleOf(false, flowsync.MaxBatch)
	got, err := decodeV1(encode(t, v4, now), now, key)
	if err != nil {
		t.Fatalf("the previous xlb rejects IPv4 flows: %v", err)
	}
	for i := range v4 {
		if got[i] != v4[i] {
			t.Fatalf("the previous xlb reads IPv4 flow %d as %+v, sent %+v", i, got[i], v4[i])
		}
	}
	for n := 1; n <= flowsync.MaxBatch6; n++ {
		if flows, err := decodeV1(encode(t, sampleOf(true, n), now), now, key); err == nil {
			t.Fatalf("the previous xlb accepts %d IPv6 flows as IPv4 ones: %+v", n, flows)
		}
	}
}

// sign authenticates a datagram body as a peer holding the key would.
func sign(body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(bytes.Clone(body))
}

// recorder is an Inserter that keeps what it is given.
type recorder struct {
	mu    sync.Mutex
	flows []maps.Flow
}

func (r *recorder) Insert(flows []maps.Flow, _ uint64) (int, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flows = append(r.flows, flows...)
	return len(flows), 0, nil
}

func (r *recorder) got() []maps.Flow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]maps.Flow(nil), r.flows...)
}

// Authenticated datagrams of a version this xlb does not know (a newer
// peer's), or whose length does not match their version's records, are
// rejected and counted; nothing of them is recorded.
func TestUnknownVersionsRejected(t *testing.T) {
	rec := &recorder{}
	s, err := flowsync.New(flowsync.Config{Listen: "127.0.0.1:0", Key: key}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, nil)
	conn, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	now := time.Now()
	v6 := encode(t, sampleOf(true, 3), now)
	body := v6[:len(v6)-sha256.Size]
	var bad [][]byte
	for _, ver := range []byte{0, 3, 255} {
		b := bytes.Clone(body)
		b[4] = ver
		bad = append(bad, sign(b))
	}
	// IPv6 records under version 1 (what a peer that misread them as
	// IPv4 would take them for), and IPv4 records under version 2: the
	// length gives them away.
	b := bytes.Clone(body)
	b[4] = 1
	bad = append(bad, sign(b))
	v4 := encode(t, sampleOf(false, 3), now)
	b = bytes.Clone(v4[:len(v4)-sha256.Size])
	b[4] = 2
	bad = append(bad, sign(b))
	for i, d := range bad {
		if flows, err := flowsync.Decode(d, now, key); err == nil {
			t.Fatalf("datagram %d decoded: %+v", i, flows)
		}
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	// A good one after them shows they were all processed.
	if _, err := conn.Write(v6); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats.Received.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r := s.Stats.Rejected.Load(); r != uint64(len(bad)) {
		t.Fatalf("%d datagrams rejected, want %d", r, len(bad))
	}
	got := rec.got()
	if len(got) != 3 {
		t.Fatalf("%d flows recorded, want the good datagram's 3: %+v", len(got), got)
	}
	for i, f := range sampleOf(true, 3) {
		if got[i] != f {
			t.Fatalf("recorded %+v, sent %+v", got[i], f)
		}
	}
}

func load(t *testing.T, v6 bool, servers ...int) *loader.Datapath {
	t.Helper()
	dp, err := loader.Load(loader.Options{ConnTableSize: 4096, PersistTableSize: 1024, DirectorMAC: fixture.DirectorMAC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close(true) })
	vip := vipOf(v6)
	spec := maps.ServiceSpec{Key: maps.Key{VIP: vip.Addr(), Port: vip.Port(), Proto: 6}, Scheduler: maps.RR, TCPSec: 900, TCPFinSec: 120, UDPSec: 300}
	for _, s := range servers {
		spec.Backends = append(spec.Backends, maps.BackendSpec{
			Addr: realServer(v6, s),
			MAC:  net.HardwareAddr{2, 0, 0, 0, 0, byte(s)}, Weight: 1, Available: true,
		})
	}
	if err := dp.Maps.Services.Apply([]maps.ServiceSpec{spec}); err != nil {
		t.Fatal(err)
	}
	return dp
}

// send returns the last MAC byte (the real server's number) a frame to
// the VIP of client's family went to.
func send(t *testing.T, dp *loader.Datapath, client netip.AddrPort, flags uint8) int {
	t.Helper()
	f := fixture.Frame{Src: client, Dst: vipOf(client.Addr().Is6()), Proto: 6, TCPFlags: flags}.Build()
	act, out, err := dp.Run(f)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("not forwarded: %v %d", err, act)
	}
	return int(out[5])
}

// Flows scheduled on director A reach director B over UDP (loopback) and
// B forwards their packets to the same real servers, although B has another
// real-server set (rs5 added) and so another rr order of its own: IPv4
// flows and IPv6 flows alike.
func TestSharedFlowsKeepTheirServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to load the XDP program")
	}
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) { sharedFlowsKeepTheirServer(t, v6) })
	}
}

func sharedFlowsKeepTheirServer(t *testing.T, v6 bool) {
	a := load(t, v6, 3, 4)
	b := load(t, v6, 5, 4, 3)
	ref := load(t, v6, 5, 4, 3) // B without sharing, to show sharing matters

	if err := a.Maps.Settings.FlowEvents(true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sb, err := flowsync.New(flowsync.Config{Listen: "127.0.0.1:0", Key: key}, b.Maps.Conns, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := flowsync.New(flowsync.Config{Listen: "127.0.0.1:0", Peers: []string{sb.Addr().String()}, Key: key}, a.Maps.Conns, nil)
	if err != nil {
		t.Fatal(err)
	}
	go sb.Run(ctx, nil)
	events := make(chan maps.Flow, 1024)
	go sa.Run(ctx, events)
	rd, err := a.Maps.Conns.FlowReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	go func() {
		for {
			f, err := rd.Read()
			if err != nil {
				return
			}
			events <- f
		}
	}()

	const n = 300
	owner := make([]int, n)
	for i := range owner {
		owner[i] = send(t, a, client(v6, i), fixture.SYN)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sb.Stats.Inserted.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sb.Stats.Inserted.Load(); got != n {
		t.Fatalf("B recorded %d of %d shared flows (received %d, rejected %d, unknown %d)", got, n,
			sb.Stats.Received.Load(), sb.Stats.Rejected.Load(), sb.Stats.Unknown.Load())
	}
	disagree := 0
	for i := range owner {
		if s := send(t, b, client(v6, i), fixture.ACK); s != owner[i] {
			t.Fatalf("flow %d: A sent it to rs .%d, B to .%d", i, owner[i], s)
		}
		if send(t, ref, client(v6, i), fixture.ACK) != owner[i] {
			disagree++
		}
	}
	if disagree == 0 {
		t.Fatal("B's own scheduling agrees with A on every flow: the test shows nothing")
	}
	t.Logf("without sharing, %d of %d flows would have moved", disagree, n)
	conns, err := b.Maps.Conns.List(maps.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != n || conns[0].Client.Addr().Is6() != v6 {
		t.Fatalf("B lists %d flows, want the %d shared ones of its family", len(conns), n)
	}
}

// IPv6 flows naming a service or real server this director lacks are
// skipped and counted, as IPv4 ones are; a flow it already holds live is
// left alone (its real server kept), an idled-out one replaced.
func TestInsertIPv6(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to load the XDP program")
	}
	dp := load(t, true, 3, 4)
	now := maps.Now()
	known := sampleOf(true, 2) // to ::3 and ::4
	otherServer := maps.Flow{Proto: 6, Client: client(true, 10), VIP: vip6, Backend: realServer(true, 9)}
	otherService := maps.Flow{Proto: 6, Client: client(true, 11), VIP: netip.MustParseAddrPort("[2001:db8:101::200]:80"), Backend: realServer(true, 3)}
	otherProto := maps.Flow{Proto: 17, Client: client(true, 12), VIP: vip6, Backend: realServer(true, 3)}
	mixed := maps.Flow{Proto: 6, Client: client(false, 13), VIP: vip6, Backend: realServer(true, 3)}
	mapped := maps.Flow{Proto: 6, Client: netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("10.0.0.1").As16()), 1000), VIP: vip6, Backend: realServer(true, 3)}
	ins, unk, err := dp.Maps.Conns.Insert(append(known, otherServer, otherService, otherProto, mixed, mapped), now)
	if err != nil {
		t.Fatal(err)
	}
	if ins != 2 || unk != 5 {
		t.Fatalf("inserted %d, unknown %d; want 2 and 5", ins, unk)
	}
	for i, f := range known {
		if s := send(t, dp, f.Client, fixture.ACK); s != 3+i%2 {
			t.Fatalf("shared flow %d to rs ::%d went to ::%d", i, 3+i%2, s)
		}
	}
	// The same flows again, now to the other real servers: left alone.
	again := sampleOf(true, 2)
	again[0].Backend, again[1].Backend = again[1].Backend, again[0].Backend
	if ins, _, err := dp.Maps.Conns.Insert(again, now); err != nil || ins != 0 {
		t.Fatalf("re-sharing live flows inserted %d (%v), want 0", ins, err)
	}
	if s := send(t, dp, known[0].Client, fixture.ACK); s != 3 {
		t.Fatalf("a live flow was moved by a peer's copy: now on ::%d", s)
	}
	// An hour on, they have idled out and a peer's copy replaces them.
	later := now + uint64(time.Hour)
	if ins, _, err := dp.Maps.Conns.Insert(again, later); err != nil || ins != 2 {
		t.Fatalf("re-sharing idled-out flows inserted %d (%v), want 2", ins, err)
	}
}

// BenchmarkSharingPath measures the receive side of flow sharing: decode
// an authenticated datagram of 64 flows and record them in a connection
// table. Reports flows/s.
func BenchmarkSharingPath(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipped: needs root to load the XDP program")
	}
	dp, err := loader.Load(loader.Options{ConnTableSize: 1 << 22, PersistTableSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer dp.Close(true)
	spec := maps.ServiceSpec{Key: maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6}, Scheduler: maps.RR, TCPSec: 900, TCPFinSec: 120, UDPSec: 300}
	for _, s := range []int{3, 4} {
		spec.Backends = append(spec.Backends, maps.BackendSpec{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 101, byte(s)}), 80), MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(s)}, Weight: 1, Available: true})
	}
	if err := dp.Maps.Services.Apply([]maps.ServiceSpec{spec}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		flows := sample(flowsync.MaxBatch)
		for j := range flows {
			flows[j].Client = fixture.Client(i*flowsync.MaxBatch + j)
		}
		got, err := flowsync.Decode(encode(b, flows, now), now, key)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := dp.Maps.Conns.Insert(got, maps.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*flowsync.MaxBatch)/b.Elapsed().Seconds(), "flows/s")
}
