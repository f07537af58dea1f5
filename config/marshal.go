package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MarshalYAML prints c as native xlb YAML that ParseYAML reads back into an
// equal Config (Line and Source aside). Every setting is written out,
// defaults included, so the converted file shows what xlb will actually do;
// only values that do not apply (another check type's fields, unset
// per-service timeouts, empty scripts) are left out.
func MarshalYAML(c *Config) ([]byte, error) {
	root := mapping()
	if c.Source != "" {
		// Where the settings came from, for whoever finds the file later.
		root.HeadComment = "xlb configuration converted from " + c.Source
	}
	add(root, "timeouts", timeoutsNode(c.Timeouts, false))
	add(root, "conn_table_size", intNode(c.ConnTableSize))
	addString(root, "script_user", c.ScriptUser.String())
	if c.EnableScriptSecurity {
		add(root, "enable_script_security", boolNode(true))
	}
	for _, l := range []struct {
		name string
		s    LifeScript
	}{{"startup_script", c.StartupScript}, {"shutdown_script", c.ShutdownScript}} {
		addNotify(root, l.name, l.s.Script, l.s.User)
		if l.s.Timeout > 0 {
			add(root, l.name+"_timeout", durNode(l.s.Timeout))
		}
	}
	if c.VRRPStartupDelay > 0 {
		add(root, "vrrp_startup_delay", durNode(c.VRRPStartupDelay))
	}
	if len(c.InterfaceDelays) > 0 {
		seq := sequence()
		for _, e := range c.InterfaceDelays {
			m := mapping()
			m.Style = yaml.FlowStyle
			add(m, "interface", strNode(e.Interface))
			add(m, "down", durNode(e.Down))
			add(m, "up", durNode(e.Up))
			seq.Content = append(seq.Content, m)
		}
		add(root, "interface_up_down_delays", seq)
	}
	if len(c.GARPGroups) > 0 {
		seq := sequence()
		for _, g := range c.GARPGroups {
			m := mapping()
			m.Style = yaml.FlowStyle
			// Both when both are 0: a group of unpaced interfaces.
			if g.Interval > 0 || g.NAInterval == 0 {
				add(m, "garp_interval", durNode(g.Interval))
			}
			if g.NAInterval > 0 || g.Interval == 0 {
				add(m, "gna_interval", durNode(g.NAInterval))
			}
			ifs := sequence()
			for _, n := range g.Interfaces {
				ifs.Content = append(ifs.Content, strNode(n))
			}
			add(m, "interfaces", ifs)
			seq.Content = append(seq.Content, m)
		}
		add(root, "garp_groups", seq)
	}
	addLines(root, "static_ipaddress", c.StaticAddrs)
	addLines(root, "static_routes", c.StaticRoutes)
	addLines(root, "static_rules", c.StaticRules)
	for _, f := range []struct {
		name string
		f    NotifyFIFO
	}{{"notify_fifo", c.NotifyFIFO}, {"vrrp_notify_fifo", c.VRRPNotifyFIFO}, {"lvs_notify_fifo", c.LVSNotifyFIFO}} {
		addFIFO(root, f.name, f.f)
	}
	if c.VRRPNotifyPriorityChanges {
		add(root, "vrrp_notify_priority_changes", boolNode(true))
	}
	if c.FIFOWriteVRRPStatesOnReload {
		add(root, "fifo_write_vrrp_states_on_reload", boolNode(true))
	}
	// The global gratuitous ARP timing where it is not keepalived's, the
	// lower-priority settings where they do not follow the master ones.
	if c.VRRPGARP != (GARP{}) {
		def := DefaultGARP()
		def.LowerPrioDelay, def.LowerPrioRepeat = c.VRRPGARP.MasterDelay, c.VRRPGARP.MasterRepeat
		addGARP(root, "vrrp_", &c.VRRPGARP, &def)
	}
	if len(c.Services) > 0 {
		seq := sequence()
		for i := range c.Services {
			seq.Content = append(seq.Content, serviceNode(&c.Services[i], c.BGP != nil))
		}
		add(root, "services", seq)
	}
	if len(c.VRRP) > 0 {
		seq := sequence()
		global := c.VRRPGARP
		if global == (GARP{}) {
			global = DefaultGARP()
		}
		for i := range c.VRRP {
			n := vrrpNode(&c.VRRP[i])
			if c.VRRP[i].GARP != (GARP{}) {
				addGARP(n, "", &c.VRRP[i].GARP, &global)
			}
			seq.Content = append(seq.Content, n)
		}
		add(root, "vrrp", seq)
	}
	if len(c.VRRPScripts) > 0 {
		seq := sequence()
		for _, sc := range c.VRRPScripts {
			m := mapping()
			add(m, "name", strNode(sc.Name))
			add(m, "script", strNode(sc.Script))
			add(m, "interval", durNode(sc.Interval))
			add(m, "timeout", durNode(sc.Timeout))
			add(m, "weight", intNode(sc.Weight))
			if sc.Reverse {
				add(m, "reverse", boolNode(true))
			}
			add(m, "rise", intNode(sc.Rise))
			add(m, "fall", intNode(sc.Fall))
			if sc.InitFail {
				add(m, "init_fail", boolNode(true))
			}
			addString(m, "user", sc.User.String())
			seq.Content = append(seq.Content, m)
		}
		add(root, "vrrp_scripts", seq)
	}
	if len(c.VRRPSyncGroups) > 0 {
		seq := sequence()
		for _, g := range c.VRRPSyncGroups {
			m := mapping()
			add(m, "name", strNode(g.Name))
			members := sequence()
			members.Style = yaml.FlowStyle
			for _, n := range g.Group {
				members.Content = append(members.Content, strNode(n))
			}
			add(m, "group", members)
			addNotify(m, "notify_master", g.NotifyMaster, g.NotifyUsers.Master)
			addNotify(m, "notify_backup", g.NotifyBackup, g.NotifyUsers.Backup)
			addNotify(m, "notify_fault", g.NotifyFault, g.NotifyUsers.Fault)
			addNotify(m, "notify", g.Notify, g.NotifyUsers.Notify)
			addOptBool(m, "notify_priority_changes", g.NotifyPriorityChanges)
			if g.TrackingWeight {
				add(m, "sync_group_tracking_weight", boolNode(true))
			}
			addTrackInterfaces(m, g.TrackInterfaces)
			addTrackEntries(m, g.tracking())
			seq.Content = append(seq.Content, m)
		}
		add(root, "vrrp_sync_groups", seq)
	}
	if len(c.VRRPTrackFiles) > 0 {
		seq := sequence()
		for _, tf := range c.VRRPTrackFiles {
			m := mapping()
			add(m, "name", strNode(tf.Name))
			add(m, "file", strNode(tf.File))
			add(m, "weight", intNode(tf.Weight))
			if tf.Reverse {
				add(m, "reverse", boolNode(true))
			}
			if tf.InitFile {
				im := mapping()
				im.Style = yaml.FlowStyle
				add(im, "value", intNode(tf.InitValue))
				add(im, "overwrite", boolNode(tf.InitOverwrite))
				add(m, "init_file", im)
			}
			seq.Content = append(seq.Content, m)
		}
		add(root, "vrrp_track_files", seq)
	}
	if len(c.VRRPTrackProcesses) > 0 {
		seq := sequence()
		for _, tp := range c.VRRPTrackProcesses {
			m := mapping()
			add(m, "name", strNode(tp.Name))
			add(m, "process", strNode(tp.Process))
			if len(tp.Params) > 0 {
				ps := sequence()
				ps.Style = yaml.FlowStyle
				for _, a := range tp.Params {
					ps.Content = append(ps.Content, strNode(a))
				}
				add(m, "params", ps)
			}
			if tp.ParamMatch != ParamNone {
				add(m, "param_match", strNode(string(tp.ParamMatch)))
			}
			add(m, "weight", intNode(tp.Weight))
			if tp.Reverse {
				add(m, "reverse", boolNode(true))
			}
			add(m, "quorum", intNode(tp.Quorum))
			if tp.HasQuorumMax {
				add(m, "quorum_max", intNode(tp.QuorumMax))
			}
			if tp.ForkDelay > 0 {
				add(m, "fork_delay", durNode(tp.ForkDelay))
			}
			if tp.TerminateDelay > 0 {
				add(m, "terminate_delay", durNode(tp.TerminateDelay))
			}
			if tp.FullCommand {
				add(m, "full_command", boolNode(true))
			}
			seq.Content = append(seq.Content, m)
		}
		add(root, "vrrp_track_processes", seq)
	}
	if c.BGP != nil {
		add(root, "bgp", bgpNode(c.BGP))
	}
	if c.SSL != nil {
		add(root, "ssl", sslNode(c.SSL))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return buf.Bytes(), nil
}

func mapping() *yaml.Node  { return &yaml.Node{Kind: yaml.MappingNode} }
func sequence() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.ContainsAny(s, "\n\r") {
		// yaml.v3 writes a string with a line break as a literal block,
		// which loses leading line breaks when read back ("\n" comes
		// back as "", "\n0" as "0", "\n\n0\n" as "\n0\n"). A
		// double-quoted scalar escapes them and reads back exactly.
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func intNode(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// addLines writes a list of keepalived lines (routes, rules, addresses),
// one string each, if there is any.
func addLines(m *yaml.Node, key string, lines []string) {
	if len(lines) == 0 {
		return
	}
	seq := sequence()
	for _, l := range lines {
		seq.Content = append(seq.Content, strNode(l))
	}
	add(m, key, seq)
}

func addrNode(a netip.Addr) *yaml.Node { return strNode(a.String()) }

// durNode writes whole seconds as a plain number, as keepalived users write
// them, and anything finer as a Go duration ("100ms").
func durNode(d time.Duration) *yaml.Node {
	if d%time.Second == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(d/time.Second), 10)}
	}
	return strNode(d.String())
}

// timeoutsNode writes a timeouts mapping; sparse leaves out zero fields,
// which in a service mean "inherit the global value".
func timeoutsNode(t Timeouts, sparse bool) *yaml.Node {
	m := mapping()
	m.Style = yaml.FlowStyle
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"tcp", t.TCP}, {"tcp_fin", t.TCPFin}, {"udp", t.UDP}} {
		if !sparse || f.d != 0 {
			add(m, f.key, durNode(f.d))
		}
	}
	return m
}

// serviceNode writes bgp_announce only where BGP is on (or the value could
// not apply), so files without BGP read as before.
func serviceNode(s *Service, bgp bool) *yaml.Node {
	m := mapping()
	add(m, "name", strNode(s.Name))
	add(m, "vip", addrNode(s.VIP))
	add(m, "port", intNode(int(s.Port)))
	add(m, "protocol", strNode(string(s.Protocol)))
	add(m, "scheduler", strNode(string(s.Scheduler)))
	add(m, "forward", strNode(string(s.Forward)))
	addTunnel(m, s.TunnelType, s.TunnelPort)
	add(m, "persistence_timeout", durNode(s.PersistenceTimeout))
	if s.PersistenceGranularity != 0 {
		add(m, "persistence_granularity", intNode(s.PersistenceGranularity))
	}
	add(m, "hash_port", boolNode(s.HashPort))
	if s.HASuspend {
		add(m, "ha_suspend", boolNode(true))
	}
	if s.OPS {
		add(m, "ops", boolNode(true))
	}
	if s.Timeouts != (Timeouts{}) {
		add(m, "timeouts", timeoutsNode(s.Timeouts, true))
	}
	add(m, "delay_loop", durNode(s.DelayLoop))
	add(m, "expire_nodest_conn", boolNode(s.ExpireNodestConn))
	add(m, "inhibit_on_failure", boolNode(s.InhibitOnFailure))
	if bgp || s.NoAnnounce {
		add(m, "bgp_announce", boolNode(!s.NoAnnounce))
	}
	seq := sequence()
	for i := range s.RealServers {
		seq.Content = append(seq.Content, realServerNode(&s.RealServers[i]))
	}
	add(m, "real_servers", seq)
	if s.Quorum > 1 {
		add(m, "quorum", intNode(s.Quorum))
	}
	if s.Hysteresis != 0 {
		add(m, "hysteresis", intNode(s.Hysteresis))
	}
	addNotify(m, "quorum_up", s.QuorumUp, s.QuorumUpUser)
	addNotify(m, "quorum_down", s.QuorumDown, s.QuorumDownUser)
	if ss := s.SorryServer; ss != nil {
		sm := mapping()
		sm.Style = yaml.FlowStyle
		add(sm, "address", addrNode(ss.Address))
		add(sm, "port", intNode(int(ss.Port)))
		if ss.Inhibit {
			add(sm, "inhibit", boolNode(true))
		}
		addOwnForward(sm, ss.Forward, ss.TunnelType, ss.TunnelPort)
		add(m, "sorry_server", sm)
	}
	return m
}

// addNotify writes a notify script: its command line, or {script, user}
// when it runs as a user of its own.
func addNotify(m *yaml.Node, key, script string, user ScriptUser) {
	if user.IsZero() {
		addString(m, key, script)
		return
	}
	nm := mapping()
	nm.Style = yaml.FlowStyle
	add(nm, "script", strNode(script))
	add(nm, "user", strNode(user.String()))
	add(m, key, nm)
}

// addFIFO writes a notify FIFO (its path, or {path, user} when it is
// chowned) and its script; nothing when there is none.
func addFIFO(m *yaml.Node, key string, f NotifyFIFO) {
	switch {
	case f.Path == "":
	case f.Owner.IsZero():
		add(m, key, strNode(f.Path))
	default:
		fm := mapping()
		fm.Style = yaml.FlowStyle
		add(fm, "path", strNode(f.Path))
		add(fm, "user", strNode(f.Owner.String()))
		add(m, key, fm)
	}
	addNotify(m, key+"_script", f.Script, f.ScriptUser)
}

// addOptBool writes key: b when it is set.
func addOptBool(m *yaml.Node, key string, b *bool) {
	if b != nil {
		add(m, key, boolNode(*b))
	}
}

// addString writes key: val unless val is empty (the field's default).
func addString(m *yaml.Node, key, val string) {
	if val != "" {
		add(m, key, strNode(val))
	}
}

// addTunnel writes a TUN encapsulation other than IPIP.
func addTunnel(m *yaml.Node, t TunnelType, port uint16) {
	if t != TunnelIPIP {
		add(m, "tunnel_type", strNode(string(t)))
	}
	if port != 0 {
		add(m, "tunnel_port", intNode(int(port)))
	}
}

// addOwnForward writes a real or sorry server's own forwarding, if any.
func addOwnForward(m *yaml.Node, f Forward, t TunnelType, port uint16) {
	if f != "" {
		add(m, "forward", strNode(string(f)))
	}
	addTunnel(m, t, port)
}

func realServerNode(r *RealServer) *yaml.Node {
	m := mapping()
	add(m, "address", addrNode(r.Address))
	add(m, "port", intNode(int(r.Port)))
	add(m, "weight", intNode(r.Weight))
	addOwnForward(m, r.Forward, r.TunnelType, r.TunnelPort)
	switch checks := r.Checks(); {
	case len(checks) == 1:
		add(m, "check", checkNode(r.Check))
	case len(checks) > 1:
		seq := sequence()
		for _, ck := range checks {
			seq.Content = append(seq.Content, checkNode(ck))
		}
		add(m, "checks", seq)
	}
	if r.InhibitOnFailure {
		add(m, "inhibit_on_failure", boolNode(true))
	}
	if r.UThreshold != 0 {
		add(m, "uthreshold", intNode(r.UThreshold))
	}
	if r.LThreshold != 0 {
		add(m, "lthreshold", intNode(r.LThreshold))
	}
	addNotify(m, "notify_up", r.NotifyUp, r.NotifyUpUser)
	addNotify(m, "notify_down", r.NotifyDown, r.NotifyDownUser)
	return m
}

// urlFields writes a url's path, status_code, digest, virtualhost and
// regex.
func urlFields(m *yaml.Node, u CheckURL) {
	addString(m, "path", u.Path)
	if n, err := strconv.Atoi(string(u.StatusCodes)); err == nil {
		add(m, "status_code", intNode(n))
	} else {
		addString(m, "status_code", string(u.StatusCodes))
	}
	addString(m, "digest", u.Digest)
	addString(m, "virtualhost", u.VirtualHost)
	regexFields(m, u.Regex)
}

// regexFields writes a url's regex under keepalived's names.
func regexFields(m *yaml.Node, r URLRegex) {
	addString(m, "regex", r.Pattern)
	if r.NoMatch {
		add(m, "regex_no_match", boolNode(true))
	}
	addString(m, "regex_options", r.Options)
	if r.MinOffset != 0 {
		add(m, "regex_min_offset", intNode(r.MinOffset))
	}
	if r.MaxOffsetSet {
		add(m, "regex_max_offset", intNode(r.MaxOffset))
	}
}

func checkNode(ck *Check) *yaml.Node {
	m := mapping()
	add(m, "type", strNode(string(ck.Type)))
	if ck.Type == FileCheck {
		// A file check has no polling settings (see Check).
		add(m, "track_file", strNode(ck.TrackFile))
		if ck.FileWeightSet {
			add(m, "weight", intNode(ck.FileWeight))
			if ck.FileReverse {
				add(m, "reverse", boolNode(true))
			}
		}
		return m
	}
	if ck.Type != MiscCheck {
		if ck.ConnectIP.IsValid() {
			add(m, "connect_ip", addrNode(ck.ConnectIP))
		}
		if ck.ConnectPort != 0 {
			add(m, "connect_port", intNode(int(ck.ConnectPort)))
		}
		if ck.BindTo.IsValid() {
			add(m, "bindto", addrNode(ck.BindTo))
		}
		if ck.BindPort != 0 {
			add(m, "bind_port", intNode(int(ck.BindPort)))
		}
		addString(m, "bind_if", ck.BindIf)
		if ck.FWMark != 0 {
			add(m, "fwmark", intNode(int(ck.FWMark)))
		}
		add(m, "connect_timeout", durNode(ck.ConnectTimeout))
	}
	if ck.DelayLoop != 0 {
		add(m, "delay_loop", durNode(ck.DelayLoop))
	}
	add(m, "retry", intNode(ck.Retry))
	add(m, "delay_before_retry", durNode(ck.DelayBeforeRetry))
	if len(ck.MoreURLs) == 0 {
		urlFields(m, ck.FirstURL())
	} else {
		seq := sequence()
		for _, u := range ck.URLs() {
			um := mapping()
			um.Style = yaml.FlowStyle
			urlFields(um, u)
			seq.Content = append(seq.Content, um)
		}
		add(m, "urls", seq)
	}
	if ck.EnableSNI {
		add(m, "enable_sni", boolNode(true))
	}
	addString(m, "script", ck.Script)
	addString(m, "user", ck.User.String())
	if ck.Dynamic {
		add(m, "dynamic", boolNode(true))
	}
	if ck.Type == MiscCheck {
		add(m, "timeout", durNode(ck.Timeout))
	}
	addString(m, "helo_name", ck.HeloName)
	addString(m, "payload", ck.Payload)
	switch {
	case ck.ReplyPattern != "":
		add(m, "require_reply", strNode(ck.ReplyPattern))
		// The lengths count only along with a pattern (see Check).
		add(m, "min_reply_length", intNode(ck.MinReplyLength))
		add(m, "max_reply_length", intNode(ck.MaxReplyLength))
	case ck.Type == UDPCheck:
		add(m, "require_reply", boolNode(ck.RequireReply))
	}
	addString(m, "query_type", ck.QueryType)
	addString(m, "query_name", ck.QueryName)
	add(m, "rise", intNode(ck.Rise))
	add(m, "fall", intNode(ck.Fall))
	return m
}

// addrSeq writes addresses as a flow sequence: [a, b].
func addrSeq(addrs []netip.Addr) *yaml.Node {
	seq := sequence()
	seq.Style = yaml.FlowStyle
	for _, a := range addrs {
		seq.Content = append(seq.Content, addrNode(a))
	}
	return seq
}

func vrrpNode(v *VRRPInstance) *yaml.Node {
	m := mapping()
	add(m, "name", strNode(v.Name))
	add(m, "state", strNode(v.State))
	add(m, "interface", strNode(v.Interface))
	add(m, "virtual_router_id", intNode(v.VirtualRouterID))
	add(m, "priority", intNode(v.Priority))
	add(m, "advert_int", durNode(v.AdvertInterval))
	add(m, "version", intNode(v.Version))
	add(m, "preempt", boolNode(v.Preempt))
	add(m, "preempt_delay", durNode(v.PreemptDelay))
	if v.DownTimerAdverts != 0 && v.DownTimerAdverts != DefaultDownTimerAdverts {
		add(m, "down_timer_adverts", intNode(v.DownTimerAdverts))
	}
	addString(m, "auth_type", v.AuthType)
	addString(m, "auth_pass", v.AuthPass)
	add(m, "virtual_ipaddress", addrSeq(v.VirtualAddrs))
	if len(v.ExcludedAddrs) > 0 {
		add(m, "virtual_ipaddress_excluded", addrSeq(v.ExcludedAddrs))
	}
	addLines(m, "virtual_routes", v.VirtualRoutes)
	addLines(m, "virtual_rules", v.VirtualRules)
	if v.DontTrackPrimary {
		add(m, "dont_track_primary", boolNode(true))
	}
	if v.PromoteSecondaries {
		add(m, "promote_secondaries", boolNode(true))
	}
	addTrackInterfaces(m, v.TrackInterfaces)
	if v.UnicastSrcIP.IsValid() {
		add(m, "unicast_src_ip", addrNode(v.UnicastSrcIP))
	}
	if len(v.UnicastPeers) > 0 {
		add(m, "unicast_peer", addrSeq(v.UnicastPeers))
	}
	addVRRPTransport(m, v)
	addTrackEntries(m, v.tracking())
	addNotify(m, "notify_master", v.NotifyMaster, v.NotifyUsers.Master)
	addNotify(m, "notify_backup", v.NotifyBackup, v.NotifyUsers.Backup)
	addNotify(m, "notify_fault", v.NotifyFault, v.NotifyUsers.Fault)
	addNotify(m, "notify", v.Notify, v.NotifyUsers.Notify)
	addNotify(m, "notify_stop", v.NotifyStop, v.NotifyUsers.Stop)
	addNotify(m, "notify_master_rx_lower_pri", v.NotifyMasterRxLowerPri, v.NotifyUsers.MasterRxLowerPri)
	addOptBool(m, "notify_priority_changes", v.NotifyPriorityChanges)
	return m
}

// addVRRPTransport writes how v's adverts travel and are answered where it
// is not the default: the group, the unicast TTL, FAULT without peers, the
// receive buffer and the adverts sent on hearing another master. The
// global defaults were given to the instances when read, so each says its
// own.
func addVRRPTransport(m *yaml.Node, v *VRRPInstance) {
	if v.UnicastTTL != 0 {
		add(m, "unicast_ttl", intNode(v.UnicastTTL))
	}
	if v.UnicastFaultNoPeer {
		add(m, "unicast_fault_no_peer", boolNode(true))
	}
	if v.TrackSrcIP {
		add(m, "track_src_ip", boolNode(true))
	}
	if v.UnicastChecksum != "" {
		add(m, "unicast_checksum", strNode(v.UnicastChecksum))
	}
	if v.McastDstIP.IsValid() {
		add(m, "mcast_dst_ip", addrNode(v.McastDstIP))
	}
	if v.KernelRxBufSize != 0 {
		add(m, "kernel_rx_buf_size", intNode(v.KernelRxBufSize))
	}
	switch {
	case v.VMACName != "":
		add(m, "use_vmac", strNode(v.VMACName))
	case v.UseVMAC:
		add(m, "use_vmac", boolNode(true))
	}
	if v.VMACXmitBase {
		add(m, "vmac_xmit_base", boolNode(true))
	}
	if v.LowerPrioNoAdvert {
		add(m, "lower_prio_no_advert", boolNode(true))
	}
	if v.HigherPrioSendAdvert {
		add(m, "higher_prio_send_advert", boolNode(true))
	}
}

// addGARP writes the gratuitous ARP settings of g that differ from def,
// each named prefix + its vrrp entry name.
func addGARP(m *yaml.Node, prefix string, g, def *GARP) {
	for _, f := range garpFields() {
		if f.same(g, def) {
			continue
		}
		if f.dur != nil {
			add(m, prefix+f.name, durNode(*f.dur(g)))
		} else {
			add(m, prefix+f.name, intNode(*f.num(g)))
		}
	}
}

// addTrackInterfaces writes the track_interface of an instance or group:
// a bare name for a weight-0 entry, else {name, weight, reverse}.
func addTrackInterfaces(m *yaml.Node, ifaces []TrackInterface) {
	if len(ifaces) == 0 {
		return
	}
	ti := sequence()
	ti.Style = yaml.FlowStyle
	for _, t := range ifaces {
		if t.Weight == 0 && !t.Reverse {
			ti.Content = append(ti.Content, strNode(t.Name))
			continue
		}
		wm := mapping()
		add(wm, "name", strNode(t.Name))
		add(wm, "weight", intNode(t.Weight))
		if t.Reverse {
			add(wm, "reverse", boolNode(true))
		}
		ti.Content = append(ti.Content, wm)
	}
	add(m, "track_interface", ti)
}

// addTrackEntries writes the track_script, track_file and track_process
// of an instance or group.
func addTrackEntries(m *yaml.Node, t tracking) {
	entries := func(key string, n int, at func(i int) TrackScript) {
		if n == 0 {
			return
		}
		ts := sequence()
		for i := range n {
			e := at(i)
			ts.Content = append(ts.Content, trackEntryNode(e.Name, e.Weight, e.WeightSet, e.Reverse, e.ReverseSet))
		}
		add(m, key, ts)
	}
	entries("track_script", len(*t.scripts), func(i int) TrackScript { return (*t.scripts)[i] })
	entries("track_file", len(*t.files), func(i int) TrackScript { return TrackScript((*t.files)[i]) })
	entries("track_process", len(*t.procs), func(i int) TrackScript { return TrackScript((*t.procs)[i]) })
}

// trackEntryNode writes a track_script or track_file entry: the bare name
// when it takes the script's (file's) weight and direction, else a mapping
// with what it sets itself.
func trackEntryNode(name string, weight int, weightSet, reverse, reverseSet bool) *yaml.Node {
	if !weightSet && !reverseSet {
		return strNode(name)
	}
	tm := mapping()
	tm.Style = yaml.FlowStyle
	add(tm, "name", strNode(name))
	if weightSet {
		add(tm, "weight", intNode(weight))
	}
	if reverseSet {
		add(tm, "reverse", boolNode(reverse))
	}
	return tm
}
