// Package neigh finds the MAC address of each real server on the
// director's interface: from the kernel's neighbour table when it has a
// usable entry, otherwise by asking with an ARP request. DR forwarding
// needs nothing else from a real server.
package neigh

import (
	"context"
	"fmt"
	"github.com/mdlayher/ndp"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
)

// Resolver resolves IPv4 neighbours on one interface.
type Resolver struct {
	ifi     *net.Interface
	timeout time.Duration
}

// New returns a resolver for iface. timeout bounds one ARP probe.
func New(iface string, timeout time.Duration) (*Resolver, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", iface, err)
	}
	return &Resolver{ifi: ifi, timeout: timeout}, nil
}

// usable neighbour states: the kernel has a MAC it believes or recently believed.
const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// Table returns the kernel's usable neighbour entries on the interface
// (ARP and NDP).
func (r *Resolver) Table() (map[netip.Addr]net.HardwareAddr, error) {
	out := map[netip.Addr]net.HardwareAddr{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		list, err := netlink.NeighList(r.ifi.Index, fam)
		if err != nil {
			return nil, fmt.Errorf("list neighbours: %w", err)
		}
		for _, n := range list {
			if n.State&usable == 0 || len(n.HardwareAddr) != 6 {
				continue
			}
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				out[a.Unmap()] = n.HardwareAddr
			}
		}
	}
	return out, nil
}

// Probe asks for ip's MAC (ARP for IPv4, a neighbour solicitation for
// IPv6) and waits up to the resolver's timeout.
func (r *Resolver) Probe(ctx context.Context, ip netip.Addr) (net.HardwareAddr, error) {
	if ip.Is6() {
		return r.probe6(ctx, ip)
	}
	c, err := arp.Dial(r.ifi)
	if err != nil {
		return nil, fmt.Errorf("arp on %s: %w", r.ifi.Name, err)
	}
	defer c.Close()
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// Resend every 200 ms: the first request may race the real server's
	// own start-up or be lost.
	for time.Now().Before(deadline) {
		if err := c.Request(ip); err != nil {
			return nil, fmt.Errorf("send arp request for %s: %w", ip, err)
		}
		step := time.Now().Add(200 * time.Millisecond)
		if step.After(deadline) {
			step = deadline
		}
		if err := c.SetReadDeadline(step); err != nil {
			return nil, err
		}
		for {
			p, _, err := c.Read()
			if err != nil {
				break // deadline: ask again
			}
			if p.Operation == arp.OperationReply && p.SenderIP == ip {
				return p.SenderHardwareAddr, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("no arp reply from %s within %s", ip, r.timeout)
}

// Resolve returns the MAC of every address it can find: the neighbour
// table first, ARP for the rest. Missing ones are simply absent.
func (r *Resolver) Resolve(ctx context.Context, ips []netip.Addr) map[netip.Addr]net.HardwareAddr {
	out := map[netip.Addr]net.HardwareAddr{}
	table, _ := r.Table()
	for _, ip := range ips {
		if mac, ok := table[ip]; ok {
			out[ip] = mac
			continue
		}
		if mac, err := r.Probe(ctx, ip); err == nil {
			out[ip] = mac
		}
	}
	return out
}

// probe6 resolves an IPv6 neighbour with a neighbour solicitation sent to
// its solicited-node multicast address, as the kernel would.
func (r *Resolver) probe6(ctx context.Context, ip netip.Addr) (net.HardwareAddr, error) {
	c, _, err := ndp.Listen(r.ifi, ndp.LinkLocal)
	if err != nil {
		return nil, fmt.Errorf("ndp on %s: %w", r.ifi.Name, err)
	}
	defer c.Close()
	snm, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: r.ifi.HardwareAddr}},
	}
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for time.Now().Before(deadline) {
		if err := c.WriteTo(ns, nil, snm); err != nil {
			return nil, fmt.Errorf("send neighbour solicitation for %s: %w", ip, err)
		}
		step := time.Now().Add(200 * time.Millisecond)
		if step.After(deadline) {
			step = deadline
		}
		if err := c.SetReadDeadline(step); err != nil {
			return nil, err
		}
		for {
			m, _, _, err := c.ReadFrom()
			if err != nil {
				break
			}
			na, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || na.TargetAddress != ip {
				continue
			}
			for _, o := range na.Options {
				if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
					return lla.Addr, nil
				}
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("no neighbour advertisement from %s within %s", ip, r.timeout)
}
