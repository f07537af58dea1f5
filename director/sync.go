package director

import (
	"net/netip"

	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/xlb-project/xlb/flowsync"
	"github.com/xlb-project/xlb/maps"
)

// SynGuard configures the datapath's SYN-flood guard (maps.Settings.SynGuard).
type SynGuard struct {
	Rate, Burst uint32 // new-flow inserts per second per CPU; 0 = off
}

// startDatapathExtras applies the SYN-flood guard and starts flow sharing.
func (d *Director) startDatapathExtras() error {
	g := d.o.SynGuard
	if err := d.dp.Maps.Settings.SynGuard(g.Rate, g.Burst); err != nil {
		return err
	}
	if err := d.tunnelSettings(); err != nil {
		return err
	}
	if d.o.Sync == nil {
		return d.dp.Maps.Settings.FlowEvents(false)
	}
	s, err := flowsync.New(*d.o.Sync, d.dp.Maps.Conns, d.log.With("component", "flowsync"))
	if err != nil {
		return err
	}
	rd, err := d.dp.Maps.Conns.FlowReader()
	if err != nil {
		return err
	}
	if err := d.dp.Maps.Settings.FlowEvents(true); err != nil {
		rd.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan maps.Flow, 4096)
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			f, err := rd.Read()
			if err != nil {
				if !errors.Is(err, ringbuf.ErrClosed) {
					d.log.Error("flow events", "err", err)
				}
				return
			}
			select {
			case events <- f:
			default: // never block the reader: a peer that misses a flow reschedules it
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		s.Run(ctx, events)
	}()
	d.sync = s
	d.stopSync = func() {
		d.dp.Maps.Settings.FlowEvents(false)
		rd.Close()
		cancel()
		<-done
		<-done
	}
	d.log.Info("flow sharing on", "listen", s.Addr().String(), "peers", fmt.Sprint(d.o.Sync.Peers))
	return nil
}

// SyncStats reports flow sharing counters (nil when off).
func (d *Director) SyncStats() *flowsync.Stats {
	if d.sync == nil {
		return nil
	}
	return &d.sync.Stats
}

// tunnelSettings gives TUN forwarding its outer sources — the interface's
// own IPv4 address for IPIP and its own global IPv6 address for IP6IP6, not
// a VIP — and the interface MTU.
func (d *Director) tunnelSettings() error {
	link, err := netlink.LinkByName(d.o.Iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", d.o.Iface, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", d.o.Iface, err)
	}
	src4, src6 := tunnelSources(addrs)
	d.log.Debug("tunnel sources", "ipip", src4, "ip6ip6", src6, "mtu", link.Attrs().MTU)
	return d.dp.Maps.Settings.Tunnel(src4, src6, uint32(link.Attrs().MTU))
}

// tunnelSources picks the first usable address of each family. A host
// route (/32, /128) is a VIP (ours or VRRP's): the interface's own address
// has a subnet. IPv6 needs a global (or unique local) address, since a
// link-local one does not leave the segment, and one that DAD has
// accepted and that is not deprecated.
func tunnelSources(addrs []netlink.Addr) (src4, src6 netip.Addr) {
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ones, bits := a.Mask.Size()
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ones >= bits || !ip.Unmap().IsGlobalUnicast() {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !src4.IsValid() {
			src4 = ip
		}
		const unusable = unix.IFA_F_TENTATIVE | unix.IFA_F_DADFAILED | unix.IFA_F_DEPRECATED
		if ip.Is6() && !src6.IsValid() && a.Flags&unusable == 0 {
			src6 = ip
		}
	}
	return src4, src6
}
