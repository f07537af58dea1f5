package director

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"

	"github.com/xlb-project/xlb/bgp"
	"github.com/xlb-project/xlb/config"
)

// BGP scale-out: with a bgp section the director announces each service
// VIP as a host route with itself as next hop, so routers spread clients
// over every director by ECMP. A VIP is announced while at least one real
// server of one of its services can take flows (healthy and its MAC
// resolved; weight 0 still counts, since a drained server keeps serving
// its flows) and withdrawn otherwise: like an LVS director whose servers
// are all down, a director that cannot forward stops attracting traffic.
//
// With BGP the director does not own the VIPs by ARP (see directVIPs):
// routers reach it by next hop, and several directors on one segment all
// answering ARP for the VIP would fight over it. VIPs of vrrp instances are
// still owned by VRRP.

// bgpState is the running speaker and the section it was built from.
type bgpState struct {
	sp  *bgp.Speaker
	cfg config.BGP // as configured (Line cleared), to detect changes on reload
}

// startBGP starts the speaker of cfg.BGP, if any, and announces what the
// datapath can serve.
func (d *Director) startBGP(ctx context.Context, cfg *config.Config) error {
	if cfg.BGP == nil {
		return nil
	}
	st, err := d.newBGP(ctx, cfg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bgp = st
	d.syncBGPLocked()
	return nil
}

func (d *Director) newBGP(ctx context.Context, cfg *config.Config) (*bgpState, error) {
	rc, err := d.resolveBGP(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := bgp.New(rc, d.log.With("component", "bgp"))
	if err != nil {
		return nil, err
	}
	if err := sp.Start(ctx); err != nil {
		sp.Close()
		return nil, err
	}
	return &bgpState{sp: sp, cfg: bgpKey(cfg.BGP)}, nil
}

// resolveBGP fills the defaults that depend on the host: the next hop (and
// so the router id) is the director's own address on its interface.
func (d *Director) resolveBGP(cfg *config.Config) (config.BGP, error) {
	rc := *cfg.BGP
	if rc.NextHop.IsValid() {
		return rc, nil
	}
	ifi, err := net.InterfaceByName(d.o.Iface)
	if err != nil {
		return rc, fmt.Errorf("bgp next hop: interface %q: %w", d.o.Iface, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return rc, fmt.Errorf("bgp next hop: addresses of %q: %w", d.o.Iface, err)
	}
	// A VIP held on the interface (VRRP, an old run) is no next hop.
	vips := vrrpVIPs(cfg)
	for _, s := range cfg.Services {
		vips[s.VIP] = true
	}
	var v6 netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if vips[ip] || !ip.IsGlobalUnicast() {
			continue
		}
		if ip.Is4() {
			rc.NextHop = ip
			return rc, nil
		}
		if !v6.IsValid() {
			v6 = ip
		}
	}
	if v6.IsValid() {
		rc.NextHop = v6
		return rc, nil
	}
	return rc, fmt.Errorf("bgp next hop: %q has no address to announce as next hop; set bgp.next_hop", d.o.Iface)
}

func bgpKey(b *config.BGP) config.BGP {
	k := *b
	k.Line = 0
	k.Peers = slices.Clone(b.Peers)
	for i := range k.Peers {
		k.Peers[i].Line = 0
	}
	return k
}

// syncBGPLocked announces the VIPs that can be served and withdraws the
// rest; called after every apply, with d.mu held.
func (d *Director) syncBGPLocked() {
	if d.bgp == nil || d.closed {
		return
	}
	if err := d.bgp.sp.Set(servableVIPs(d.cfg, d.macs, d.up)...); err != nil {
		d.log.Error("bgp announcements", "err", err)
	}
}

// servableVIPs are the VIPs to announce: those of services that take part
// in BGP and have a real server to send flows to, or a sorry server (the
// operator asked for its answer rather than none while the pool is down).
func servableVIPs(cfg *config.Config, macs map[netip.Addr]net.HardwareAddr, up map[string]bool) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, s := range cfg.Services {
		if s.NoAnnounce || seen[s.VIP] {
			continue
		}
		key := serviceKey(s)
		if ss := s.SorryServer; ss != nil && len(macs[ss.Address]) > 0 {
			seen[s.VIP] = true
			out = append(out, s.VIP)
			continue
		}
		for _, r := range s.RealServers {
			if serverUp(key, r, up) && len(macs[r.Address]) > 0 {
				seen[s.VIP] = true
				out = append(out, s.VIP)
				break
			}
		}
	}
	return out
}

// reloadBGP follows a configuration change: a changed bgp section restarts
// the speaker (its sessions flap once); an unchanged one keeps running and
// only its announcements follow the new services.
func (d *Director) reloadBGP(ctx context.Context, cfg *config.Config) {
	d.mu.Lock()
	old := d.bgp
	same := old != nil && cfg.BGP != nil && reflect.DeepEqual(old.cfg, bgpKey(cfg.BGP))
	if same || (old == nil && cfg.BGP == nil) {
		d.syncBGPLocked()
		d.mu.Unlock()
		return
	}
	d.bgp = nil
	d.mu.Unlock()
	if old != nil {
		if err := old.sp.Close(); err != nil {
			d.log.Error("bgp stop", "err", err)
		}
	}
	if err := d.startBGP(ctx, cfg); err != nil {
		d.log.Error("bgp start; vips are not announced", "err", err)
	}
}

// closeBGP withdraws every VIP and stops the speaker, before the datapath
// goes: routers must stop sending here while this director still forwards.
func (d *Director) closeBGP() error {
	d.mu.Lock()
	st := d.bgp
	d.bgp = nil
	d.mu.Unlock()
	if st == nil {
		return nil
	}
	if err := st.sp.Close(); err != nil {
		return fmt.Errorf("bgp: %w", err)
	}
	return nil
}

// BGPStatus reports the speaker's sessions and announcements; ok is false
// when BGP is not configured.
func (d *Director) BGPStatus() (st bgp.Status, ok bool) {
	d.mu.Lock()
	s := d.bgp
	d.mu.Unlock()
	if s == nil {
		return bgp.Status{}, false
	}
	return s.sp.Status(), true
}
