// Package nstest makes throwaway network namespaces for tests that need real
// interfaces (VRRP, VIP ownership): all their traffic stays inside them.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a named network namespace created for one test; all test
// traffic stays inside such namespaces.
type NS struct {
	Name string
	H    netns.NsHandle
}

func RequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
}

func randSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newNS creates a named namespace with lo up and schedules its deletion.
func New(t *testing.T, prefix string) *NS {
	t.Helper()
	return create(t, fmt.Sprintf("xlbt-%s-%s", prefix, randSuffix()))
}

// NewWithPrefix is New for a namespace named prefix followed by a random
// suffix, for tests whose namespaces must carry a name of their own
// choosing (so that leftovers are told apart from other tests').
func NewWithPrefix(t *testing.T, prefix string) *NS {
	t.Helper()
	return create(t, prefix+randSuffix())
}

func create(t *testing.T, name string) *NS {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name) // also switches this thread into it
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("restore netns: %v", err)
	}
	ns := &NS{Name: name, H: h}
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	ns.Do(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	return ns
}

// do runs fn on a thread inside the namespace.
func (ns *NS) Do(t *testing.T, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns.H); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter netns %s: %v", ns.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		t.Fatalf("restore netns: %v", err) // thread stays locked and dies with the goroutine
	}
	runtime.UnlockOSThread()
	if ferr != nil {
		t.Fatalf("in netns %s: %v", ns.Name, ferr)
	}
}

// sysctl writes a sysctl inside the namespace (/proc/sys/net follows the
// opening thread's namespace).
func (ns *NS) Sysctl(t *testing.T, key, val string) {
	t.Helper()
	ns.Do(t, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(val), 0o644)
	})
}

// vethPair links namespace a (interface "veth0", address aAddr) to b
// ("veth0", bAddr). IPv6 DAD is disabled first so link-local addresses are
// usable at once.
func VethPair(t *testing.T, a, b *NS, aAddr, bAddr string) {
	t.Helper()
	for _, ns := range []*NS{a, b} {
		ns.Sysctl(t, "net/ipv6/conf/default/accept_dad", "0")
		ns.Sysctl(t, "net/ipv6/conf/all/accept_dad", "0")
	}
	a.Do(t, func() error {
		return netlink.LinkAdd(&netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: "veth0"},
			PeerName:      "vethpeer",
			PeerNamespace: netlink.NsFd(int(b.H)),
		})
	})
	b.Do(t, func() error {
		l, err := netlink.LinkByName("vethpeer")
		if err != nil {
			return err
		}
		return netlink.LinkSetName(l, "veth0")
	})
	for _, x := range []struct {
		ns   *NS
		addr string
	}{{a, aAddr}, {b, bAddr}} {
		x.ns.Do(t, func() error {
			l, err := netlink.LinkByName("veth0")
			if err != nil {
				return err
			}
			if x.addr != "" {
				ad, err := netlink.ParseAddr(x.addr)
				if err != nil {
					return err
				}
				if err := netlink.AddrAdd(l, ad); err != nil {
					return err
				}
			}
			return netlink.LinkSetUp(l)
		})
	}
}

// LocalVeth makes a veth pair a and b inside ns, both up, a with address
// addr ("" for none): a second interface for a director and its far end,
// where a capture or nothing listens.
func LocalVeth(t *testing.T, ns *NS, a, b, addr string) {
	t.Helper()
	ns.Do(t, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
			return err
		}
		for _, n := range []string{a, b} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		if addr == "" {
			return nil
		}
		l, err := netlink.LinkByName(a)
		if err != nil {
			return err
		}
		ad, err := netlink.ParseAddr(addr)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(l, ad)
	})
}

func IfaceIn(t *testing.T, ns *NS, name string) *net.Interface {
	t.Helper()
	var ifi *net.Interface
	ns.Do(t, func() error {
		var err error
		ifi, err = net.InterfaceByName(name)
		return err
	})
	return ifi
}

// PacketSocket opens an AF_PACKET datagram socket in ns bound to ifindex
// for ethertype (host order; unix.ETH_P_ALL also sees the frames a macvlan
// takes off the interface), reads timing out after 20 ms so a capture
// loop can watch the clock. The caller closes it.
func PacketSocket(t *testing.T, ns *NS, ifindex int, ethertype uint16) int {
	t.Helper()
	proto := ethertype<<8 | ethertype>>8 // network byte order
	var fd int
	ns.Do(t, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto)); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	return fd
}
