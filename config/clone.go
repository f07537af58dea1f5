package config

import "slices"

// Clone returns a deep copy of c: a runtime edit or a derived view (the
// director's dynamic weights) never changes the configuration it came from,
// which the director diffs the next one against.
func (c *Config) Clone() *Config {
	n := *c
	n.Services = slices.Clone(c.Services)
	for i := range n.Services {
		s := &n.Services[i]
		s.RealServers = slices.Clone(s.RealServers)
		for j := range s.RealServers {
			r := &s.RealServers[j]
			if r.Check != nil {
				ck := r.Check.clone()
				r.Check = &ck
			}
			r.MoreChecks = slices.Clone(r.MoreChecks)
			for n := range r.MoreChecks {
				r.MoreChecks[n] = r.MoreChecks[n].clone()
			}
		}
		if s.SorryServer != nil {
			ss := *s.SorryServer
			s.SorryServer = &ss
		}
	}
	n.VRRP = slices.Clone(c.VRRP)
	for i := range n.VRRP {
		v := &n.VRRP[i]
		v.VirtualAddrs = slices.Clone(v.VirtualAddrs)
		v.ExcludedAddrs = slices.Clone(v.ExcludedAddrs)
		v.VirtualRoutes = slices.Clone(v.VirtualRoutes)
		v.VirtualRules = slices.Clone(v.VirtualRules)
		v.TrackInterfaces = slices.Clone(v.TrackInterfaces)
		v.UnicastPeers = slices.Clone(v.UnicastPeers)
		v.TrackScripts = slices.Clone(v.TrackScripts)
		v.TrackFiles = slices.Clone(v.TrackFiles)
		v.TrackProcesses = slices.Clone(v.TrackProcesses)
		v.NotifyPriorityChanges = cloneBool(v.NotifyPriorityChanges)
	}
	n.InterfaceDelays = slices.Clone(c.InterfaceDelays)
	n.GARPGroups = slices.Clone(c.GARPGroups)
	for i := range n.GARPGroups {
		n.GARPGroups[i].Interfaces = slices.Clone(n.GARPGroups[i].Interfaces)
	}
	n.StaticAddrs = slices.Clone(c.StaticAddrs)
	n.StaticRoutes = slices.Clone(c.StaticRoutes)
	n.StaticRules = slices.Clone(c.StaticRules)
	n.VRRPScripts = slices.Clone(c.VRRPScripts)
	n.VRRPTrackFiles = slices.Clone(c.VRRPTrackFiles)
	n.VRRPTrackProcesses = slices.Clone(c.VRRPTrackProcesses)
	for i := range n.VRRPTrackProcesses {
		n.VRRPTrackProcesses[i].Params = slices.Clone(n.VRRPTrackProcesses[i].Params)
	}
	n.VRRPSyncGroups = slices.Clone(c.VRRPSyncGroups)
	for i := range n.VRRPSyncGroups {
		g := &n.VRRPSyncGroups[i]
		g.Group = slices.Clone(g.Group)
		g.NotifyPriorityChanges = cloneBool(g.NotifyPriorityChanges)
		g.TrackInterfaces = slices.Clone(g.TrackInterfaces)
		g.TrackScripts = slices.Clone(g.TrackScripts)
		g.TrackFiles = slices.Clone(g.TrackFiles)
		g.TrackProcesses = slices.Clone(g.TrackProcesses)
	}
	if c.BGP != nil {
		b := *c.BGP
		b.Communities = slices.Clone(b.Communities)
		b.Peers = slices.Clone(b.Peers)
		n.BGP = &b
	}
	if c.SSL != nil {
		s := *c.SSL
		n.SSL = &s
	}
	n.sources = slices.Clone(c.sources)
	return &n
}

func (ck Check) clone() Check {
	ck.MoreURLs = slices.Clone(ck.MoreURLs)
	return ck
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}
