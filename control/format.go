package control

import (
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ListOptions choose what FormatList and friends print.
type ListOptions struct {
	// All includes real servers that take no new flows (health check
	// down, MAC unresolved, removed but draining). IPVS under keepalived
	// has no entry for them, so by default they are left out, as
	// `ipvsadm -Ln` would; scripts grepping the listing see the same thing.
	All bool
	// Exact prints stats and rates in full instead of ipvsadm's K/M/G.
	Exact bool
}

// header replaces ipvsadm's "IP Virtual Server version 1.2.1 (size=4096)".
func header(w io.Writer, s *Snapshot) {
	size := s.ConnTableSize
	if size == 0 {
		size = s.ConnCapacity // a director from before the field
	}
	fmt.Fprintf(w, "xlb %s (conn table size=%d)\n", s.Version, size)
}

func serviceName(s Service) string {
	return strings.ToUpper(s.Protocol) + "  " + s.Addr().String()
}

func shown(rs RealServer, o ListOptions) bool {
	return o.All || (rs.Available && rs.Configured)
}

// forward is the server's forwarding column: its own, or (a snapshot from
// a director that did not say) the service's.
func (rs RealServer) forward(svc Service) string {
	if rs.Forward != "" {
		return rs.Forward
	}
	return svc.Forward
}

// FormatList prints the services like `ipvsadm -Ln`.
func FormatList(w io.Writer, s *Snapshot, o ListOptions) {
	header(w, s)
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
	for _, svc := range s.Services {
		serviceLine(w, svc)
		for _, rs := range svc.RealServers {
			if !shown(rs, o) {
				continue
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", rs.Addr, rs.forward(svc), rs.Weight, rs.ActiveConns, rs.InactiveConns)
		}
	}
}

// FormatPersistConns prints the services like `ipvsadm -Ln
// --persistent-conn`: ipvsadm's own title and columns (no Forward), with
// each real server's live persistence templates as PersistConn.
func FormatPersistConns(w io.Writer, s *Snapshot, o ListOptions) {
	header(w, s)
	fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	for _, svc := range s.Services {
		serviceLine(w, svc)
		for _, rs := range svc.RealServers {
			if !shown(rs, o) {
				continue
			}
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", rs.Addr, rs.Weight, rs.PersistConns, rs.ActiveConns, rs.InactiveConns)
		}
	}
}

// serviceLine is ipvsadm -Ln's line of a service: protocol, address,
// scheduler and flags.
func serviceLine(w io.Writer, svc Service) {
	fmt.Fprintf(w, "%s %s", serviceName(svc), svc.Scheduler)
	if svc.PersistenceSeconds > 0 {
		fmt.Fprintf(w, " persistent %d", svc.PersistenceSeconds)
		// ipvsadm names the mask only when it is not the full one.
		if svc.PersistencePrefix > 0 && svc.PersistencePrefix < svc.VIP.BitLen() {
			fmt.Fprintf(w, " mask %s", persistMask(svc))
		}
	}
	if svc.HashPort {
		fmt.Fprintf(w, " %s-port", svc.Scheduler)
	}
	if svc.OPS {
		fmt.Fprint(w, " ops")
	}
	fmt.Fprintln(w)
}

// FormatStats prints cumulative counters like `ipvsadm -Ln --stats`,
// since the last `xlb zero` (ipvsadm -Z). The director sees only
// client-to-server packets (DR replies bypass it), so OutPkts and
// OutBytes are always 0. A service's numbers are the sums over all its
// real servers, hidden ones included.
func FormatStats(w io.Writer, s *Snapshot, o ListOptions) {
	header(w, s)
	fmt.Fprintln(w, "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes")
	fmt.Fprintln(w, "  -> RemoteAddress:Port")
	for _, svc := range s.Services {
		sum := svc.Totals(true)
		fmt.Fprintf(w, "%-33s", serviceName(svc))
		numbers(w, o.Exact, sum.Conns, sum.Packets, 0, sum.Bytes, 0)
		for _, rs := range svc.RealServers {
			if !shown(rs, o) {
				continue
			}
			c := rs.Listed()
			fmt.Fprintf(w, "  -> %-28s", rs.Addr)
			numbers(w, o.Exact, c.Conns, c.Packets, 0, c.Bytes, 0)
		}
	}
}

// FormatThresholds prints the connection limits like `ipvsadm -Ln
// --thresholds` (as configured: an Lthreshold of 0 means three quarters
// of Uthreshold). A real server at its limit is marked "overloaded".
func FormatThresholds(w io.Writer, s *Snapshot, o ListOptions) {
	header(w, s)
	fmt.Fprintln(w, "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn")
	fmt.Fprintln(w, "  -> RemoteAddress:Port")
	for _, svc := range s.Services {
		fmt.Fprintln(w, serviceName(svc))
		for _, rs := range svc.RealServers {
			if !shown(rs, o) {
				continue
			}
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d", rs.Addr, rs.UThreshold, rs.LThreshold, rs.ActiveConns, rs.InactiveConns)
			if rs.Overloaded {
				fmt.Fprint(w, " overloaded")
			}
			fmt.Fprintln(w)
		}
	}
}

// FormatRules prints the services as `ipvsadm -S -n` does (the format of
// /etc/ipvsadm.rules, which `xlb config convert` reads back): one -A line
// per service, one -a line per real server it lists.
func FormatRules(w io.Writer, s *Snapshot, o ListOptions) {
	for _, svc := range s.Services {
		flag := "-t"
		if svc.Protocol == "udp" {
			flag = "-u"
		}
		name := flag + " " + svc.Addr().String()
		fmt.Fprintf(w, "-A %s -s %s", name, svc.Scheduler)
		if svc.PersistenceSeconds > 0 {
			fmt.Fprintf(w, " -p %d", svc.PersistenceSeconds)
			if full := svc.VIP.BitLen(); svc.PersistencePrefix > 0 && svc.PersistencePrefix < full {
				fmt.Fprintf(w, " -M %s", persistMask(svc))
			}
		}
		if svc.HashPort {
			fmt.Fprintf(w, " -b %s-port", svc.Scheduler)
		}
		if svc.OPS {
			fmt.Fprint(w, " -o")
		}
		fmt.Fprintln(w)
		// The configured table, as ipvsadm-save writes the kernel's: a
		// server down or unresolved right now is still part of it, one
		// removed and draining is not (a saved file must not bring it
		// back).
		for _, rs := range svc.RealServers {
			if !rs.Configured || rs.Sorry {
				continue
			}
			fwd := "-g"
			if rs.forward(svc) == "Tunnel" {
				fwd = "-i"
				if rs.TunnelType != "" {
					fwd += " --tun-type " + rs.TunnelType
				}
				if rs.TunnelPort != 0 {
					fwd += fmt.Sprintf(" --tun-port %d", rs.TunnelPort)
				}
			}
			fmt.Fprintf(w, "-a %s -r %s %s -w %d", name, rs.Addr, fwd, rs.Weight)
			if rs.UThreshold > 0 {
				fmt.Fprintf(w, " -x %d", rs.UThreshold)
			}
			if rs.LThreshold > 0 {
				fmt.Fprintf(w, " -y %d", rs.LThreshold)
			}
			fmt.Fprintln(w)
		}
	}
}

// FormatRate prints per-second rates like `ipvsadm -Ln --rate`, computed
// from two snapshots taken interval apart. Out rates are 0 (see
// FormatStats). A counter that went backwards (slot reused, daemon
// restarted without pins, `xlb zero` between the samples) shows 0 rather
// than a huge number.
func FormatRate(w io.Writer, prev, cur *Snapshot, interval time.Duration, o ListOptions) {
	type ctr struct{ c, p, b uint64 }
	before := map[string]ctr{}
	for _, svc := range prev.Services {
		for _, rs := range svc.RealServers {
			c := rs.Listed()
			before[svc.Key+"|"+rs.Addr.String()] = ctr{c.Conns, c.Packets, c.Bytes}
		}
	}
	secs := interval.Seconds()
	rate := func(now, then uint64) uint64 {
		if now < then || secs <= 0 {
			return 0
		}
		return uint64(math.Round(float64(now-then) / secs))
	}
	header(w, cur)
	fmt.Fprintln(w, "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS")
	fmt.Fprintln(w, "  -> RemoteAddress:Port")
	for _, svc := range cur.Services {
		type row struct {
			rs      RealServer
			c, p, b uint64
		}
		var rows []row
		var sc, sp, sb uint64
		for _, rs := range svc.RealServers {
			old, ok := before[svc.Key+"|"+rs.Addr.String()]
			if !ok {
				// New since the first sample: it started from zero.
				old = ctr{}
			}
			c := rs.Listed()
			r := row{rs, rate(c.Conns, old.c), rate(c.Packets, old.p), rate(c.Bytes, old.b)}
			sc, sp, sb = sc+r.c, sp+r.p, sb+r.b
			rows = append(rows, r)
		}
		fmt.Fprintf(w, "%-33s", serviceName(svc))
		numbers(w, o.Exact, sc, sp, 0, sb, 0)
		for _, r := range rows {
			if !shown(r.rs, o) {
				continue
			}
			fmt.Fprintf(w, "  -> %-28s", r.rs.Addr)
			numbers(w, o.Exact, r.c, r.p, 0, r.b, 0)
		}
	}
}

func numbers(w io.Writer, exact bool, ns ...uint64) {
	for _, n := range ns {
		largeNum(w, n, exact)
	}
	fmt.Fprintln(w)
}

// largeNum is ipvsadm's print_largenum: nine columns, abbreviated unless
// exact: thousands (K) from a hundred million, millions (M) from a
// billion, then G and T.
func largeNum(w io.Writer, n uint64, exact bool) {
	switch {
	case exact:
		fmt.Fprintf(w, " %8d", n)
	case n < 100_000_000:
		fmt.Fprintf(w, "%9d", n)
	case n < 1_000_000_000:
		fmt.Fprintf(w, "%8dK", n/1_000)
	case n < 100_000_000_000:
		fmt.Fprintf(w, "%8dM", n/1_000_000)
	case n < 100_000_000_000_000:
		fmt.Fprintf(w, "%8dG", n/1_000_000_000)
	default:
		fmt.Fprintf(w, "%8dT", n/1_000_000_000_000)
	}
}

// FormatConns prints the connection table like `ipvsadm -Lnc`.
func FormatConns(w io.Writer, r ConnsResult) {
	fmt.Fprintln(w, "xlb connection entries")
	fmt.Fprintf(w, "pro expire %-11s %-21s %-21s destination\n", "state", "source", "virtual")
	for _, c := range r.Conns {
		dst := "-"
		if c.Destination.IsValid() {
			dst = c.Destination.String()
		}
		fmt.Fprintf(w, "%-3s %02d:%02d  %-11s %-21s %-21s %s\n", strings.ToUpper(c.Protocol),
			c.ExpireSeconds/60, c.ExpireSeconds%60, c.State, c.Source, c.Virtual, dst)
	}
	if r.Truncated {
		fmt.Fprintf(w, "(more flows not shown: raise --limit)\n")
	}
}

// FormatTimeouts prints the global timeouts like `ipvsadm -L --timeout`.
func FormatTimeouts(w io.Writer, s *Snapshot) {
	fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", s.Timeouts.TCP, s.Timeouts.TCPFin, s.Timeouts.UDP)
}

// RealServerState summarises whether a real server takes new flows and
// why not: draining (removed from the configuration, flows remain),
// pending (checked, not up, no check finished yet), down (health check
// failing), unresolved (no ARP/ND answer yet), up; a sorry server is
// "sorry" while it takes the new flows, else "sorry standby" (the pool
// serves, or its MAC is unresolved).
func RealServerState(rs RealServer) string {
	switch {
	case !rs.Configured:
		return "draining"
	case rs.Sorry && rs.Available && rs.Weight > 0:
		return "sorry"
	case rs.Sorry:
		return "sorry standby"
	case rs.Health != nil && !rs.Health.Up && rs.Health.Checks == 0:
		return "pending"
	case rs.Health != nil && !rs.Health.Up:
		return "down"
	case !rs.Available && rs.NoQuorum:
		return "no quorum"
	case !rs.Available:
		return "unresolved"
	case rs.Overloaded:
		return "overloaded"
	}
	return "up"
}

// FormatStatus prints the director's health overview.
func FormatStatus(w io.Writer, s *Snapshot) {
	up := time.Duration(s.UptimeSeconds * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(w, "xlb %s on %s: xdp %s, up %s\n", s.Version, s.Iface, s.AttachMode, up)
	fmt.Fprintf(w, "connection table: %d of %d entries", s.ConnEntries, s.ConnCapacity)
	if s.ConnTableSize > 0 {
		fmt.Fprintf(w, " (sized for conn_table_size %d)", s.ConnTableSize)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "timeouts (tcp tcpfin udp): %d %d %d\n", s.Timeouts.TCP, s.Timeouts.TCPFin, s.Timeouts.UDP)
	if len(s.VRRP) == 0 {
		fmt.Fprintln(w, "vrrp: none")
	} else {
		fmt.Fprintln(w, "vrrp:")
		for _, v := range s.VRRP {
			group := ""
			if v.SyncGroup != "" {
				group = ", sync group " + v.SyncGroup
			}
			if v.OldUnicastChecksum {
				group += ", old unicast checksum"
			}
			fmt.Fprintf(w, "  %s: %s (vrid %d, priority %d%s)\n", v.Name, v.State, v.VRID, v.Priority, group)
		}
	}
	if b := s.BGP; b != nil {
		fmt.Fprintf(w, "bgp: announcing %s\n", strings.Join(b.Announced, " "))
		for _, p := range b.Peers {
			fmt.Fprintf(w, "  peer %s as %d: %s, %d prefixes advertised\n", p.Address, p.ASN, p.State, p.Advertised)
		}
	}
	if f := s.FlowSync; f != nil {
		fmt.Fprintf(w, "flow sharing: sent %d, received %d, recorded %d, unknown %d, rejected %d\n", f.Sent, f.Received, f.Inserted, f.Unknown, f.Rejected)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tREAL SERVER\tSTATE\tWEIGHT\tACTIVE\tINACTIVE\tLATENCY\tCHECKS/FAILED\tLAST ERROR")
	for _, svc := range s.Services {
		if len(svc.RealServers) == 0 {
			fmt.Fprintf(tw, "%s\t-\tno real servers\t\t\t\t\t\t\n", svc.Key)
		}
		for _, rs := range svc.RealServers {
			lat, checks, lastErr := "-", "-", "-"
			if h := rs.Health; h != nil {
				checks = fmt.Sprintf("%d/%d", h.Checks, h.Failures)
				if h.Checks > 0 {
					lat = fmtLatency(h.LatencySeconds)
				}
				if h.LastError != "" {
					lastErr = h.LastError
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", svc.Key, rs.Addr, RealServerState(rs),
				rs.Weight, rs.ActiveConns, rs.InactiveConns, lat, checks, lastErr)
		}
	}
	tw.Flush()
}

func fmtLatency(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// persistMask spells -M as ipvsadm lists it: an IPv4 netmask, or the
// prefix length of an IPv6 service.
func persistMask(svc Service) string {
	if !svc.VIP.Is4() {
		return strconv.Itoa(svc.PersistencePrefix)
	}
	m := net.CIDRMask(svc.PersistencePrefix, 32)
	return net.IP(m).String()
}
