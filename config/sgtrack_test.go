package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// kaGroupTracking is keepalived's common pattern of tracking in a
// vrrp_sync_group, with what keepalived 2.2.7 was seen to do with each
// entry: the group's entries go to every member, weights included; a
// member's own entry for the same script or interface wins for it; the
// group's track_interface of a member's own interface is dropped for it
// unless it has dont_track_primary.
const kaGroupTracking = `vrrp_script chk {
  script "/bin/true"
}
vrrp_script chk2 {
  script "/bin/true"
  weight -10
}
track_file tf {
  file /tmp/xlb-sgtrack.track
}
vrrp_track_process tp {
  process sshd
  weight -7
}
vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
  }
  track_interface {
    eth0 weight 10
    eth2 weight -5
    eth3
  }
  track_script {
    chk
    chk2 weight -20
  }
  track_file {
    tf weight -2 reverse
  }
  track_process {
    tp
  }
}
vrrp_sync_group G2 {
  group { VI_3 }
  track_interface {
    eth0 weight 10
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  track_script {
    chk
  }
  virtual_ipaddress {
    192.0.2.10
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 52
  priority 100
  track_interface {
    eth2
  }
  virtual_ipaddress {
    192.0.2.11
  }
}
vrrp_instance VI_3 {
  interface eth0
  dont_track_primary
  virtual_router_id 53
  priority 100
  virtual_ipaddress {
    192.0.2.12
  }
}
`

// groupTrackingYAML is kaGroupTracking in xlb's YAML.
const groupTrackingYAML = `vrrp_scripts:
  - {name: chk, script: /bin/true}
  - {name: chk2, script: /bin/true, weight: -10}
vrrp_track_files:
  - {name: tf, file: /tmp/xlb-sgtrack.track}
vrrp_track_processes:
  - {name: tp, process: sshd, weight: -7}
vrrp_sync_groups:
  - name: G1
    group: [VI_1, VI_2]
    track_interface: [{name: eth0, weight: 10}, {name: eth2, weight: -5}, eth3]
    track_script: [chk, {name: chk2, weight: -20}]
    track_file: [{name: tf, weight: -2, reverse: true}]
    track_process: [tp]
  - name: G2
    group: [VI_3]
    track_interface: [{name: eth0, weight: 10}]
vrrp:
  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [192.0.2.10], track_script: [chk]}
  - {name: VI_2, interface: eth1, virtual_router_id: 52, priority: 100, virtual_ipaddress: [192.0.2.11], track_interface: [eth2]}
  - {name: VI_3, interface: eth0, dont_track_primary: true, virtual_router_id: 53, priority: 100, virtual_ipaddress: [192.0.2.12]}
`

// lineOf is the 1-based line of the first line of text containing s
// after the first one containing after.
func lineOf(t *testing.T, text, after, s string) int {
	t.Helper()
	seen := after == ""
	for i, l := range strings.Split(text, "\n") {
		if !seen {
			seen = strings.Contains(l, after)
			continue
		}
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line %q after %q", s, after)
	return 0
}

func TestKeepalivedSyncGroupTracking(t *testing.T) {
	c, warns, err := ParseKeepalived("k.conf", []byte(kaGroupTracking))
	if err != nil {
		t.Fatal(err)
	}
	g := c.VRRPSyncGroups[0]
	wantIfs := []TrackInterface{{Name: "eth0", Weight: 10}, {Name: "eth2", Weight: -5}, {Name: "eth3"}}
	wantScripts := []TrackScript{{Name: "chk"}, {Name: "chk2", Weight: -20, WeightSet: true}}
	wantFiles := []TrackFile{{Name: "tf", Weight: -2, WeightSet: true, Reverse: true, ReverseSet: true}}
	wantProcs := []TrackProcess{{Name: "tp"}}
	if !reflect.DeepEqual(g.TrackInterfaces, wantIfs) || !reflect.DeepEqual(g.TrackScripts, wantScripts) ||
		!reflect.DeepEqual(g.TrackFiles, wantFiles) || !reflect.DeepEqual(g.TrackProcesses, wantProcs) {
		t.Errorf("group tracking\n got %+v %+v %+v %+v\nwant %+v %+v %+v %+v", g.TrackInterfaces, g.TrackScripts, g.TrackFiles, g.TrackProcesses,
			wantIfs, wantScripts, wantFiles, wantProcs)
	}
	// keepalived logs each entry a member does not take; xlb warns at it.
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		"k.conf:" + strconv.Itoa(lineOf(t, kaGroupTracking, "vrrp_sync_group G1", "eth0 weight 10")) + ": vrrp_sync_group G1: track_interface eth0 ignored for VI_1, as keepalived ignores it: it is the instance's own interface (which it follows already)",
		"k.conf:" + strconv.Itoa(lineOf(t, kaGroupTracking, "vrrp_sync_group G1", "eth2 weight -5")) + ": vrrp_sync_group G1: track_interface eth2 ignored for VI_2, as keepalived ignores it: the instance tracks it itself, and its own entry applies",
		"k.conf:" + strconv.Itoa(lineOf(t, kaGroupTracking, "vrrp_sync_group G1", "    chk")) + ": vrrp_sync_group G1: track_script chk ignored for VI_1, as keepalived ignores it: the instance tracks it itself, and its own entry applies",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
	checkMemberTracking(t, c)
}

// checkMemberTracking checks what each member of kaGroupTracking tracks.
func checkMemberTracking(t *testing.T, c *Config) {
	t.Helper()
	m := func(name string) VRRPInstance {
		for _, v := range c.VRRP {
			if v.Name == name {
				return c.MemberTracking(v)
			}
		}
		t.Fatalf("no instance %s", name)
		return VRRPInstance{}
	}
	files := []TrackFile{{Name: "tf", Weight: -2, WeightSet: true, Reverse: true, ReverseSet: true}}
	procs := []TrackProcess{{Name: "tp"}}
	for _, tc := range []struct {
		name    string
		ifs     []TrackInterface
		scripts []TrackScript
		files   []TrackFile
		procs   []TrackProcess
	}{
		// Its own eth0 is followed already; its own chk wins.
		{"VI_1", []TrackInterface{{Name: "eth2", Weight: -5}, {Name: "eth3"}}, []TrackScript{{Name: "chk"}, {Name: "chk2", Weight: -20, WeightSet: true}}, files, procs},
		// Its own eth2 (weight 0) wins over the group's weight -5.
		{"VI_2", []TrackInterface{{Name: "eth2"}, {Name: "eth0", Weight: 10}, {Name: "eth3"}}, []TrackScript{{Name: "chk"}, {Name: "chk2", Weight: -20, WeightSet: true}}, files, procs},
		// dont_track_primary: keepalived adds its own interface, weight and all.
		{"VI_3", []TrackInterface{{Name: "eth0", Weight: 10}}, nil, nil, nil},
	} {
		v := m(tc.name)
		if !reflect.DeepEqual(v.TrackInterfaces, tc.ifs) || !reflect.DeepEqual(v.TrackScripts, tc.scripts) ||
			!reflect.DeepEqual(v.TrackFiles, tc.files) || !reflect.DeepEqual(v.TrackProcesses, tc.procs) {
			t.Errorf("%s tracks\n got %+v %+v %+v %+v\nwant %+v %+v %+v %+v", tc.name, v.TrackInterfaces, v.TrackScripts, v.TrackFiles, v.TrackProcesses,
				tc.ifs, tc.scripts, tc.files, tc.procs)
		}
	}
	// The merge is a copy: the configuration's own lists are unchanged.
	if v := c.VRRP[0]; len(v.TrackScripts) != 1 || len(v.TrackInterfaces) != 0 {
		t.Errorf("MemberTracking changed the configuration: %+v", v)
	}
}

func TestYAMLSyncGroupTracking(t *testing.T) {
	c, err := ParseYAML("g.yaml", []byte(groupTrackingYAML))
	if err != nil {
		t.Fatal(err)
	}
	checkMemberTracking(t, c)
	ka, _, err := ParseKeepalived("k.conf", []byte(kaGroupTracking))
	if err != nil {
		t.Fatal(err)
	}
	assertSameConfig(t, c, ka)
	// xlb config convert: the group's tracking survives keepalived.conf ->
	// YAML -> Config, and so does the native file.
	out := assertRoundTrip(t, ka)
	if !strings.Contains(string(out), "track_script:") || !strings.Contains(string(out), "name: chk2") {
		t.Errorf("converted YAML lacks the group's tracking:\n%s", out)
	}
	assertRoundTrip(t, c)
}

func TestYAMLSyncGroupTrackingErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field, msg     string
	}{
		{"unknown script", "track_script: [chk, {name: chk2, weight: -20}]", "track_script: [chk, chk9]", 12, "vrrp_sync_groups[0].track_script[1]", `no vrrp script named "chk9"`},
		{"process weight", "track_process: [tp]", "track_process: [{name: tp, weight: 300}]", 14, "vrrp_sync_groups[0].track_process[0].weight", "must be -254..254"},
		{"interface name", "track_interface: [{name: eth0, weight: 10}]", "track_interface: [{weight: 10}]", 17, "vrrp_sync_groups[1].track_interface[0]", "empty interface name"},
		{"unknown key", "track_process: [tp]", "track_bfd: [b]", 14, "vrrp_sync_groups[0].track_bfd", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.Replace(groupTrackingYAML, tc.from, tc.to, 1)
			if conf == groupTrackingYAML {
				t.Fatalf("%q is not in the file", tc.from)
			}
			_, err := ParseYAML("g.yaml", []byte(conf))
			wantProblem(t, err, "g.yaml", tc.line, tc.field, tc.msg)
		})
	}
}

// A clone's group tracking shares no memory with the original's.
func TestCloneSyncGroupTracking(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaGroupTracking))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Clone()
	if !reflect.DeepEqual(n, c) {
		t.Fatal("clone differs from the original")
	}
	g := &n.VRRPSyncGroups[0]
	g.TrackInterfaces[0].Weight = 1
	g.TrackScripts[0].Name = "x"
	g.TrackFiles[0].Weight = 1
	g.TrackProcesses[0].Name = "x"
	o := c.VRRPSyncGroups[0]
	if o.TrackInterfaces[0].Weight != 10 || o.TrackScripts[0].Name != "chk" || o.TrackFiles[0].Weight != -2 || o.TrackProcesses[0].Name != "tp" {
		t.Errorf("the clone shares the group's tracking with the original")
	}
}
