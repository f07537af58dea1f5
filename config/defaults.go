package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults of keepalived and IPVS, so a configuration converted from
// keepalived.conf behaves the same under xlb when it leaves a value out.
const (
	DefaultConnTableSize = 1 << 20 // flows
	DefaultScheduler     = WLC     // ipvsadm's default -s
	// DefaultLifeScriptTimeout is keepalived's startup/shutdown script timeout.
	DefaultLifeScriptTimeout = 10 * time.Second
	DefaultForward           = DR
	DefaultWeight            = 1 // ipvsadm's default -w and keepalived's weight
	DefaultDelayLoop         = 60 * time.Second
	DefaultConnectTimeout    = 5 * time.Second
	DefaultRetry             = 1
	DefaultDelayBeforeRetry  = 1 * time.Second
	DefaultRise              = 1
	DefaultFall              = 1
	DefaultAdvertInterval    = 1 * time.Second
	DefaultVRRPVersion       = 2
	DefaultDownTimerAdverts  = 3        // RFC 5798's Master_Down_Interval: 3 adverts + skew
	DefaultVRRPState         = "BACKUP" // keepalived starts an instance as BACKUP unless told otherwise
	// keepalived 2's defaults of its SMTP_CHECK, UDP_CHECK and DNS_CHECK.
	DefaultHeloName       = "smtpchecker.keepalived.org"
	DefaultMaxReplyLength = 255
	DefaultQueryType      = "SOA"
	DefaultQueryName      = "."
	DefaultDNSRetry       = 3
)

// newService returns a service with every default filled in; parsers then
// overwrite what the file sets, which is how "absent" and "explicitly zero"
// stay distinct (weight 0 means drain, an absent weight means 1).
func newService() Service {
	return Service{
		Scheduler: DefaultScheduler,
		Forward:   DefaultForward,
		DelayLoop: DefaultDelayLoop,
	}
}

func newRealServer() RealServer {
	return RealServer{Weight: DefaultWeight}
}

func newCheck() *Check {
	return &Check{
		ConnectTimeout:   DefaultConnectTimeout,
		Retry:            DefaultRetry,
		DelayBeforeRetry: DefaultDelayBeforeRetry,
		Rise:             DefaultRise,
		Fall:             DefaultFall,
	}
}

// typeDefaults fills the defaults that only a check of ck's type has, once
// the type is known: keepalived's HELO name, the longest UDP reply, the DNS
// question.
func typeDefaults(ck *Check) {
	switch ck.Type {
	case SMTPCheck:
		if ck.HeloName == "" {
			ck.HeloName = DefaultHeloName
		}
	case DNSCheck:
		if ck.QueryType == "" {
			ck.QueryType = DefaultQueryType
		}
		if ck.QueryName == "" {
			ck.QueryName = DefaultQueryName
		}
	}
}

// newVRRPScript has keepalived's vrrp_script defaults (timeout: the
// interval, filled in once the interval is known).
func newVRRPScript() VRRPScript {
	return VRRPScript{Interval: time.Second, Rise: 1, Fall: 1}
}

// newVRRPTrackFile has keepalived's track_file default weight of 1.
func newVRRPTrackFile() VRRPTrackFile {
	return VRRPTrackFile{Weight: 1}
}

// newVRRPTrackProcess has keepalived's vrrp_track_process defaults: a
// quorum of 1, no maximum, weight 0 (FAULT while down).
func newVRRPTrackProcess() VRRPTrackProcess {
	return VRRPTrackProcess{Quorum: 1}
}

// keepalived's gratuitous ARP defaults (VRRP_GARP_DELAY, VRRP_GARP_REP,
// VRRP_GARP_REFRESH_REP); the lower-priority ones default to the global
// garp_master_delay and garp_master_repeat.
const (
	DefaultGARPMasterDelay         = 5 * time.Second
	DefaultGARPMasterRepeat        = 5
	DefaultGARPMasterRefreshRepeat = 1
)

// DefaultGARP is keepalived's timing of gratuitous ARPs when nothing sets it.
func DefaultGARP() GARP {
	return GARP{
		MasterDelay:         DefaultGARPMasterDelay,
		MasterRepeat:        DefaultGARPMasterRepeat,
		MasterRefreshRepeat: DefaultGARPMasterRefreshRepeat,
		LowerPrioDelay:      DefaultGARPMasterDelay,
		LowerPrioRepeat:     DefaultGARPMasterRepeat,
	}
}

// OrDefault is g, or keepalived's defaults for the zero GARP of a
// configuration built in code rather than read from a file (a file's
// instances always have a repeat of at least 1).
func (g GARP) OrDefault() GARP {
	if g == (GARP{}) {
		return DefaultGARP()
	}
	return g
}

// garpField is one setting of GARP: its name in a vrrp instance (global_defs
// and YAML's top level prefix it with "vrrp_") and where it is kept.
type garpField struct {
	name string
	dur  func(*GARP) *time.Duration
	num  func(*GARP) *int
}

// garpFields lists GARP's settings, in keepalived's order.
func garpFields() []garpField {
	return []garpField{
		{name: "garp_master_delay", dur: func(g *GARP) *time.Duration { return &g.MasterDelay }},
		{name: "garp_master_repeat", num: func(g *GARP) *int { return &g.MasterRepeat }},
		{name: "garp_master_refresh", dur: func(g *GARP) *time.Duration { return &g.MasterRefresh }},
		{name: "garp_master_refresh_repeat", num: func(g *GARP) *int { return &g.MasterRefreshRepeat }},
		{name: "garp_lower_prio_delay", dur: func(g *GARP) *time.Duration { return &g.LowerPrioDelay }},
		{name: "garp_lower_prio_repeat", num: func(g *GARP) *int { return &g.LowerPrioRepeat }},
		{name: "garp_interval", dur: func(g *GARP) *time.Duration { return &g.Interval }},
		{name: "gna_interval", dur: func(g *GARP) *time.Duration { return &g.NAInterval }},
	}
}

// copyField copies field f from src to dst.
func (f garpField) copy(dst, src *GARP) {
	if f.dur != nil {
		*f.dur(dst) = *f.dur(src)
	} else {
		*f.num(dst) = *f.num(src)
	}
}

// same reports whether a and b agree on field f.
func (f garpField) same(a, b *GARP) bool {
	if f.dur != nil {
		return *f.dur(a) == *f.dur(b)
	}
	return *f.num(a) == *f.num(b)
}

// resolveGARP completes the global GARP settings (c.VRRPGARP holds those
// set; set reports which fields were) and gives each instance the global
// value of every setting it leaves out, as keepalived does wherever its
// global_defs stand in the file. As in keepalived, the lower-priority
// settings of an instance default to the global ones, which default to the
// global garp_master_delay and garp_master_repeat, not the instance's own.
func resolveGARP(c *Config, set func(field string) bool) {
	g := DefaultGARP()
	for _, f := range garpFields() {
		if set("vrrp_" + f.name) {
			f.copy(&g, &c.VRRPGARP)
		}
	}
	if !set("vrrp_garp_lower_prio_delay") {
		g.LowerPrioDelay = g.MasterDelay
	}
	if !set("vrrp_garp_lower_prio_repeat") {
		g.LowerPrioRepeat = g.MasterRepeat
	}
	c.VRRPGARP = g
	for i := range c.VRRP {
		v := &c.VRRP[i]
		for _, f := range garpFields() {
			if !set(fmt.Sprintf("vrrp[%d].%s", i, f.name)) {
				f.copy(&v.GARP, &g)
			}
		}
	}
}

// resolveDownTimer gives each instance that sets no down_timer_adverts the
// global one (keepalived's vrrp_down_timer_adverts; 0: unset). The RFCs' 3
// is kept as 0, so a file saying 3 reads the same as one saying nothing.
func resolveDownTimer(c *Config, global int, set func(field string) bool) {
	for i := range c.VRRP {
		v := &c.VRRP[i]
		if !set(fmt.Sprintf("vrrp[%d].down_timer_adverts", i)) {
			v.DownTimerAdverts = global
		}
		if v.DownTimerAdverts == DefaultDownTimerAdverts {
			v.DownTimerAdverts = 0
		}
	}
}

// vrrpGlobals are the global defaults of VRRP instance settings that are
// not kept at the top level but given to each instance that sets none
// (keepalived's global_defs, the same keys at YAML's top level).
type vrrpGlobals struct {
	lowerPrioNoAdvert    bool       // vrrp_lower_prio_no_advert
	higherPrioSendAdvert bool       // vrrp_higher_prio_send_advert
	group4, group6       netip.Addr // vrrp_mcast_group4, vrrp_mcast_group6 (invalid: unset)
}

// resolveVRRPGlobals gives each instance the global value of every setting
// of g it leaves out, wherever the global one stands in the file, as
// keepalived does. The group goes by the instance's family (the readers
// refuse a global group of the wrong family).
func resolveVRRPGlobals(c *Config, g vrrpGlobals, set func(field string) bool) {
	for i := range c.VRRP {
		v := &c.VRRP[i]
		p := fmt.Sprintf("vrrp[%d].", i)
		if !set(p + "lower_prio_no_advert") {
			v.LowerPrioNoAdvert = g.lowerPrioNoAdvert
		}
		if !set(p + "higher_prio_send_advert") {
			v.HigherPrioSendAdvert = g.higherPrioSendAdvert
		}
		if set(p+"mcast_dst_ip") || len(v.VirtualAddrs) == 0 {
			continue
		}
		group := g.group4
		if v.VirtualAddrs[0].Unmap().Is6() {
			group = g.group6
		}
		if group.IsValid() {
			v.McastDstIP = group
		}
	}
}

func newVRRP() VRRPInstance {
	return VRRPInstance{
		State:          DefaultVRRPState,
		AdvertInterval: DefaultAdvertInterval,
		Version:        DefaultVRRPVersion,
		Preempt:        true,
	}
}

// finishDefaults fills the defaults that depend on other values once a whole
// file is read: zero global timeouts mean IPVS's defaults (as 0 means "leave
// unchanged" to ipvsadm --set), and a MISC_CHECK without misc_timeout gets the
// service's delay_loop, as in keepalived. miscTimeoutSet reports whether the
// file set the timeout of the check at field path check (CheckField).
func finishDefaults(c *Config, miscTimeoutSet func(check string) bool) {
	if c.Timeouts.TCP == 0 {
		c.Timeouts.TCP = DefaultTimeouts.TCP
	}
	if c.Timeouts.TCPFin == 0 {
		c.Timeouts.TCPFin = DefaultTimeouts.TCPFin
	}
	if c.Timeouts.UDP == 0 {
		c.Timeouts.UDP = DefaultTimeouts.UDP
	}
	for i := range c.Services {
		s := &c.Services[i]
		for j := range s.RealServers {
			for n, ck := range s.RealServers[j].Checks() {
				if ck.Type == MiscCheck && !miscTimeoutSet(CheckField(fmt.Sprintf("services[%d].real_servers[%d]", i, j), n)) {
					ck.Timeout = s.DelayLoop
					if ck.DelayLoop > 0 {
						ck.Timeout = ck.DelayLoop // the check's own delay_loop
					}
				}
			}
		}
	}
}

// defaultName names a service that has no name by what it serves, the way
// ipvsadm lists it: "192.168.101.100:80/tcp".
func defaultName(s *Service) string {
	if !s.VIP.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(s.VIP, s.Port).String() + "/" + string(s.Protocol)
}
