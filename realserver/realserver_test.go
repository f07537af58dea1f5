package realserver

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/xlb-project/xlb/loader"
	"golang.org/x/sys/unix"
)

// inThrowawayNetns runs fn on a locked OS thread inside a fresh, unnamed
// network namespace. The namespace disappears when its last reference (the
// handle and the thread) goes away, so nothing is left behind even if the
// test fails.
func inThrowawayNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("create netns: %v", err)
	}
	defer func() {
		ns.Close()
		// Only hand the thread back to the scheduler if it is back home;
		// otherwise it stays locked and dies with the goroutine.
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}

func loAddrs(t *testing.T) map[netip.Addr]netlink.Addr {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo: %v", err)
	}
	addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	m := map[netip.Addr]netlink.Addr{}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		m[ip.Unmap()] = a
	}
	return m
}

func sysctl(t *testing.T, key string) string {
	t.Helper()
	v, err := readSysctl(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func setSysctl(t *testing.T, key, v string) {
	t.Helper()
	if err := writeSysctl(key, v); err != nil {
		t.Fatal(err)
	}
}

func TestUpDownRestoresExactly(t *testing.T) {
	stateDir := t.TempDir()
	inThrowawayNetns(t, func() {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			t.Fatal(err)
		}
		// Pre-existing state that Down must give back untouched.
		pre := netip.MustParseAddr("10.9.9.9")
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: pre.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			t.Fatal(err)
		}
		before := map[string]string{
			"net/ipv4/conf/lo/arp_ignore":    "2",
			"net/ipv4/conf/all/arp_ignore":   "0",
			"net/ipv4/conf/lo/arp_announce":  "1",
			"net/ipv4/conf/all/arp_announce": "0",
		}
		for k, v := range before {
			setSysctl(t, k, v)
		}

		vip4 := netip.MustParseAddr("192.168.101.100")
		vip6 := netip.MustParseAddr("fd00:101::100")
		opts := Options{VIPs: []netip.Addr{vip4, pre, vip6}, StateDir: stateDir}
		if err := Up(opts); err != nil {
			t.Fatalf("up: %v", err)
		}
		check := func(when string) {
			addrs := loAddrs(t)
			for _, want := range []netip.Addr{vip4, pre, vip6} {
				a, ok := addrs[want]
				if !ok {
					t.Fatalf("%s: %v not on lo (have %v)", when, want, addrs)
				}
				ones, _ := a.Mask.Size()
				if ones != want.BitLen() {
					t.Errorf("%s: %v has /%d, want /%d", when, want, ones, want.BitLen())
				}
			}
			if a := addrs[vip6]; a.Flags&unix.IFA_F_NODAD == 0 || a.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("%s: %v flags %#x, want nodad and not tentative", when, vip6, a.Flags)
			}
			for _, s := range arpSysctls() {
				if got := sysctl(t, s.key); got != s.value {
					t.Errorf("%s: %s = %s, want %s", when, s.key, got, s.value)
				}
			}
		}
		check("after up")

		// Up twice: harmless, and the saved "before" values must survive.
		if err := Up(opts); err != nil {
			t.Fatalf("second up: %v", err)
		}
		check("after second up")
		b, err := os.ReadFile(StatePath(opts))
		if err != nil {
			t.Fatal(err)
		}
		var st state
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		for k, v := range before {
			if st.Sysctls[k] != v {
				t.Errorf("state saved %s=%q, want %q", k, st.Sysctls[k], v)
			}
		}
		if len(st.Added) != 2 {
			t.Errorf("state lists added %v, want the two new VIPs only", st.Added)
		}

		if _, err := Down(opts); err != nil {
			t.Fatalf("down: %v", err)
		}
		addrs := loAddrs(t)
		if _, ok := addrs[vip4]; ok {
			t.Errorf("%v still on lo after down", vip4)
		}
		if _, ok := addrs[vip6]; ok {
			t.Errorf("%v still on lo after down", vip6)
		}
		if _, ok := addrs[pre]; !ok {
			t.Errorf("pre-existing %v removed by down", pre)
		}
		for k, v := range before {
			if got := sysctl(t, k); got != v {
				t.Errorf("after down %s = %s, want restored %s", k, got, v)
			}
		}
		if _, err := os.Stat(StatePath(opts)); !os.IsNotExist(err) {
			t.Errorf("state file still there after down: %v", err)
		}
		// Down twice: harmless.
		if _, err := Down(opts); err != nil {
			t.Fatalf("second down: %v", err)
		}
	})
}

func TestUpBringsLoUpAndDownPutsItBack(t *testing.T) {
	stateDir := t.TempDir()
	inThrowawayNetns(t, func() {
		// A fresh namespace starts with lo down.
		opts := Options{VIPs: []netip.Addr{netip.MustParseAddr("192.168.101.100")}, StateDir: stateDir}
		if err := Up(opts); err != nil {
			t.Fatal(err)
		}
		lo, _ := netlink.LinkByName("lo")
		if lo.Attrs().Flags&net.FlagUp == 0 {
			t.Fatal("lo not up after Up")
		}
		if _, err := Down(opts); err != nil {
			t.Fatal(err)
		}
		lo, _ = netlink.LinkByName("lo")
		if lo.Attrs().Flags&net.FlagUp != 0 {
			t.Fatal("lo still up after Down, but it was down before Up")
		}
	})
}

func TestIPv6OnlyLeavesARPSysctlsAlone(t *testing.T) {
	stateDir := t.TempDir()
	inThrowawayNetns(t, func() {
		before := sysctl(t, "net/ipv4/conf/all/arp_ignore")
		opts := Options{VIPs: []netip.Addr{netip.MustParseAddr("fd00::1")}, StateDir: stateDir}
		if err := Up(opts); err != nil {
			t.Fatal(err)
		}
		if got := sysctl(t, "net/ipv4/conf/all/arp_ignore"); got != before {
			t.Errorf("arp_ignore changed to %s for an IPv6-only VIP set", got)
		}
		if _, ok := loAddrs(t)[netip.MustParseAddr("fd00::1")]; !ok {
			t.Error("v6 VIP not on lo")
		}
		if _, err := Down(opts); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvalidVIP(t *testing.T) {
	stateDir := t.TempDir()
	inThrowawayNetns(t, func() {
		if err := Up(Options{VIPs: []netip.Addr{{}}, StateDir: stateDir}); err == nil {
			t.Fatal("want error for a zero VIP")
		}
		if _, err := Down(Options{StateDir: stateDir}); err != nil {
			t.Fatal(err)
		}
	})
}

// A TUN real server for an IPv6 VIP: the VIP on lo (/128, no DAD), the
// decapsulation program attached to the tunnel interface and pinned; Down
// removes both.
func TestTunnelIPv6UpDown(t *testing.T) {
	stateDir := t.TempDir()
	pinDir := filepath.Join(filepath.Dir(loader.DefaultPinRoot), "xlb-test-realserver-"+strconv.Itoa(os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(pinDir) })
	pin := filepath.Join(pinDir, "decap")
	inThrowawayNetns(t, func() {
		// A veth pair: this kernel may have no dummy module.
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tun0"}, PeerName: "tun0p"}); err != nil {
			t.Fatalf("add veth: %v", err)
		}
		vip := netip.MustParseAddr("2001:db8::100")
		opts := Options{VIPs: []netip.Addr{vip}, StateDir: stateDir, Tunnel: true, TunnelIface: "tun0", TunnelPin: pin}
		if err := Up(opts); err != nil {
			t.Fatal(err)
		}
		a, ok := loAddrs(t)[vip]
		if !ok {
			t.Fatal("IPv6 VIP not on lo")
		}
		if ones, _ := a.Mask.Size(); ones != 128 || a.Flags&unix.IFA_F_NODAD == 0 {
			t.Errorf("IPv6 VIP on lo as /%d flags %#x, want /128 with nodad", ones, a.Flags)
		}
		if _, err := os.Stat(pin); err != nil {
			t.Fatalf("decap link not pinned: %v", err)
		}
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			t.Fatalf("load pinned decap link: %v", err)
		}
		info, err := l.Info()
		l.Close()
		ifc, _ := net.InterfaceByName("tun0")
		if err != nil || info.TCX() == nil || int(info.TCX().Ifindex) != ifc.Index {
			t.Fatalf("decap link %+v (%v), want tcx on tun0", info, err)
		}
		if _, err := Down(Options{StateDir: stateDir}); err != nil {
			t.Fatal(err)
		}
		if _, ok := loAddrs(t)[vip]; ok {
			t.Error("IPv6 VIP still on lo after Down")
		}
		if _, err := os.Stat(pin); !os.IsNotExist(err) {
			t.Errorf("decap link still pinned after Down: %v", err)
		}
	})
}

// Two real servers in network namespaces of one host (ip netns exec shares
// /run, so they share the state directory) each undo their own changes: down
// in one restores that one's VIP and sysctls and leaves the other alone.
func TestStatePerNetworkNamespace(t *testing.T) {
	stateDir := t.TempDir()
	arpValues := func() map[string]string {
		m := map[string]string{}
		for _, s := range arpSysctls() {
			m[s.key] = sysctl(t, s.key)
		}
		return m
	}
	vipA, vipB := netip.MustParseAddr("192.168.101.100"), netip.MustParseAddr("192.168.101.101")
	inThrowawayNetns(t, func() {
		optsA := Options{VIPs: []netip.Addr{vipA}, StateDir: stateDir}
		if err := Up(optsA); err != nil {
			t.Fatalf("up in A: %v", err)
		}
		upA := arpValues()
		pathA := StatePath(optsA)
		inThrowawayNetns(t, func() {
			optsB := Options{VIPs: []netip.Addr{vipB}, StateDir: stateDir}
			if StatePath(optsB) == pathA {
				t.Fatalf("namespaces A and B share the state file %s", StatePath(optsB))
			}
			setSysctl(t, "net/ipv4/conf/all/arp_announce", "1")
			beforeB := arpValues()
			if err := Up(optsB); err != nil {
				t.Fatalf("up in B: %v", err)
			}
			if undone, err := Down(optsB); err != nil || !undone {
				t.Fatalf("down in B: undone %v, %v; want its own record undone", undone, err)
			}
			if _, ok := loAddrs(t)[vipB]; ok {
				t.Errorf("%v still on B's lo after down in B", vipB)
			}
			for k, v := range arpValues() {
				if v != beforeB[k] {
					t.Errorf("B after down: %s = %s, want restored %s", k, v, beforeB[k])
				}
			}
		})
		if _, ok := loAddrs(t)[vipA]; !ok {
			t.Errorf("%v gone from A's lo after down in B", vipA)
		}
		for k, v := range arpValues() {
			if v != upA[k] {
				t.Errorf("A after down in B: %s = %s, want %s (as up left it)", k, v, upA[k])
			}
		}
		if undone, err := Down(optsA); err != nil || !undone {
			t.Fatalf("down in A: undone %v, %v", undone, err)
		}
		if _, ok := loAddrs(t)[vipA]; ok {
			t.Errorf("%v still on A's lo after down in A", vipA)
		}
		if undone, err := Down(optsA); err != nil || undone {
			t.Errorf("second down in A: undone %v, %v; want nothing to undo", undone, err)
		}
	})
}
