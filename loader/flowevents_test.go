package loader_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// An upgrade from an xlb that published IPv4 flows only: its pins lack the
// flow_events6 ring. The new one is created beside the adopted maps, and
// new flows of both families are published, each naming the real server
// the datapath chose.
func TestFlowEventsBothFamiliesOverOlderPins(t *testing.T) {
	opts := pinnedOptions(t, "events6")
	dp, err := loader.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Close(false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(opts.PinDir, "flow_events6")); err != nil {
		t.Fatalf("pinned flow_events6: %v", err)
	}
	dp, err = loader.Load(opts)
	if err != nil {
		t.Fatalf("pins of an xlb without IPv6 flow events: %v", err)
	}
	defer dp.Close(true)
	if !dp.Adopted() {
		t.Fatal("pinned maps not adopted")
	}
	r := &rig{t: t, dp: dp, top: fixture.Seed()}
	v4, v6 := r.service(maps.RR, 1, 1), v6service(maps.RR)
	r.apply(v4, v6)
	if err := dp.Maps.Settings.FlowEvents(true); err != nil {
		t.Fatal(err)
	}
	rd, err := dp.Maps.Conns.FlowReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	vip6 := netip.AddrPortFrom(v6.Key.VIP, 80)
	want := map[netip.AddrPort]maps.Flow{}
	for i := range 4 {
		c4 := fixture.Client(i)
		s := r.syn(c4)
		want[c4] = maps.Flow{Proto: tcp, Client: c4, VIP: netip.AddrPortFrom(v4.Key.VIP, v4.Key.Port), Backend: v4.Backends[s].Addr}
		c6 := v6client(i)
		s = r.send(fixture.Frame{Src: c6, Dst: vip6, Proto: tcp, TCPFlags: fixture.SYN}.Build())
		want[c6] = maps.Flow{Proto: tcp, Client: c6, VIP: vip6, Backend: v6.Backends[s].Addr}
	}
	got := make(chan maps.Flow, len(want))
	stopped := make(chan error, 1)
	go func() {
		for {
			f, err := rd.Read()
			if err != nil {
				stopped <- err
				return
			}
			got <- f
		}
	}()
	timeout := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case f := <-got:
			w, ok := want[f.Client]
			if !ok || f != w {
				t.Fatalf("published %+v, want %+v", f, w)
			}
			delete(want, f.Client)
		case <-timeout:
			t.Fatalf("flows never published: %+v", want)
		}
	}
	// Close ends a Read that waits for flows, as stopping the daemon does.
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, ringbuf.ErrClosed) {
			t.Fatalf("Read after Close: %v, want ringbuf.ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Read still blocked a second after Close")
	}
}
