package config

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/iproute"
)

// Limits taken from IPVS and keepalived, so xlb refuses what they refuse.
const (
	maxWeight       = MaxWeight          // keepalived's weight range
	maxAuthPass     = 8                  // VRRPv2 simple password is 8 octets (RFC 2338 5.3.10)
	maxPreemptDelay = 1000 * time.Second // keepalived's preempt_delay range
	// keepalived's ranges of down_timer_adverts and vrrp_startup_delay
	// (the latter is xlb's bound: keepalived takes any delay).
	maxDownTimerAdverts = 100
	maxStartupDelay     = time.Hour
	maxIfName           = 15 // IFNAMSIZ less its NUL
	// VRRPv2 carries advert_int in whole seconds (8 bits); VRRPv3 in
	// centiseconds (12 bits).
	maxAdvertV2 = 255 * time.Second
	maxAdvertV3 = 4095 * 10 * time.Millisecond
	// keepalived keeps garp_master_delay, garp_lower_prio_delay and the
	// intervals in microseconds in 32 bits, and garp_master_refresh in
	// seconds in 32 bits.
	maxGARPDelay   = 4294 * time.Second
	maxGARPRefresh = math.MaxUint32 * time.Second
	// The unicast adverts' TTL: keepalived also takes 0, which a socket's
	// IP_TTL cannot be set to.
	maxUnicastTTL = 255
	// SO_RCVBUF takes a C int.
	maxRxBufSize = math.MaxInt32
)

// groupProblem says why a is not a VRRP multicast group of the family (v6:
// IPv6), "" if it is one: an IPv4 multicast address, or an IPv6 one of
// link-local scope (ffX2::), as keepalived requires of mcast_dst_ip.
func groupProblem(a netip.Addr, v6 bool) string {
	switch {
	case v6 && (!a.Is6() || a.Is4In6()):
		return fmt.Sprintf("must be an IPv6 multicast address for IPv6 adverts, got %s", a)
	case v6 && (!a.IsMulticast() || a.As16()[1]&0x0f != 2):
		return fmt.Sprintf("must be a link-local IPv6 multicast address (ffX2::), got %s", a)
	case !v6 && !a.Is4():
		return fmt.Sprintf("must be an IPv4 multicast address for IPv4 adverts, got %s", a)
	case !v6 && !a.IsMulticast():
		return fmt.Sprintf("must be an IPv4 multicast address (224.0.0.0/4), got %s", a)
	}
	return ""
}

// validateVRRPTransport checks the settings of how an instance's adverts
// travel: the multicast group, the unicast TTL and the receive buffer.
func validateVRRPTransport(ps *problems, p string, v *VRRPInstance) {
	l := v.Line
	if a := v.McastDstIP; a.IsValid() && len(v.VirtualAddrs) > 0 {
		if why := groupProblem(a, v.VirtualAddrs[0].Unmap().Is6()); why != "" {
			ps.field(l, p+".mcast_dst_ip", "%s", why)
		}
	}
	// 0 is the default 255; the readers refuse a 0 written in a file.
	if v.UnicastTTL < 0 || v.UnicastTTL > maxUnicastTTL {
		ps.field(l, p+".unicast_ttl", "must be 1..%d, got %d", maxUnicastTTL, v.UnicastTTL)
	}
	if v.KernelRxBufSize < 0 || v.KernelRxBufSize > maxRxBufSize {
		ps.field(l, p+".kernel_rx_buf_size", "must be 0..%d bytes, got %d", maxRxBufSize, v.KernelRxBufSize)
	}
}

// validateVMAC checks use_vmac and vmac_xmit_base: the VMAC interface's
// name must be one the kernel takes and not the instance's own interface;
// unicast adverts need vmac_xmit_base (keepalived's rule, which its
// reader applies for keepalived.conf).
func validateVMAC(ps *problems, p string, v *VRRPInstance) {
	l := v.Line
	if !v.UseVMAC {
		if v.VMACName != "" {
			ps.field(l, p+".use_vmac", "a VMAC name needs use_vmac")
		}
		if v.VMACXmitBase {
			ps.field(l, p+".vmac_xmit_base", "is only valid with use_vmac")
		}
		return
	}
	if v.VMACName != "" {
		if why := ifaceNameProblem(v.VMACName); why != "" {
			ps.field(l, p+".use_vmac", "VMAC interface name %q: %s", v.VMACName, why)
		}
	}
	if n := v.VMACInterface(); v.Interface != "" && n == v.Interface {
		ps.field(l, p+".use_vmac", "VMAC interface %q is the instance's own interface", n)
	}
	if len(v.UnicastPeers) > 0 && !v.VMACXmitBase {
		ps.field(l, p+".use_vmac", "unicast_peer with use_vmac needs vmac_xmit_base (the adverts go from the base interface), as keepalived requires")
	}
}

// ifaceNameProblem says why name cannot name a network interface (the
// kernel's dev_valid_name), "" when it can.
// validateGARPGroups checks the garp_groups: interfaces named, each in one
// group, none an instance's VMAC (keepalived refuses those: a VMAC's
// packets are paced on its base interface), intervals in range.
func validateGARPGroups(ps *problems, c *Config) {
	vmacs := map[string]string{} // VMAC interface: its instance
	for _, v := range c.VRRP {
		if n := v.VMACInterface(); n != "" {
			vmacs[n] = v.Name
		}
	}
	inGroup := map[string]int{} // interface: its group's line
	for i, g := range c.GARPGroups {
		p := fmt.Sprintf("garp_groups[%d]", i)
		if len(g.Interfaces) == 0 {
			ps.field(g.Line, p+".interfaces", "a garp_group needs at least one interface")
		}
		for j, n := range g.Interfaces {
			f := fmt.Sprintf("%s.interfaces[%d]", p, j)
			if why := ifaceNameProblem(n); why != "" {
				ps.field(g.Line, f, "%q: %s", n, why)
			} else if line, dup := inGroup[n]; dup {
				ps.field(g.Line, f, "%s is in a garp_group already%s", n, ps.lineRef(line))
			} else if inst, ok := vmacs[n]; ok {
				ps.field(g.Line, f, "%s is the VMAC of vrrp instance %s: name its base interface, whose pacing its VMACs share", n, inst)
			} else {
				inGroup[n] = g.Line
			}
		}
		for _, iv := range []struct {
			name string
			d    time.Duration
		}{{"garp_interval", g.Interval}, {"gna_interval", g.NAInterval}} {
			if iv.d < 0 || iv.d > maxGARPDelay || iv.d%time.Microsecond != 0 {
				ps.field(g.Line, p+"."+iv.name, "must be 0..%d s in microseconds, got %s", maxGARPDelay/time.Second, iv.d)
			}
		}
	}
}

// validateTunnelType checks the encapsulation set beside forward f (on a
// service, or a real or sorry server with a method of its own).
func validateTunnelType(ps *problems, line int, p string, f Forward, t TunnelType, port uint16) {
	switch {
	case t == TunnelIPIP:
	case t != TunnelGRE && t != TunnelGUE:
		ps.field(line, p+".tunnel_type", "unknown tunnel type %q (want ipip, gre or gue)", t)
	case f != TUN:
		ps.field(line, p+".tunnel_type", "goes with forward: tun beside it, got forward %q", f)
	}
	switch {
	case t == TunnelGUE && port == 0:
		ps.field(line, p+".tunnel_port", "gue needs the real servers' UDP port (1..65535; IPVS --tun-port)")
	case t != TunnelGUE && port != 0:
		ps.field(line, p+".tunnel_port", "goes with tunnel_type: gue")
	}
}

// validateOwnForward checks a real or sorry server's own forwarding
// method ("": the service's).
func validateOwnForward(ps *problems, line int, field string, f Forward) {
	switch f {
	case "", DR, TUN:
	default:
		ps.field(line, field, "unknown forwarding method %q (want dr or tun; NAT is not supported)", f)
	}
}

func ifaceNameProblem(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "not an interface name"
	case len(name) > 15:
		return fmt.Sprintf("longer than 15 characters (%d)", len(name))
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return "contains a /, : or white space"
	}
	return ""
}

// isMD5Hex reports whether s looks like keepalived genhash's output: the hex
// MD5 of the body.
func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// Validate checks the whole configuration and returns a *ValidationError
// listing every problem, or nil. Nothing is applied from a configuration that
// fails, so a typo cannot take down half of the services.
func (c *Config) Validate() error {
	ps := newProblems(c.Source)
	ps.srcs = c.sources
	c.validate(ps)
	return ps.err()
}

func (c *Config) validate(ps *problems) {
	if c.ConnTableSize <= 0 {
		ps.field(0, "conn_table_size", "must be > 0, got %d", c.ConnTableSize)
	}
	validateTimeouts(ps, 0, "timeouts", c.Timeouts)
	c.validateSSL(ps)
	for _, l := range []struct {
		name string
		s    LifeScript
	}{{"startup_script", c.StartupScript}, {"shutdown_script", c.ShutdownScript}} {
		// keepalived's range; 0 is its default.
		if t := l.s.Timeout; t != 0 && (t < time.Second || t > 1000*time.Second || t%time.Second != 0) {
			ps.field(0, l.name+"_timeout", "must be whole seconds 1..1000, got %v", t)
		}
	}

	type svcKey struct {
		vip   netip.Addr
		port  uint16
		proto Protocol
	}
	seenSvc := map[svcKey]int{}
	seenName := map[string]int{}
	for i := range c.Services {
		s := &c.Services[i]
		p := fmt.Sprintf("services[%d]", i)
		c.validateService(ps, p, s)
		if s.Name != "" {
			if j, dup := seenName[s.Name]; dup {
				ps.field(s.Line, p+".name", "duplicate service name %q (also services[%d]%s)", s.Name, j, ps.lineRef(c.Services[j].Line))
			} else {
				seenName[s.Name] = i
			}
		}
		if s.VIP.IsValid() {
			k := svcKey{s.VIP, s.Port, s.Protocol}
			if j, dup := seenSvc[k]; dup {
				ps.at(s.Line, p, "duplicate service %s (also services[%d]%s)", defaultName(s), j, ps.lineRef(c.Services[j].Line))
			} else {
				seenSvc[k] = i
			}
		}
	}

	type vrKey struct {
		iface string
		vrid  int
	}
	scripts := c.validateVRRPScripts(ps)
	files := c.validateTrackFiles(ps)
	procs := c.validateTrackProcesses(ps)
	seenVR := map[vrKey]int{}
	seenVMAC := map[string]int{} // VMAC interface name: instance
	seenVRName := map[string]int{}
	vipOwner := map[netip.Addr]int{}
	validateGARP(ps, 0, "vrrp_", &c.VRRPGARP, nil)
	if c.VRRPStartupDelay < 0 || c.VRRPStartupDelay > maxStartupDelay {
		ps.field(0, "vrrp_startup_delay", "must be 0..%d s, got %s", int(maxStartupDelay/time.Second), c.VRRPStartupDelay)
	}
	seenDelay := map[string]int{}
	for i, e := range c.InterfaceDelays {
		p := fmt.Sprintf("interface_up_down_delays[%d]", i)
		if why := ifaceNameProblem(e.Interface); why != "" {
			ps.field(e.Line, p+".interface", "%q: %s", e.Interface, why)
		} else if j, dup := seenDelay[e.Interface]; dup {
			ps.field(e.Line, p+".interface", "%s has delays already%s", e.Interface, ps.lineRef(c.InterfaceDelays[j].Line))
		} else {
			seenDelay[e.Interface] = i
		}
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"down", e.Down}, {"up", e.Up}} {
			if f.d < 0 || f.d > maxStartupDelay {
				ps.field(e.Line, p+"."+f.name, "must be 0..%d s, got %s", int(maxStartupDelay/time.Second), f.d)
			}
		}
	}
	validateGARPGroups(ps, c)
	for i := range c.VRRP {
		v := &c.VRRP[i]
		p := fmt.Sprintf("vrrp[%d]", i)
		validateVRRP(ps, p, v)
		validateGARP(ps, v.Line, p+".", &v.GARP, &c.VRRPGARP)
		validateTracks(ps, p, instanceHolder(v), v.tracking(), scripts, files, procs)
		if v.Name != "" {
			if j, dup := seenVRName[v.Name]; dup {
				ps.field(v.Line, p+".name", "duplicate vrrp instance name %q (also vrrp[%d]%s)", v.Name, j, ps.lineRef(c.VRRP[j].Line))
			} else {
				seenVRName[v.Name] = i
			}
		}
		k := vrKey{v.Interface, v.VirtualRouterID}
		if j, dup := seenVR[k]; dup {
			ps.field(v.Line, p+".virtual_router_id", "virtual_router_id %d is already used on interface %q by vrrp[%d]%s", v.VirtualRouterID, v.Interface, j, ps.lineRef(c.VRRP[j].Line))
		} else {
			seenVR[k] = i
		}
		if n := v.VMACInterface(); n != "" {
			if j, dup := seenVMAC[n]; dup {
				ps.field(v.Line, p+".use_vmac", "VMAC interface %q is already vrrp[%d]'s%s", n, j, ps.lineRef(c.VRRP[j].Line))
			} else {
				seenVMAC[n] = i
			}
		}
		for n, a := range append(slices.Clone(v.VirtualAddrs), v.ExcludedAddrs...) {
			f := fmt.Sprintf("%s.virtual_ipaddress[%d]", p, n)
			if n >= len(v.VirtualAddrs) {
				f = fmt.Sprintf("%s.virtual_ipaddress_excluded[%d]", p, n-len(v.VirtualAddrs))
			}
			if j, dup := vipOwner[a]; dup && j != i {
				ps.field(v.Line, f, "%s is already a virtual address of vrrp[%d]%s", a, j, ps.lineRef(c.VRRP[j].Line))
			} else {
				vipOwner[a] = i
			}
		}
	}
	c.validateSyncGroups(ps, seenVRName, scripts, files, procs)
	validateLines(ps, 0, "static_ipaddress", c.StaticAddrs, func(l string) error {
		_, err := iproute.ParseAddr(l)
		return err
	})
	validateLines(ps, 0, "static_routes", c.StaticRoutes, routeProblem)
	validateLines(ps, 0, "static_rules", c.StaticRules, ruleProblem)
	c.validateBGP(ps)
	c.validateFIFOs(ps)
	c.validateScripts(ps)
}

// validateLines checks route, rule or address lines (field[n]) with
// package iproute's parser, the one that adds them.
func validateLines(ps *problems, fallback int, field string, lines []string, check func(string) error) {
	for n, l := range lines {
		if err := check(l); err != nil {
			ps.field(fallback, fmt.Sprintf("%s[%d]", field, n), "%s: %v", l, err)
		}
	}
}

func routeProblem(l string) error {
	_, err := iproute.ParseRoute(l)
	return err
}

func ruleProblem(l string) error {
	_, err := iproute.ParseRule(l)
	return err
}

// fifoRef is one notify FIFO with its field name, for validation.
type fifoRef struct {
	field string
	f     NotifyFIFO
}

func (c *Config) fifos() []fifoRef {
	return []fifoRef{{"notify_fifo", c.NotifyFIFO}, {"vrrp_notify_fifo", c.VRRPNotifyFIFO}, {"lvs_notify_fifo", c.LVSNotifyFIFO}}
}

// validateFIFOs checks the notify FIFOs as keepalived does: an absolute
// path, a script only with its FIFO, the FIFOs all different (its man
// page), and an owner that exists.
func (c *Config) validateFIFOs(ps *problems) {
	seen := map[string]string{}
	for _, r := range c.fifos() {
		f := r.f
		if f.Path == "" {
			if f.Script != "" {
				ps.field(0, r.field+"_script", "needs %s: the script reads that FIFO", r.field)
			}
			continue
		}
		if !filepath.IsAbs(f.Path) {
			ps.field(0, r.field, "must be an absolute path, got %q", f.Path)
			continue
		}
		clean := filepath.Clean(f.Path)
		if other, dup := seen[clean]; dup {
			ps.field(0, r.field, "%s is also %s%s: the FIFOs must all be different (keepalived's rule; one FIFO gets both kinds of lines with notify_fifo)", f.Path, other, ps.lineRef(ps.lines[other]))
			continue
		}
		seen[clean] = r.field
		if !f.Owner.IsZero() {
			if _, err := runas.Lookup(f.Owner.User, f.Owner.Group); err != nil {
				ps.field(0, r.field+".user", "%v", err)
			}
		}
	}
}

// validateSyncGroups checks that each group names existing instances and
// that no instance is in two groups (keepalived refuses both), and, in a
// group without sync_group_tracking_weight, refuses the members' own
// weighted track_interfaces, track_scripts and track_files: keepalived
// 2.2.7 drops those scripts and files and zeroes those interfaces' weights
// (the keepalived.conf reader does the same, with its warnings), so
// a YAML file asking for them would not get what it says. The group's own
// tracking is checked as an instance's, weights allowed: keepalived moves
// every member's priority with them alike.
func (c *Config) validateSyncGroups(ps *problems, instances map[string]int, scripts map[string]*VRRPScript, files map[string]*VRRPTrackFile, procs map[string]*VRRPTrackProcess) {
	names := map[string]int{}
	member := map[string]int{}
	for i, g := range c.VRRPSyncGroups {
		p := fmt.Sprintf("vrrp_sync_groups[%d]", i)
		switch j, dup := names[g.Name]; {
		case g.Name == "":
			ps.field(g.Line, p+".name", "is required")
		case dup:
			ps.field(g.Line, p+".name", "duplicate sync group name %q (also%s)", g.Name, ps.lineRef(c.VRRPSyncGroups[j].Line))
		default:
			names[g.Name] = i
		}
		if len(g.Group) == 0 {
			ps.field(g.Line, p+".group", "needs at least one vrrp instance")
		}
		for n, m := range g.Group {
			f := fmt.Sprintf("%s.group[%d]", p, n)
			if _, ok := instances[m]; !ok {
				ps.field(g.Line, f, "no vrrp instance named %q", m)
				continue
			}
			if j, dup := member[m]; dup {
				if j == i {
					ps.field(g.Line, f, "%q is named twice", m)
				} else {
					ps.field(g.Line, f, "%q is already in sync group %q%s; an instance can be in one group", m, c.VRRPSyncGroups[j].Name, ps.lineRef(c.VRRPSyncGroups[j].Line))
				}
				continue
			}
			member[m] = i
			if !g.TrackingWeight {
				c.refuseMemberWeights(ps, instances[m], g.Name, scripts, files)
			}
		}
		h := trackHolder{line: g.Line, group: true}
		for _, m := range g.Group {
			if j, ok := instances[m]; ok && c.VRRP[j].Priority == 255 && h.owner == "" {
				h.owner = m + "'s priority 255"
			}
		}
		validateTrackInterfaces(ps, p, h, g.TrackInterfaces)
		validateTracks(ps, p, h, g.tracking(), scripts, files, procs)
	}
}

// refuseMemberWeights refuses the weighted track_interface, track_script
// and track_file entries of instance n, a member of sync group group
// without sync_group_tracking_weight (see validateSyncGroups). A weighted
// track_process is left: keepalived 2.2.7 applies its weight there.
func (c *Config) refuseMemberWeights(ps *problems, n int, group string, scripts map[string]*VRRPScript, files map[string]*VRRPTrackFile) {
	v := &c.VRRP[n]
	type entry struct {
		kind, name string
		k, weight  int
	}
	var es []entry
	for k, ti := range v.TrackInterfaces {
		es = append(es, entry{"track_interface", ti.Name, k, ti.Weight})
	}
	// A script's or file's entry without a weight of its own has its
	// definition's.
	for k, t := range v.TrackScripts {
		w := t.Weight
		if sc, ok := scripts[t.Name]; ok {
			w, _ = t.Effective(*sc)
		}
		es = append(es, entry{"track_script", strconv.Quote(t.Name), k, w})
	}
	for k, t := range v.TrackFiles {
		w := t.Weight
		if f, ok := files[t.Name]; ok {
			w, _ = t.Effective(*f)
		}
		es = append(es, entry{"track_file", strconv.Quote(t.Name), k, w})
	}
	for _, e := range es {
		if e.weight != 0 {
			ps.field(v.Line, fmt.Sprintf("vrrp[%d].%s[%d]", n, e.kind, e.k),
				"%s has weight %d, but %s is in sync group %q: keepalived ignores a member's weighted %s unless the group has sync_group_tracking_weight: set it for the weight to move %s's priority (the group follows only when every member's peer wants mastership), or give it weight 0 (its failure puts the whole group in FAULT)",
				e.name, e.weight, v.Name, group, e.kind, v.Name)
		}
	}
}

// lineRef formats " at line N" for cross references (" at FILE:N" in a
// configuration read from several files), or nothing when unknown.
func (ps *problems) lineRef(line int) string {
	if line <= 0 {
		return ""
	}
	if len(ps.srcs) > 1 {
		file, l := ps.where(line)
		return fmt.Sprintf(" at %s:%d", file, l)
	}
	_, l := ps.where(line)
	return fmt.Sprintf(" at line %d", l)
}

// MaxTimeout is the longest idle timeout, IPVS's own limit (INT_MAX
// jiffies at HZ 1000). The datapath's flow clock could count far longer
// (417 days before its signed comparisons wrap).
const MaxTimeout = 2147483 * time.Second

func validateTimeouts(ps *problems, line int, p string, t Timeouts) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"tcp", t.TCP}, {"tcp_fin", t.TCPFin}, {"udp", t.UDP}} {
		// In seconds, as they are written (ipvsadm --set, YAML numbers).
		if f.d < 0 {
			ps.field(line, p+"."+f.name, "must not be negative, got %s s", seconds(f.d))
		}
		if f.d > MaxTimeout {
			ps.field(line, p+"."+f.name, "must be at most %s s (%s, as IPVS allows), got %s s (%s)",
				seconds(MaxTimeout), MaxTimeout, seconds(f.d), f.d)
		}
	}
}

// seconds is d as a number of seconds, fractions only where it has them.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// checkAddr reports why a will not do as a VIP or real-server address, or "".
func checkAddr(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "is required"
	case a.Zone() != "":
		return fmt.Sprintf("%s: zoned addresses are not supported", a)
	case a.IsUnspecified():
		return fmt.Sprintf("%s is the unspecified address", a)
	case a.IsMulticast():
		return fmt.Sprintf("%s is a multicast address", a)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "255.255.255.255 is the broadcast address"
	}
	return ""
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (c *Config) validateService(ps *problems, p string, s *Service) {
	// An unset name is derived from the VIP: when that failed to parse,
	// its own problem says all there is to say.
	if s.Name == "" && !ps.isBroken(p+".vip") {
		ps.field(s.Line, p+".name", "is required")
	}
	if msg := checkAddr(s.VIP); msg != "" {
		ps.field(s.Line, p+".vip", "%s", msg)
	}
	if s.Port == 0 {
		ps.field(s.Line, p+".port", "must be 1..65535")
	}
	switch s.Protocol {
	case TCP, UDP:
	case "":
		ps.field(s.Line, p+".protocol", "is required (tcp or udp)")
	default:
		ps.field(s.Line, p+".protocol", "unknown protocol %q (want tcp or udp)", s.Protocol)
	}
	if !slices.Contains(Schedulers, s.Scheduler) {
		ps.field(s.Line, p+".scheduler", "unknown scheduler %q (want one of %s)", s.Scheduler, schedulerList())
	}
	switch s.Forward {
	case DR, TUN: // TUN: IPIP for IPv4 services, IP6IP6 for IPv6 ones
	default:
		ps.field(s.Line, p+".forward", "unknown forwarding method %q (want dr or tun; NAT is not supported)", s.Forward)
	}
	validateTunnelType(ps, s.Line, p, s.Forward, s.TunnelType, s.TunnelPort)
	if s.PersistenceTimeout < 0 {
		ps.field(s.Line, p+".persistence_timeout", "must not be negative, got %s", s.PersistenceTimeout)
	}
	if g := s.PersistenceGranularity; g != 0 {
		bits := 32
		if s.VIP.Is6() {
			bits = 128
		}
		switch {
		case s.PersistenceTimeout <= 0:
			ps.field(s.Line, p+".persistence_granularity", "only applies with persistence_timeout")
		case g < 1 || g > bits:
			ps.field(s.Line, p+".persistence_granularity", "must be a prefix length 1..%d, got %d", bits, g)
		}
	}
	validateTimeouts(ps, s.Line, p+".timeouts", s.Timeouts)
	if s.DelayLoop <= 0 {
		ps.field(s.Line, p+".delay_loop", "must be > 0, got %s", s.DelayLoop)
	}
	if s.Quorum < 0 {
		ps.field(s.Line, p+".quorum", "must be >= 1 (the sum of the weights the service needs), got %d", s.Quorum)
	}
	if q := max(s.Quorum, 1); s.Hysteresis < 0 || s.Hysteresis >= q {
		ps.field(s.Line, p+".hysteresis", "must be 0..%d (below the quorum), got %d", q-1, s.Hysteresis)
	}
	if s.OPS && s.Protocol != UDP {
		ps.field(s.Line, p+".ops", "only applies to udp services (one-packet scheduling), not %q", s.Protocol)
	}
	if s.HashPort && s.Scheduler != SH && s.Scheduler != MH {
		ps.field(s.Line, p+".hash_port", "only applies to the sh and mh schedulers, not %q", s.Scheduler)
	}

	type rsKey struct {
		addr netip.Addr
		port uint16
	}
	seen := map[rsKey]int{}
	for j := range s.RealServers {
		r := &s.RealServers[j]
		rp := fmt.Sprintf("%s.real_servers[%d]", p, j)
		if msg := checkAddr(r.Address); msg != "" {
			ps.field(r.Line, rp+".address", "%s", msg)
		} else if s.VIP.IsValid() && r.Address.Is4() != s.VIP.Is4() {
			ps.field(r.Line, rp+".address", "%s is %s but the service VIP %s is %s; IPVS cannot mix address families", r.Address, family(r.Address), s.VIP, family(s.VIP))
		}
		if r.Port == 0 {
			ps.field(r.Line, rp+".port", "must be 1..65535")
		} else if f := s.ForwardOf(*r); (f == DR || f == TUN) && s.Port != 0 && r.Port != s.Port {
			// The packet reaches the real server unchanged (new MAC or an
			// outer IP header), so its destination port cannot differ.
			ps.field(r.Line, rp+".port", "port %d differs from the service port %d; %s forwarding cannot change ports", r.Port, s.Port, f)
		}
		validateOwnForward(ps, r.Line, rp+".forward", r.Forward)
		if r.Forward != "" || r.TunnelType != "" || r.TunnelPort != 0 {
			validateTunnelType(ps, r.Line, rp, r.Forward, r.TunnelType, r.TunnelPort)
		}
		if r.Weight < 0 || r.Weight > maxWeight {
			ps.field(r.Line, rp+".weight", "must be 0..%d, got %d", maxWeight, r.Weight)
		}
		validateThresholds(ps, rp, r)
		if r.Address.IsValid() {
			k := rsKey{r.Address, r.Port}
			if i, dup := seen[k]; dup {
				ps.at(r.Line, rp, "duplicate real server %s (also real_servers[%d]%s)", netip.AddrPortFrom(r.Address, r.Port), i, ps.lineRef(s.RealServers[i].Line))
			} else {
				seen[k] = j
			}
		}
		if r.Check == nil && len(r.MoreChecks) > 0 {
			ps.field(r.Line, rp+".checks", "further checks without a first one")
		}
		for n, ck := range r.Checks() {
			cp := CheckField(rp, n)
			validateCheck(ps, cp, ck, r.Line)
			if ck.Type == FileCheck {
				c.validateFileCheck(ps, cp, ck, r.Line)
			}
			if b, to := ck.BindTo, ck.ConnectIP; b.IsValid() && r.Address.IsValid() {
				if !to.IsValid() {
					to = r.Address
				}
				if b.Is4() != to.Is4() {
					ps.field(r.Line, cp+".bindto", "%s is %s but the check connects to %s (%s)", b, family(b), to, family(to))
				}
			}
		}
		for _, n := range []struct{ field, script string }{{"notify_up", r.NotifyUp}, {"notify_down", r.NotifyDown}} {
			if n.script == "" {
				continue
			}
			if strings.TrimSpace(n.script) == "" {
				ps.field(r.Line, rp+"."+n.field, "is blank")
			} else if r.Check == nil {
				// Without a check a real server is always up: the script
				// would never run, which its author would not expect.
				ps.field(r.Line, rp+"."+n.field, "needs a check: a real server without one never goes up or down")
			}
		}
	}
	if ss := s.SorryServer; ss != nil {
		sp := p + ".sorry_server"
		line := ss.Line
		if line == 0 {
			line = s.Line
		}
		if msg := checkAddr(ss.Address); msg != "" {
			ps.field(line, sp+".address", "%s", msg)
		} else if s.VIP.IsValid() && ss.Address.Is4() != s.VIP.Is4() {
			ps.field(line, sp+".address", "%s is %s but the service VIP %s is %s; IPVS cannot mix address families", ss.Address, family(ss.Address), s.VIP, family(s.VIP))
		}
		if ss.Port == 0 {
			ps.field(line, sp+".port", "must be 1..65535")
		} else if s.Port != 0 && ss.Port != s.Port {
			ps.field(line, sp+".port", "port %d differs from the service port %d; %s forwarding cannot change ports", ss.Port, s.Port, s.SorryForward())
		}
		validateOwnForward(ps, line, sp+".forward", ss.Forward)
		if ss.Forward != "" || ss.TunnelType != "" || ss.TunnelPort != 0 {
			validateTunnelType(ps, line, sp, ss.Forward, ss.TunnelType, ss.TunnelPort)
		}
		if j, dup := seen[rsKey{ss.Address, ss.Port}]; dup && ss.Address.IsValid() {
			ps.at(line, sp, "%s is also real_servers[%d]%s: a sorry server stands in for the pool, it cannot be in it", netip.AddrPortFrom(ss.Address, ss.Port), j, ps.lineRef(s.RealServers[j].Line))
		}
	}
}

func schedulerList() string {
	names := make([]string, len(Schedulers))
	for i, s := range Schedulers {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// validateURL checks one url of an http or https check.
func validateURL(ps *problems, p string, u CheckURL, line int) {
	if u.Path == "" {
		ps.field(line, p+".path", "is required for http and https checks")
	} else if !strings.HasPrefix(u.Path, "/") {
		ps.field(line, p+".path", "must start with /, got %q", u.Path)
	}
	if u.StatusCodes != "" {
		// Parsers refuse bad codes; a configuration built in code may not.
		if _, err := u.StatusCodes.Ranges(); err != nil {
			ps.field(line, p+".status_code", "%v", err)
		}
	}
	if u.Digest != "" && !isMD5Hex(u.Digest) {
		ps.field(line, p+".digest", "must be 32 hex digits (an MD5 as genhash prints it), got %q", u.Digest)
	}
	if u.VirtualHost != "" && !validHostHeader(u.VirtualHost) {
		ps.field(line, p+".virtualhost", "must be a host name (optionally with :port), got %q", u.VirtualHost)
	}
	validateRegex(ps, p, u.Regex, line)
}

// validateRegex compiles a url's regex as its prober will, so a pattern
// or option that Go's regexp cannot match as keepalived's PCRE2 would
// refuses the configuration instead of failing a check at run time.
func validateRegex(ps *problems, p string, r URLRegex, line int) {
	switch {
	case r == URLRegex{}:
	case r.Pattern == "":
		ps.field(line, p+".regex", "is required with regex_no_match, regex_options and the regex offsets")
	case r.MinOffset < 0:
		ps.field(line, p+".regex_min_offset", "must be a byte offset into the body (0 or more), got %d", r.MinOffset)
	case r.MaxOffsetSet && (r.MaxOffset < r.MinOffset):
		ps.field(line, p+".regex_max_offset", "must be at least regex_min_offset (%d), got %d", r.MinOffset, r.MaxOffset)
	default:
		if _, _, err := regexFlags(r.Options); err != nil {
			ps.field(line, p+".regex_options", "%v", err)
		} else if _, err := CompileRegex(r); err != nil {
			ps.field(line, p+".regex", "%v", err)
		}
	}
}

func validateCheck(ps *problems, p string, ck *Check, rsLine int) {
	line := ck.Line
	if line == 0 {
		line = rsLine
	}
	switch {
	case slices.Contains(CheckTypes, ck.Type):
	case ck.Type == "":
		ps.field(line, p+".type", "is required (%s)", checkTypeList())
	default:
		ps.field(line, p+".type", "unknown check type %q (want %s)", ck.Type, checkTypeList())
	}
	if !ck.User.IsZero() && ck.Type != MiscCheck && ck.Type != "" {
		ps.field(line, p+".user", "applies only to misc checks (the user their script runs as)")
	}
	if ck.ConnectIP.IsValid() {
		if msg := checkAddr(ck.ConnectIP); msg != "" {
			ps.field(line, p+".connect_ip", "%s", msg)
		}
	}
	if ck.BindTo.IsValid() {
		if msg := checkAddr(ck.BindTo); msg != "" {
			ps.field(line, p+".bindto", "%s", msg)
		}
	}
	// An interface that does not exist yet is not an error: the checks
	// fail (and say why) until it appears, as keepalived's do.
	if len(ck.BindIf) > maxIfName || strings.ContainsAny(ck.BindIf, "/ \t") {
		ps.field(line, p+".bind_if", "%q is not an interface name (at most %d characters, no '/' or spaces)", ck.BindIf, maxIfName)
	}
	if ck.Type == MiscCheck {
		for _, f := range []struct {
			set  bool
			name string
		}{{ck.BindTo.IsValid(), "bindto"}, {ck.BindPort != 0, "bind_port"}, {ck.BindIf != "", "bind_if"}, {ck.FWMark != 0, "fwmark"}} {
			if f.set {
				ps.field(line, p+"."+f.name, "does not apply to misc checks (a script makes its own connections)")
			}
		}
	} else if ck.Dynamic {
		ps.field(line, p+".dynamic", "only applies to misc checks (the script's exit status sets the weight)")
	}
	if ck.DelayLoop < 0 {
		ps.field(line, p+".delay_loop", "must not be negative, got %s", ck.DelayLoop)
	}
	if ck.Type != FileCheck {
		if ck.Type != MiscCheck && ck.ConnectTimeout <= 0 {
			ps.field(line, p+".connect_timeout", "must be > 0, got %s", ck.ConnectTimeout)
		}
		if ck.Retry < 0 {
			ps.field(line, p+".retry", "must not be negative, got %d", ck.Retry)
		}
		if ck.DelayBeforeRetry < 0 {
			ps.field(line, p+".delay_before_retry", "must not be negative, got %s", ck.DelayBeforeRetry)
		}
		if ck.Rise < 1 {
			ps.field(line, p+".rise", "must be >= 1, got %d", ck.Rise)
		}
		if ck.Fall < 1 {
			ps.field(line, p+".fall", "must be >= 1, got %d", ck.Fall)
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{ck.TrackFile != "", "track_file"}, {ck.FileWeightSet, "weight"}, {ck.FileReverse, "reverse"}} {
			if f.set {
				ps.field(line, p+"."+f.name, "only applies to file checks")
			}
		}
	}
	// Fields of another check type would be silently unused: refuse them so a
	// typo in "type" does not turn an HTTP check into a bare TCP connect.
	if ck.Type.IsHTTP() {
		for i, u := range ck.URLs() {
			validateURL(ps, URLField(p, i), u, line)
		}
	} else {
		for _, f := range []struct {
			set  bool
			name string
		}{{ck.Path != "", "path"}, {ck.StatusCodes != "", "status_code"}, {ck.Digest != "", "digest"}, {ck.VirtualHost != "", "virtualhost"}, {ck.Regex != URLRegex{}, "regex"}, {len(ck.MoreURLs) > 0, "urls"}} {
			if f.set {
				ps.field(line, p+"."+f.name, "only applies to http and https checks")
			}
		}
	}
	if ck.EnableSNI && ck.Type != HTTPSCheck {
		ps.field(line, p+".enable_sni", "only applies to https checks")
	} else if ck.EnableSNI && ck.VirtualHost == "" {
		ps.field(line, p+".enable_sni", "needs virtualhost: the name to send in the TLS handshake")
	}
	validateSMTPUDPDNS(ps, p, ck, line)
	if ck.Type == PingCheck {
		// ICMP has no ports; a port would look like it mattered.
		for _, f := range []struct {
			set  bool
			name string
		}{{ck.ConnectPort != 0, "connect_port"}, {ck.BindPort != 0, "bind_port"}} {
			if f.set {
				ps.field(line, p+"."+f.name, "does not apply to ping checks (ICMP has no ports)")
			}
		}
	}
	if ck.Type == MiscCheck {
		if strings.TrimSpace(ck.Script) == "" {
			ps.field(line, p+".script", "is required for misc checks")
		}
		if ck.Timeout <= 0 {
			ps.field(line, p+".timeout", "must be > 0, got %s", ck.Timeout)
		}
		if ck.ConnectIP.IsValid() || ck.ConnectPort != 0 {
			ps.field(line, p+".connect_port", "connect_ip and connect_port do not apply to misc checks")
		}
	} else {
		if ck.Script != "" {
			ps.field(line, p+".script", "only applies to misc checks")
		}
		if ck.Timeout != 0 {
			ps.field(line, p+".timeout", "only applies to misc checks (use connect_timeout)")
		}
	}
}

// checkTypeList names the check types for messages: "tcp, http, … or dns".
func checkTypeList() string {
	names := make([]string, len(CheckTypes))
	for i, t := range CheckTypes {
		names[i] = string(t)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// validateSMTPUDPDNS checks the fields of the SMTP, UDP and DNS checks, and
// refuses them on the other types, where they would be silently unused.
func validateSMTPUDPDNS(ps *problems, p string, ck *Check, line int) {
	type field struct {
		set  bool
		name string
	}
	only := func(t CheckType, fields ...field) {
		if ck.Type == t {
			return
		}
		for _, f := range fields {
			if f.set {
				ps.field(line, p+"."+f.name, "only applies to %s checks", t)
			}
		}
	}
	only(SMTPCheck, field{ck.HeloName != "", "helo_name"})
	only(UDPCheck, field{ck.Payload != "", "payload"}, field{ck.RequireReply, "require_reply"},
		field{ck.MinReplyLength != 0, "min_reply_length"}, field{ck.MaxReplyLength != 0, "max_reply_length"})
	only(DNSCheck, field{ck.QueryType != "", "query_type"}, field{ck.QueryName != "", "query_name"})

	switch ck.Type {
	case SMTPCheck:
		// It goes on the HELO line: a space or control character would
		// change the command (CR LF would add another).
		if strings.ContainsFunc(ck.HeloName, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			ps.field(line, p+".helo_name", "must be one word without control characters, got %q", ck.HeloName)
		}
	case UDPCheck:
		if ck.Payload != "" {
			if _, _, err := ParseHex(ck.Payload, false); err != nil {
				ps.field(line, p+".payload", "%v", err)
			}
		}
		if ck.ReplyPattern != "" {
			if _, _, err := ParseHex(ck.ReplyPattern, true); err != nil {
				ps.field(line, p+".require_reply", "%v", err)
			} else if !ck.RequireReply {
				ps.field(line, p+".require_reply", "a reply pattern needs require_reply")
			}
		}
		for _, f := range []struct {
			n    int
			name string
		}{{ck.MinReplyLength, "min_reply_length"}, {ck.MaxReplyLength, "max_reply_length"}} {
			if f.n < 0 || f.n > 65535 {
				ps.field(line, p+"."+f.name, "must be 0..65535, got %d", f.n)
			}
		}
		if ck.ReplyPattern == "" && (ck.MinReplyLength != 0 || ck.MaxReplyLength != DefaultMaxReplyLength) {
			// keepalived compares the reply's length only along with a
			// pattern; without one these would be silently unused.
			ps.field(line, p+".min_reply_length", "min_reply_length and max_reply_length only apply with a require_reply pattern (keepalived checks the length only then)")
		} else if ck.MinReplyLength > ck.MaxReplyLength {
			ps.field(line, p+".min_reply_length", "%d is above max_reply_length %d: every reply would fail", ck.MinReplyLength, ck.MaxReplyLength)
		}
	case DNSCheck:
		if !slices.Contains(DNSQueryTypes, ck.QueryType) {
			ps.field(line, p+".query_type", "unknown DNS query type %q (want %s)", ck.QueryType, strings.Join(DNSQueryTypes, ", "))
		}
		if msg := dnsNameProblem(ck.QueryName); msg != "" {
			ps.field(line, p+".query_name", "%s", msg)
		}
	}
}

// dnsNameProblem says why name cannot be asked for in a DNS query, or "":
// "." (the root) or labels of 1..63 octets, 253 in all, as a query carries
// them; keepalived refuses empty labels too.
func dnsNameProblem(name string) string {
	if name == "." {
		return ""
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return "is empty (use . for the root)"
	}
	if len(n) > 253 {
		return fmt.Sprintf("is longer than 253 characters (%d)", len(n))
	}
	for _, label := range strings.Split(n, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("%q has an empty label", name)
		case len(label) > 63:
			return fmt.Sprintf("%q has a label longer than 63 characters", name)
		case strings.ContainsFunc(label, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
			return fmt.Sprintf("%q has a space, control or non-ASCII character", name)
		}
	}
	return ""
}

// oldChecksumApplies reports whether the adverts can have keepalived's old
// unicast VRRPv3 checksum: IPv4, version 3, unicast peers.
func (v *VRRPInstance) oldChecksumApplies() bool {
	return v.Version == 3 && len(v.UnicastPeers) > 0 && (len(v.VirtualAddrs) == 0 || v.VirtualAddrs[0].Unmap().Is4())
}

func validateVRRP(ps *problems, p string, v *VRRPInstance) {
	l := v.Line
	if v.Name == "" {
		ps.field(l, p+".name", "is required")
	}
	if a := v.UnicastSrcIP; a.IsValid() && (!a.Is4() || checkAddr(a) != "") {
		ps.field(l, p+".unicast_src_ip", "must be an IPv4 unicast address of the interface, got %s", a)
	}
	if v.TrackSrcIP && !v.UnicastSrcIP.IsValid() {
		ps.field(l, p+".track_src_ip", "needs unicast_src_ip: without it the interface's own address is followed anyway (FAULT while it has none)")
	}
	switch v.UnicastChecksum {
	case "":
	case "old", "standard":
		if !v.oldChecksumApplies() {
			ps.field(l, p+".unicast_checksum", "applies to IPv4 VRRPv3 instances with unicast_peer only (keepalived's old_unicast_checksum): IPv6 and VRRPv2 checksums have no such variant, and multicast adverts were never affected")
		}
	default:
		ps.field(l, p+".unicast_checksum", "must be auto (the default: switch to the old form when a peer sends it), old or standard, got %q", v.UnicastChecksum)
	}
	seenPeer := map[netip.Addr]bool{}
	for i, a := range v.UnicastPeers {
		f := fmt.Sprintf("%s.unicast_peer[%d]", p, i)
		switch {
		case !a.Is4() || checkAddr(a) != "":
			ps.field(l, f, "must be an IPv4 unicast address, got %s", a)
		case seenPeer[a]:
			ps.field(l, f, "%s is listed twice", a)
		case a == v.UnicastSrcIP:
			ps.field(l, f, "%s is this director's own unicast_src_ip", a)
		}
		seenPeer[a] = true
	}
	// Without unicast_peer, unicast_src_ip (keepalived's mcast_src_ip, an
	// alias) is the source of the multicast adverts.
	validateVRRPTransport(ps, p, v)
	validateVMAC(ps, p, v)
	if v.State != "MASTER" && v.State != "BACKUP" {
		ps.field(l, p+".state", "must be MASTER or BACKUP, got %q", v.State)
	}
	if v.Interface == "" {
		ps.field(l, p+".interface", "is required")
	}
	if v.VirtualRouterID < 1 || v.VirtualRouterID > 255 {
		ps.field(l, p+".virtual_router_id", "must be 1..255, got %d", v.VirtualRouterID)
	}
	if v.Priority < 1 || v.Priority > 255 {
		ps.field(l, p+".priority", "must be 1..255, got %d", v.Priority)
	}
	switch v.Version {
	case 2:
		if v.AdvertInterval < time.Second || v.AdvertInterval > maxAdvertV2 || v.AdvertInterval%time.Second != 0 {
			ps.field(l, p+".advert_int", "VRRPv2 sends whole seconds: must be 1..255 s, got %s", v.AdvertInterval)
		}
	case 3:
		if v.AdvertInterval < 10*time.Millisecond || v.AdvertInterval > maxAdvertV3 || v.AdvertInterval%(10*time.Millisecond) != 0 {
			ps.field(l, p+".advert_int", "VRRPv3 sends centiseconds: must be 0.01..40.95 s in steps of 0.01, got %s", v.AdvertInterval)
		}
	default:
		ps.field(l, p+".version", "must be 2 or 3, got %d", v.Version)
	}
	if v.PreemptDelay < 0 || v.PreemptDelay > maxPreemptDelay {
		ps.field(l, p+".preempt_delay", "must be 0..1000 s, got %s", v.PreemptDelay)
	}
	// 0 is the default 3 here; the readers refuse a 0 written in a file.
	if v.DownTimerAdverts < 0 || v.DownTimerAdverts > maxDownTimerAdverts {
		ps.field(l, p+".down_timer_adverts", "must be 1..%d, got %d", maxDownTimerAdverts, v.DownTimerAdverts)
	}
	switch v.AuthType {
	case "":
		if v.AuthPass != "" {
			ps.field(l, p+".auth_pass", "is set but auth_type is not PASS")
		}
	case "PASS":
		if v.Version == 3 {
			// RFC 5798 removed authentication; keepalived ignores it for
			// v3, which would silently drop what the operator asked for.
			ps.field(l, p+".auth_type", "VRRPv3 has no authentication; remove auth_type or use version 2")
		}
		if v.AuthPass == "" {
			ps.field(l, p+".auth_pass", "is required with auth_type PASS")
		} else if len(v.AuthPass) > maxAuthPass {
			ps.field(l, p+".auth_pass", "must be at most %d characters, got %d (keepalived would truncate it)", maxAuthPass, len(v.AuthPass))
		}
	default:
		ps.field(l, p+".auth_type", "unsupported auth_type %q (want PASS or none)", v.AuthType)
	}
	if len(v.VirtualAddrs) == 0 {
		ps.field(l, p+".virtual_ipaddress", "at least one virtual address is required")
	}
	seen := map[netip.Addr]bool{}
	for n, a := range v.VirtualAddrs {
		fp := fmt.Sprintf("%s.virtual_ipaddress[%d]", p, n)
		if msg := checkAddr(a); msg != "" {
			ps.field(l, fp, "%s", msg)
			continue
		}
		if seen[a] {
			ps.field(l, fp, "duplicate virtual address %s", a)
		}
		seen[a] = true
		if a.Is4() != v.VirtualAddrs[0].Is4() {
			ps.field(l, fp, "%s is %s but %s is %s; one instance carries one address family", a, family(a), v.VirtualAddrs[0], family(v.VirtualAddrs[0]))
		} else if a.Is6() && v.Version == 2 {
			ps.field(l, fp, "IPv6 address %s needs VRRP version 3", a)
		}
	}
	for n, a := range v.ExcludedAddrs {
		fp := fmt.Sprintf("%s.virtual_ipaddress_excluded[%d]", p, n)
		switch {
		case checkAddr(a) != "":
			ps.field(l, fp, "%s", checkAddr(a))
		case len(v.VirtualAddrs) > 0 && a.Is4() != v.VirtualAddrs[0].Is4():
			ps.field(l, fp, "%s is %s but %s is %s; one instance carries one address family", a, family(a), v.VirtualAddrs[0], family(v.VirtualAddrs[0]))
		case seen[a]:
			ps.field(l, fp, "duplicate virtual address %s", a)
		}
		seen[a] = true
	}
	validateLines(ps, l, p+".virtual_routes", v.VirtualRoutes, routeProblem)
	validateLines(ps, l, p+".virtual_rules", v.VirtualRules, ruleProblem)
	validateTrackInterfaces(ps, p, instanceHolder(v), v.TrackInterfaces)
}

// validateTrackInterfaces checks the track_interface entries of an
// instance or sync group (p, h): a name, a weight within keepalived's
// range, and none moving an address owner's priority.
func validateTrackInterfaces(ps *problems, p string, h trackHolder, ifaces []TrackInterface) {
	seen := map[string]bool{}
	for n, t := range ifaces {
		f := fmt.Sprintf("%s.track_interface[%d]", p, n)
		switch {
		case strings.TrimSpace(t.Name) == "":
			ps.field(h.line, f, "empty interface name")
		case t.Weight < -maxScriptWeight || t.Weight > maxScriptWeight:
			ps.field(h.line, f+".weight", "must be -%d..%d, got %d", maxScriptWeight, maxScriptWeight, t.Weight)
		case t.Weight != 0 && h.owner != "":
			ps.field(h.line, f+".weight", "a weight cannot move %s (the address owner); track it without a weight (its loss is a FAULT)", h.owner)
		case h.group && seen[t.Name]:
			// Its weight would count twice in every member. (An
			// instance's second entry is left as xlb always took it.)
			ps.field(h.line, f, "%q is tracked twice", t.Name)
		}
		seen[t.Name] = true
	}
}

// validHostHeader accepts what may stand in an HTTP Host header and a TLS
// server name: letters, digits and "-._:[]" (a name, an address, a port).
func validHostHeader(h string) bool {
	if len(h) > 255 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-._:[]", r):
		default:
			return false
		}
	}
	return true
}

// maxScriptWeight is keepalived's range for a vrrp_script weight.
const maxScriptWeight = 253

// validateVRRPScripts checks the vrrp_scripts and returns them by name.
func (c *Config) validateVRRPScripts(ps *problems) map[string]*VRRPScript {
	byName := map[string]*VRRPScript{}
	for i := range c.VRRPScripts {
		sc := &c.VRRPScripts[i]
		p := fmt.Sprintf("vrrp_scripts[%d]", i)
		if sc.Name == "" {
			ps.field(sc.Line, p+".name", "is required")
		} else if prev, dup := byName[sc.Name]; dup {
			ps.field(sc.Line, p+".name", "duplicate vrrp script name %q (also%s)", sc.Name, ps.lineRef(prev.Line))
		} else {
			byName[sc.Name] = sc
		}
		if strings.TrimSpace(sc.Script) == "" {
			ps.field(sc.Line, p+".script", "is required")
		}
		if sc.Interval <= 0 {
			ps.field(sc.Line, p+".interval", "must be > 0, got %s", sc.Interval)
		}
		if sc.Timeout <= 0 {
			ps.field(sc.Line, p+".timeout", "must be > 0, got %s", sc.Timeout)
		}
		if sc.Weight < -maxScriptWeight || sc.Weight > maxScriptWeight {
			ps.field(sc.Line, p+".weight", "must be -%d..%d, got %d", maxScriptWeight, maxScriptWeight, sc.Weight)
		}
		if sc.Rise < 1 {
			ps.field(sc.Line, p+".rise", "must be >= 1, got %d", sc.Rise)
		}
		if sc.Fall < 1 {
			ps.field(sc.Line, p+".fall", "must be >= 1, got %d", sc.Fall)
		}
	}
	return byName
}

// maxThreshold bounds connection thresholds: IPVS keeps them as 32-bit
// counts; above the connection table's reach a limit could never hold.
const maxThreshold = 1<<31 - 1

// validateThresholds checks a real server's uthreshold/lthreshold as IPVS
// does when they are set (ip_vs_ctl: the lower above the upper is ERANGE,
// a server that could never leave overload).
func validateThresholds(ps *problems, rp string, r *RealServer) {
	switch {
	case r.UThreshold < 0 || r.UThreshold > maxThreshold:
		ps.field(r.Line, rp+".uthreshold", "must be 0..%d (0: no limit), got %d", maxThreshold, r.UThreshold)
	case r.LThreshold < 0 || r.LThreshold > maxThreshold:
		ps.field(r.Line, rp+".lthreshold", "must be 0..%d, got %d", maxThreshold, r.LThreshold)
	case r.LThreshold > 0 && r.UThreshold == 0:
		ps.field(r.Line, rp+".lthreshold", "needs a uthreshold: it is where an overloaded server takes flows again")
	case r.LThreshold > r.UThreshold:
		ps.field(r.Line, rp+".lthreshold", "%d is above uthreshold %d; the server would never take flows again", r.LThreshold, r.UThreshold)
	}
}

// maxFileCheckWeight is keepalived 2.2.7's range for a FILE_CHECK's own
// weight (its track_file block's is maxFileWeight).
const maxFileCheckWeight = math.MaxInt32

// validateFileCheck checks a FILE_CHECK: the track file it names must be
// defined, its own weight within keepalived's range, and it takes none of
// the polling settings (it follows the file).
func (c *Config) validateFileCheck(ps *problems, p string, ck *Check, rsLine int) {
	line := ck.Line
	if line == 0 {
		line = rsLine
	}
	switch {
	case ck.TrackFile == "":
		ps.field(line, p+".track_file", "is required for file checks (a track file name)")
	case !slices.ContainsFunc(c.VRRPTrackFiles, func(f VRRPTrackFile) bool { return f.Name == ck.TrackFile }):
		ps.field(line, p+".track_file", "no track file named %q (define it in vrrp_track_files)", ck.TrackFile)
	}
	if ck.FileWeightSet && (ck.FileWeight < -maxFileCheckWeight || ck.FileWeight > maxFileCheckWeight) {
		ps.field(line, p+".weight", "must be -%d..%d, got %d", maxFileCheckWeight, maxFileCheckWeight, ck.FileWeight)
	}
	if ck.FileReverse && !ck.FileWeightSet {
		ps.field(line, p+".reverse", "needs weight: without one the track file's weight and reverse apply")
	}
	for _, f := range []struct {
		set  bool
		name string
	}{
		{ck.ConnectIP.IsValid(), "connect_ip"}, {ck.ConnectPort != 0, "connect_port"}, {ck.BindTo.IsValid(), "bindto"},
		{ck.BindPort != 0, "bind_port"}, {ck.BindIf != "", "bind_if"}, {ck.FWMark != 0, "fwmark"}, {ck.DelayLoop != 0, "delay_loop"}, {ck.ConnectTimeout != 0, "connect_timeout"},
		{ck.Retry != 0, "retry"}, {ck.DelayBeforeRetry != 0, "delay_before_retry"}, {ck.Rise != 0, "rise"}, {ck.Fall != 0, "fall"},
	} {
		if f.set {
			ps.field(line, p+"."+f.name, "does not apply to file checks (keepalived's FILE_CHECK takes only track_file and weight: it follows the file, up or down at once)")
		}
	}
}

// maxFileWeight is keepalived's range for a track_file weight: one more
// than a script's, so that a value of -1 can fault an instance.
const maxFileWeight = 254

// validateTrackFiles checks the track_file blocks and returns them by name.
func (c *Config) validateTrackFiles(ps *problems) map[string]*VRRPTrackFile {
	byName := map[string]*VRRPTrackFile{}
	for i := range c.VRRPTrackFiles {
		tf := &c.VRRPTrackFiles[i]
		p := fmt.Sprintf("vrrp_track_files[%d]", i)
		if tf.Name == "" {
			ps.field(tf.Line, p+".name", "is required")
		} else if prev, dup := byName[tf.Name]; dup {
			ps.field(tf.Line, p+".name", "duplicate track file name %q (also%s)", tf.Name, ps.lineRef(prev.Line))
		} else {
			byName[tf.Name] = tf
		}
		switch {
		case strings.TrimSpace(tf.File) == "":
			ps.field(tf.Line, p+".file", "is required")
		case !filepath.IsAbs(tf.File):
			// keepalived resolves it against its working directory (/
			// for a daemon); xlb's may be anything, so say it plainly.
			ps.field(tf.Line, p+".file", "must be an absolute path, got %q", tf.File)
		}
		if tf.Weight < -maxFileWeight || tf.Weight > maxFileWeight {
			ps.field(tf.Line, p+".weight", "must be -%d..%d, got %d", maxFileWeight, maxFileWeight, tf.Weight)
		}
		if tf.InitValue < math.MinInt32 || tf.InitValue > math.MaxInt32 {
			ps.field(tf.Line, p+".init_file.value", "must be a 32-bit integer, got %d", tf.InitValue)
		}
	}
	return byName
}

// maxProcessWeight is keepalived's range for a track_process weight.
const maxProcessWeight = 254

// maxProcessCount is keepalived's largest quorum and quorum_max.
const maxProcessCount = 65535

// maxProcessDelay is keepalived's longest fork_delay / terminate_delay.
const maxProcessDelay = time.Hour

// commLen is how long a process name (/proc/PID/comm) can be: the kernel
// keeps 15 characters.
const commLen = 15

// validateTrackProcesses checks the vrrp_track_process blocks and
// returns them by name.
func (c *Config) validateTrackProcesses(ps *problems) map[string]*VRRPTrackProcess {
	byName := map[string]*VRRPTrackProcess{}
	for i := range c.VRRPTrackProcesses {
		tp := &c.VRRPTrackProcesses[i]
		p := fmt.Sprintf("vrrp_track_processes[%d]", i)
		if tp.Name == "" {
			ps.field(tp.Line, p+".name", "is required")
		} else if prev, dup := byName[tp.Name]; dup {
			ps.field(tp.Line, p+".name", "duplicate track process name %q (also%s)", tp.Name, ps.lineRef(prev.Line))
		} else {
			byName[tp.Name] = tp
		}
		switch {
		case tp.Process == "":
			ps.field(tp.Line, p+".process", "is required (a process name, or with full_command the command's first word)")
		case !tp.FullCommand && len(tp.Process) > commLen:
			// keepalived compares the name with comm, which the kernel
			// cuts to 15 characters: it would never match.
			ps.field(tp.Line, p+".process", "%q is longer than a process name can be (%d characters, /proc/PID/comm): it would never match; give the first %d characters, or set full_command to match the command line", tp.Process, commLen, commLen)
		}
		switch tp.ParamMatch {
		case ParamNone, ParamExact, ParamPartial, ParamInitial:
		default:
			ps.field(tp.Line, p+".param_match", "want exact, partial or initial, got %q", tp.ParamMatch)
		}
		if tp.ParamMatch != ParamNone && !tp.FullCommand {
			ps.field(tp.Line, p+".full_command", "must be set with param_match (parameters are on the command line)")
		}
		if len(tp.Params) > 0 && tp.ParamMatch == ParamNone {
			ps.field(tp.Line, p+".param_match", "must be set with params")
		}
		if tp.Weight < -maxProcessWeight || tp.Weight > maxProcessWeight {
			ps.field(tp.Line, p+".weight", "must be -%d..%d, got %d", maxProcessWeight, maxProcessWeight, tp.Weight)
		}
		noneRunning := tp.HasQuorumMax && tp.QuorumMax == 0
		switch {
		case tp.HasQuorumMax && (tp.QuorumMax < 0 || tp.QuorumMax > maxProcessCount):
			ps.field(tp.Line, p+".quorum_max", "must be 0..%d, got %d", maxProcessCount, tp.QuorumMax)
		case noneRunning && tp.Quorum > 0:
			ps.field(tp.Line, p+".quorum_max", "is 0 (up while none runs), but quorum is %d", tp.Quorum)
		case tp.HasQuorumMax && tp.Quorum > tp.QuorumMax:
			ps.field(tp.Line, p+".quorum", "%d is more than quorum_max %d: the process could never be up", tp.Quorum, tp.QuorumMax)
		}
		if !noneRunning && (tp.Quorum < 1 || tp.Quorum > maxProcessCount) {
			ps.field(tp.Line, p+".quorum", "must be 1..%d, got %d (quorum_max 0 means up while none runs)", maxProcessCount, tp.Quorum)
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"fork_delay", tp.ForkDelay}, {"terminate_delay", tp.TerminateDelay}} {
			if d.v < 0 || d.v > maxProcessDelay {
				ps.field(tp.Line, p+"."+d.name, "must be 0..3600 seconds, got %v", d.v)
			}
		}
	}
	return byName
}

// validateGARP checks gratuitous ARP settings against keepalived's ranges;
// prefix makes the field names ("vrrp_" for the global ones). A value an
// instance took from global is reported there only. The zero GARP is a
// configuration built in code that leaves the timing to keepalived's
// defaults.
func validateGARP(ps *problems, line int, prefix string, g, global *GARP) {
	if *g == (GARP{}) {
		return
	}
	for _, f := range garpFields() {
		if global != nil && *global != (GARP{}) && f.same(g, global) {
			continue
		}
		field := prefix + f.name
		if f.num != nil {
			n, least := *f.num(g), 1
			if f.name == "garp_lower_prio_repeat" {
				least = 0 // none for a lower-priority advert
			}
			if n < least {
				ps.field(line, field, "must be at least %d, got %d", least, n)
			}
			continue
		}
		d := *f.dur(g)
		switch f.name {
		case "garp_interval", "gna_interval":
			if d < 0 || d > maxGARPDelay || d%time.Microsecond != 0 {
				ps.field(line, field, "must be 0..%d s in microseconds, got %s", maxGARPDelay/time.Second, d)
			}
		case "garp_master_refresh":
			if d < 0 || d > maxGARPRefresh || d%time.Second != 0 {
				ps.field(line, field, "must be whole seconds 0..%d, got %s", maxGARPRefresh/time.Second, d)
			}
		default:
			if d < 0 || d > maxGARPDelay || d%time.Second != 0 {
				ps.field(line, field, "must be whole seconds 0..%d, got %s", maxGARPDelay/time.Second, d)
			}
		}
	}
}

// tracked is one entry of a vrrp_instance's track_script, track_file or
// track_process as validateTracked sees it.
type tracked struct {
	name      string
	defined   bool // the script, file or process it names exists
	weightSet bool // the entry sets its own weight
	weight    int  // the weight it tracks with (its own, else the object's)
}

// trackKind is what differs between the three kinds of tracked objects.
type trackKind struct {
	field     string // "track_file"
	what      string // "track file", for "needs a track file name"
	undefined string // the message for a name nothing defines (%q: the name)
	maxWeight int
	fault     string // what weight 0 means, for the address owner's message
}

// trackHolder is an instance or a sync group whose tracking is checked.
type trackHolder struct {
	line int
	// owner, when set, is the address owner's priority no weight may
	// move: "priority 255", or for a group "VI_1's priority 255".
	owner string
	group bool
}

// instanceHolder is v as the holder of its own tracking.
func instanceHolder(v *VRRPInstance) trackHolder {
	h := trackHolder{line: v.Line}
	if v.Priority == 255 {
		h.owner = "priority 255"
	}
	return h
}

// validateTracked checks the entries of one kind of an instance or sync
// group: each names a defined object, once; its own weight is within the
// kind's range; and no weight moves an address owner's priority 255 (RFC
// 5798; keepalived requires weight 0 there too).
func validateTracked(ps *problems, p string, h trackHolder, k trackKind, n int, entry func(i int) tracked) {
	seen := map[string]bool{}
	for i := range n {
		t := entry(i)
		f := fmt.Sprintf("%s.%s[%d]", p, k.field, i)
		switch {
		case t.name == "":
			ps.field(h.line, f, "needs a %s name", k.what)
			continue
		case !t.defined:
			ps.field(h.line, f, k.undefined, t.name)
			continue
		case seen[t.name]:
			ps.field(h.line, f, "%q is tracked twice", t.name)
		}
		seen[t.name] = true
		if t.weightSet && (t.weight < -k.maxWeight || t.weight > k.maxWeight) {
			ps.field(h.line, f+".weight", "must be -%d..%d, got %d", k.maxWeight, k.maxWeight, t.weight)
		}
		if t.weight != 0 && h.owner != "" {
			ps.field(h.line, f, "a weight cannot move %s (the address owner); use weight 0 (%s)", h.owner, k.fault)
		}
	}
}

// validateTracks checks the track_script, track_file and track_process
// entries of an instance or sync group (p, h) against the scripts, files
// and processes.
func validateTracks(ps *problems, p string, h trackHolder, t tracking, scripts map[string]*VRRPScript, files map[string]*VRRPTrackFile, procs map[string]*VRRPTrackProcess) {
	validateTracked(ps, p, h, trackKind{"track_script", "script", "no vrrp script named %q", maxScriptWeight, "fault on failure"},
		len(*t.scripts), func(i int) tracked {
			t := (*t.scripts)[i]
			sc, ok := scripts[t.Name]
			if !ok {
				return tracked{name: t.Name}
			}
			w, _ := t.Effective(*sc)
			return tracked{t.Name, true, t.WeightSet, w}
		})
	validateTracked(ps, p, h, trackKind{"track_file", "track file", "no track file named %q", maxFileWeight, "fault on a non-zero value"},
		len(*t.files), func(i int) tracked {
			t := (*t.files)[i]
			tf, ok := files[t.Name]
			if !ok {
				return tracked{name: t.Name}
			}
			w, _ := t.Effective(*tf)
			return tracked{t.Name, true, t.WeightSet, w}
		})
	validateTracked(ps, p, h, trackKind{"track_process", "track process", "no track process named %q (define it in vrrp_track_processes)", maxProcessWeight, "fault while the quorum is lost"},
		len(*t.procs), func(i int) tracked {
			t := (*t.procs)[i]
			tp, ok := procs[t.Name]
			if !ok {
				return tracked{name: t.Name}
			}
			w, _ := t.Effective(*tp)
			return tracked{t.Name, true, t.WeightSet, w}
		})
}
