package config

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wantProblem asserts err is a *ValidationError holding a problem at file:line
// whose field and message contain the given text, and returns the printed
// error so callers can check more.
func wantProblem(t *testing.T, err error, file string, line int, field, msg string) string {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s:%d: %s: %s", file, line, field, msg)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %q is %T, want *ValidationError", err, err)
	}
	for _, p := range ve.Problems {
		if p.File == file && p.Line == line && strings.Contains(p.Field, field) && strings.Contains(p.Msg, msg) {
			// The printed form is what the operator sees.
			printed := err.Error()
			if !strings.Contains(printed, p.Error()) || !strings.HasPrefix(p.Error(), file+":"+strconv.Itoa(line)+": ") {
				t.Errorf("printed error %q does not show %q as file:line: field: msg", printed, p.Error())
			}
			return printed
		}
	}
	t.Fatalf("no problem at %s:%d with field ~%q and message ~%q in:\n%v", file, line, field, msg, err)
	return ""
}

// withoutLines copies xs with clear applied to each element (which clears
// its Line); nil for none.
func withoutLines[T any](xs []T, clear func(*T)) []T {
	var out []T
	for _, x := range xs {
		clear(&x)
		out = append(out, x)
	}
	return out
}

// stripPositions returns a deep copy of c without Source, Line fields and
// the files the lines are in, with empty slices as nil, for comparing configs
// read from different files.
func stripPositions(c *Config) *Config {
	out := *c
	out.Source = ""
	out.sources = nil
	out.Services = nil
	for _, s := range c.Services {
		s.Line = 0
		rss := s.RealServers
		s.RealServers = nil
		for _, r := range rss {
			r.Line = 0
			if r.Check != nil {
				ck := *r.Check
				ck.Line = 0
				r.Check = &ck
			}
			r.MoreChecks = slices.Clone(r.MoreChecks)
			for n := range r.MoreChecks {
				r.MoreChecks[n].Line = 0
			}
			s.RealServers = append(s.RealServers, r)
		}
		if s.SorryServer != nil {
			ss := *s.SorryServer
			ss.Line = 0
			s.SorryServer = &ss
		}
		out.Services = append(out.Services, s)
	}
	out.InterfaceDelays = withoutLines(c.InterfaceDelays, func(x *InterfaceDelay) { x.Line = 0 })
	out.GARPGroups = withoutLines(c.GARPGroups, func(x *GARPGroup) { x.Line = 0 })
	out.VRRP = nil
	for _, v := range c.VRRP {
		v.Line = 0
		if len(v.VirtualAddrs) == 0 {
			v.VirtualAddrs = nil
		}
		if len(v.TrackInterfaces) == 0 {
			v.TrackInterfaces = nil
		}
		if len(v.TrackScripts) == 0 {
			v.TrackScripts = nil
		}
		if len(v.TrackFiles) == 0 {
			v.TrackFiles = nil
		}
		if len(v.TrackProcesses) == 0 {
			v.TrackProcesses = nil
		}
		out.VRRP = append(out.VRRP, v)
	}
	out.VRRPScripts = withoutLines(c.VRRPScripts, func(x *VRRPScript) { x.Line = 0 })
	out.VRRPTrackFiles = withoutLines(c.VRRPTrackFiles, func(x *VRRPTrackFile) { x.Line = 0 })
	out.VRRPTrackProcesses = withoutLines(c.VRRPTrackProcesses, func(x *VRRPTrackProcess) { x.Line = 0 })
	out.VRRPSyncGroups = withoutLines(c.VRRPSyncGroups, func(x *VRRPSyncGroup) { x.Line = 0 })
	if c.BGP != nil {
		b := *c.BGP
		b.Line = 0
		b.Peers = withoutLines(c.BGP.Peers, func(x *BGPPeer) { x.Line = 0 })
		out.BGP = &b
	}
	if c.SSL != nil {
		s := *c.SSL
		s.Line = 0
		out.SSL = &s
	}
	return &out
}

func assertSameConfig(t *testing.T, got, want *Config) {
	t.Helper()
	g, w := stripPositions(got), stripPositions(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("configs differ:\ngot  %+v\nwant %+v", g, w)
	}
}

// assertRoundTrip prints c as YAML, parses it back and requires the same
// configuration; it returns the YAML.
func assertRoundTrip(t *testing.T, c *Config) []byte {
	t.Helper()
	out, err := MarshalYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseYAML("again.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	assertSameConfig(t, back, c)
	return out
}
