package vmac

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/internal/nstest"
)

// reportSources joins the VRRP group (224.0.0.18; v6: ff02::12) on vmac in
// a, as the VRRP socket does, and returns the source MACs of the IGMP
// (v6: MLD) reports b's veth0 saw meanwhile.
func reportSources(t *testing.T, a, b *nstest.NS, vmac string, v6 bool) []string {
	t.Helper()
	fd := nstest.PacketSocket(t, b, nstest.IfaceIn(t, b, "veth0").Index, unix.ETH_P_ALL)
	defer unix.Close(fd)
	var conn net.PacketConn
	a.Do(t, func() error {
		ifi, err := net.InterfaceByName(vmac)
		if err != nil {
			return err
		}
		if v6 {
			if conn, err = net.ListenPacket("ip6:112", "::"); err != nil {
				return err
			}
			return ipv6.NewPacketConn(conn).JoinGroup(ifi, &net.IPAddr{IP: net.ParseIP("ff02::12")})
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
		ll, ok := from.(*unix.SockaddrLinklayer)
		if err != nil || !ok {
			continue
		}
		f, proto := buf[:n], ll.Protocol<<8|ll.Protocol>>8
		// MLD rides behind a hop-by-hop header (router alert).
		if !v6 && proto == unix.ETH_P_IP && len(f) >= 20 && f[9] == unix.IPPROTO_IGMP ||
			v6 && proto == unix.ETH_P_IPV6 && len(f) >= 49 && f[6] == 0 && f[40] == unix.IPPROTO_ICMPV6 && (f[48] == 143 || f[48] == 131) {
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
	if got := reportSources(t, a, b, "vrrp.53", false); !slices.Contains(got, mac.String()) {
		t.Fatalf("no IGMP report from the VMAC without the filter (saw %v): the test would prove nothing", got)
	}
	var err error
	a.Do(t, func() error { err = DropIGMP([]string{"vrrp.53", "vrrp.54"}); return nil })
	if err != nil {
		t.Skipf("nftables unavailable on this kernel: %v", err)
	}
	if got := reportSources(t, a, b, "vrrp.53", false); slices.Contains(got, mac.String()) {
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

// An IPv6 VMAC carries a copy of the base's link-local address, nodad and
// deprecated, as keepalived 2.2.7's does (seen with ip -6 addr: "scope
// link nodad deprecated", preferred_lft 0). Joining the VRRP group there
// sends MLD reports from the virtual MAC; DropMLD keeps them in.
func TestIPv6VMACAndDropMLD(t *testing.T) {
	nstest.RequireRoot(t)
	a, b := nstest.New(t, "mld-a"), nstest.New(t, "mld-b")
	nstest.VethPair(t, a, b, "10.93.0.1/24", "10.93.0.2/24")
	nl := handle(t, a)
	mac := MAC6(55)
	if mac.String() != "00:00:5e:00:02:37" {
		t.Fatalf("MAC6(55) = %s", mac)
	}
	a.Do(t, func() error { _, err := Ensure(nl, "veth0", "vrrp.55", mac); return err })
	base, _ := nl.LinkByName("veth0")
	l, err := nl.LinkByName("vrrp.55")
	if err != nil {
		t.Fatal(err)
	}
	baseLL, _ := nl.AddrList(base, netlink.FAMILY_V6)
	vmacAddrs, _ := nl.AddrList(l, netlink.FAMILY_V6)
	if len(vmacAddrs) != 1 || len(baseLL) == 0 || !vmacAddrs[0].IP.Equal(baseLL[0].IP) {
		t.Fatalf("vrrp.55 IPv6 addresses %v, want a copy of veth0's link-local %v", vmacAddrs, baseLL)
	}
	if x := vmacAddrs[0]; x.Flags&unix.IFA_F_NODAD == 0 || x.PreferedLft != 0 {
		t.Errorf("link-local copy flags %#x preferred %d, want nodad and deprecated", x.Flags, x.PreferedLft)
	}
	if v := readSysctl(t, a, "net/ipv4/conf/vrrp.55/arp_ignore"); v != "0" {
		t.Errorf("an IPv6 VMAC got the IPv4 sysctls (arp_ignore %s)", v)
	}
	// The kernel reports the membership from the VMAC unless filtered.
	if got := reportSources(t, a, b, "vrrp.55", true); !slices.Contains(got, mac.String()) {
		t.Fatalf("no MLD report from the VMAC without the filter (saw %v): the test would prove nothing", got)
	}
	a.Do(t, func() error { err = DropMLD([]string{"vrrp.55"}); return nil })
	if err != nil {
		t.Skipf("nftables unavailable on this kernel: %v", err)
	}
	if got := reportSources(t, a, b, "vrrp.55", true); slices.Contains(got, mac.String()) {
		t.Errorf("MLD from the VMAC with the filter: %v", got)
	}
	a.Do(t, func() error { return DropMLD(nil) })
	if err := Remove(nl, "vrrp.55", MAC(55)); err == nil {
		t.Error("Remove with the IPv4 MAC removed the IPv6 VMAC")
	}
	if err := Remove(nl, "vrrp.55", mac); err != nil {
		t.Error(err)
	}
}
