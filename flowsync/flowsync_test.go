package flowsync_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/flowsync"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

var key = []byte("0123456789abcdef-shared-secret")

func sample(n int) []maps.Flow {
	var out []maps.Flow
	for i := range n {
		out = append(out, maps.Flow{
			Proto:   6,
			Client:  fixture.Client(i),
			VIP:     netip.MustParseAddrPort("192.168.101.100:80"),
			Backend: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 101, byte(3 + i%2)}), 80),
		})
	}
	return out
}

func TestCodec(t *testing.T) {
	now := time.Now()
	flows := sample(flowsync.MaxBatch)
	msg := flowsync.Encode(flows, now, key)
	got, err := flowsync.Decode(msg, now, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(flows) || got[5] != flows[5] || got[63] != flows[63] {
		t.Fatalf("round trip changed flows")
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
}

func load(t *testing.T, servers ...int) *loader.Datapath {
	t.Helper()
	dp, err := loader.Load(loader.Options{ConnTableSize: 4096, PersistTableSize: 1024, DirectorMAC: fixture.DirectorMAC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close(true) })
	spec := maps.ServiceSpec{Key: maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6}, Scheduler: maps.RR, TCPSec: 900, TCPFinSec: 120, UDPSec: 300}
	for _, s := range servers {
		spec.Backends = append(spec.Backends, maps.BackendSpec{
			Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 101, byte(s)}), 80),
			MAC:  net.HardwareAddr{2, 0, 0, 0, 0, byte(s)}, Weight: 1, Available: true,
		})
	}
	if err := dp.Maps.Services.Apply([]maps.ServiceSpec{spec}); err != nil {
		t.Fatal(err)
	}
	return dp
}

// send returns the last MAC byte (the real server's number) a frame went to.
func send(t *testing.T, dp *loader.Datapath, client netip.AddrPort, flags uint8) int {
	t.Helper()
	f := fixture.Frame{Src: client, Dst: netip.MustParseAddrPort("192.168.101.100:80"), Proto: 6, TCPFlags: flags}.Build()
	act, out, err := dp.Run(f)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("not forwarded: %v %d", err, act)
	}
	return int(out[5])
}

// Flows scheduled on director A reach director B over UDP (loopback) and
// B forwards their packets to the same real servers, although B has another
// real-server set (rs5 added) and so another rr order of its own.
func TestSharedFlowsKeepTheirServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to load the XDP program")
	}
	a := load(t, 3, 4)
	b := load(t, 5, 4, 3)
	ref := load(t, 5, 4, 3) // B without sharing, to show sharing matters

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
		owner[i] = send(t, a, fixture.Client(i), fixture.SYN)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sb.Stats.Inserted.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sb.Stats.Inserted.Load(); got != n {
		t.Fatalf("B recorded %d of %d shared flows (received %d, rejected %d)", got, n, sb.Stats.Received.Load(), sb.Stats.Rejected.Load())
	}
	disagree := 0
	for i := range owner {
		if s := send(t, b, fixture.Client(i), fixture.ACK); s != owner[i] {
			t.Fatalf("flow %d: A sent it to rs .%d, B to .%d", i, owner[i], s)
		}
		if send(t, ref, fixture.Client(i), fixture.ACK) != owner[i] {
			disagree++
		}
	}
	if disagree == 0 {
		t.Fatal("B's own scheduling agrees with A on every flow: the test shows nothing")
	}
	t.Logf("without sharing, %d of %d flows would have moved", disagree, n)
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
		got, err := flowsync.Decode(flowsync.Encode(flows, now, key), now, key)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := dp.Maps.Conns.Insert(got, maps.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*flowsync.MaxBatch)/b.Elapsed().Seconds(), "flows/s")
}
