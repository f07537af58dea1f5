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
