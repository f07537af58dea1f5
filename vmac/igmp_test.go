package vmac

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/internal/nstest"
)

// igmpSources joins 224.0.0.18 on vmac in a (as the VRRP socket does)
// and returns the source MACs of the IGMP frames b's veth0 saw meanwhile.
func igmpSources(t *testing.T, a, b *nstest.NS, vmac string) []string {
	t.Helper()
	var fd int
	p := uint16(unix.ETH_P_IP)
	proto := int(p<<8 | p>>8) // network byte order
	b.Do(t, func() error {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index})
	})
	defer unix.Close(fd)
	var conn net.PacketConn
	a.Do(t, func() error {
		ifi, err := net.InterfaceByName(vmac)
		if err != nil {
			return err
		}
		if conn, err = net.ListenPacket("ip4:112", "0.0.0.0"); err != nil {
			return err
		}
		return ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)})
	})
	defer conn.Close()
	var srcs []string
	buf := make([]byte, 1500)
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if ll, ok := from.(*unix.SockaddrLinklayer); err == nil && ok && n >= 20 && buf[9] == unix.IPPROTO_IGMP {
			srcs = append(srcs, net.HardwareAddr(ll.Addr[:6]).String())
		}
	}
	return srcs
}

// Without the filter the kernel reports a group joined on a VMAC from
// the virtual MAC (a switch would learn it at a backup's port); with
// DropIGMP none leaves, and DropIGMP(nil) removes the table.
func TestDropIGMP(t *testing.T) {
	nstest.RequireRoot(t)
	a, b := nstest.New(t, "igmp-a"), nstest.New(t, "igmp-b")
	nstest.VethPair(t, a, b, "10.92.0.1/24", "10.92.0.2/24")
	nl := handle(t, a)
	mac := MAC(53)
	a.Do(t, func() error { _, err := Ensure(nl, "veth0", "vrrp.53", mac); return err })
	if got := igmpSources(t, a, b, "vrrp.53"); !slices.Contains(got, mac.String()) {
		t.Fatalf("no IGMP report from the VMAC without the filter (saw %v): the test would prove nothing", got)
	}
	var err error
	a.Do(t, func() error { err = DropIGMP([]string{"vrrp.53", "vrrp.54"}); return nil })
	if err != nil {
		t.Skipf("nftables unavailable on this kernel: %v", err)
	}
	if got := igmpSources(t, a, b, "vrrp.53"); slices.Contains(got, mac.String()) {
		t.Errorf("IGMP from the VMAC with the filter: %v", got)
	}
	tables := func() []string {
		var names []string
		a.Do(t, func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
			for _, x := range ts {
				names = append(names, x.Name)
			}
			return err
		})
		return names
	}
	if !slices.Contains(tables(), IGMPTable) {
		t.Fatal("no table after DropIGMP")
	}
	// Again (a reload): replaced, not doubled.
	a.Do(t, func() error { return DropIGMP([]string{"vrrp.53"}) })
	a.Do(t, func() error { return DropIGMP(nil) })
	if slices.Contains(tables(), IGMPTable) {
		t.Error("table left after DropIGMP(nil)")
	}
	a.Do(t, func() error { return DropIGMP(nil) })
}
