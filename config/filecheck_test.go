package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// kaFileCheck has FILE_CHECKs as keepalived 2.2.7 reads them: the track
// file's weight and reverse by default, the check's own weight (and then
// reverse only if it says so), weight 0, and noreverse.
const kaFileCheck = `track_file drain {
    file /tmp/xlb-drain
    weight -3 reverse
}
virtual_server 10.0.0.1 80 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    connect_timeout 5
    real_server 10.0.0.2 80 {
        weight 10
        retry 2
        FILE_CHECK {
            track_file drain
        }
    }
    real_server 10.0.0.3 80 {
        FILE_CHECK {
            track_file drain
            weight 100000
        }
        TCP_CHECK {
        }
    }
    real_server 10.0.0.4 80 {
        FILE_CHECK {
            track_file drain
            weight 0
        }
    }
    real_server 10.0.0.5 80 {
        FILE_CHECK {
            track_file drain
            weight -2147483647 noreverse
        }
        FILE_CHECK {
            track_file drain
            weight 7 reverse
        }
    }
}
`

func TestKeepalivedFileCheck(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaFileCheck))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.Services[0].RealServers
	f := c.VRRPTrackFiles[0]
	for _, tc := range []struct {
		name    string
		got     *Check
		want    Check
		weight  int
		reverse bool
	}{
		// Neither the virtual server's connect_timeout nor the real
		// server's retry applies: FILE_CHECK takes no checker settings.
		{"the file's weight", rs[0].Check, Check{Type: FileCheck, TrackFile: "drain", Line: 13}, -3, true},
		{"own weight, not reversed", rs[1].Check, Check{Type: FileCheck, TrackFile: "drain", FileWeight: 100000, FileWeightSet: true, Line: 18}, 100000, false},
		{"weight 0 is kept", rs[2].Check, Check{Type: FileCheck, TrackFile: "drain", FileWeightSet: true, Line: 26}, 0, false},
		{"noreverse", rs[3].Check, Check{Type: FileCheck, TrackFile: "drain", FileWeight: -2147483647, FileWeightSet: true, Line: 32}, -2147483647, false},
		{"reverse", &rs[3].MoreChecks[0], Check{Type: FileCheck, TrackFile: "drain", FileWeight: 7, FileWeightSet: true, FileReverse: true, Line: 36}, 7, true},
	} {
		if !reflect.DeepEqual(*tc.got, tc.want) {
			t.Errorf("%s\n got %+v\nwant %+v", tc.name, *tc.got, tc.want)
		}
		if w, r := tc.got.FileEffective(f); w != tc.weight || r != tc.reverse {
			t.Errorf("%s: effective weight %d reverse %v, want %d %v", tc.name, w, r, tc.weight, tc.reverse)
		}
	}
	if rs[1].MoreChecks[0].Type != TCPCheck {
		t.Errorf("the TCP_CHECK beside a FILE_CHECK: %+v", rs[1].MoreChecks)
	}
	out := assertRoundTrip(t, c)
	for _, frag := range []string{"type: file", "track_file: drain", "weight: 100000", "weight: 0", "reverse: true"} {
		if !bytes.Contains(out, []byte(frag)) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
	if bytes.Contains(out, []byte("weight: -2147483647\n        reverse")) {
		t.Errorf("noreverse printed as reverse:\n%s", out)
	}
}

// Bad FILE_CHECKs are refused at their line, naming the field.
func TestKeepalivedFileCheckRefused(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		line           int
		field, msg     string
	}{
		{"unknown track file", "track_file drain\n        }\n    }\n    real_server 10.0.0.3", "track_file nosuch\n        }\n    }\n    real_server 10.0.0.3", 14, "real_servers[0].check.track_file", `no track file named "nosuch"`},
		{"no track_file", "            track_file drain\n            weight 0\n", "            weight 0\n", 26, "FILE_CHECK", "needs track_file NAME"},
		{"weight out of range", "weight 100000", "weight 2147483648", 20, "real_servers[1].check.weight", "must be -2147483647..2147483647"},
		{"bad weight option", "weight 7 reverse", "weight 7 sideways", 38, "weight", "want weight W [reverse|noreverse]"},
		{"checker setting", "            weight 0\n", "            weight 0\n            connect_timeout 3\n", 29, "connect_timeout", "not supported in FILE_CHECK"},
		// keepalived 2.2.7's man page documents it, the daemon does not know it.
		{"dynamic", "            weight 0\n", "            weight 0\n            dynamic\n", 29, "dynamic", "not supported in FILE_CHECK"},
		{"second track_file", "            track_file drain\n            weight 0\n", "            track_file drain\n            track_file drain\n            weight 0\n", 28, "track_file", "already set at line 27"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.Replace(kaFileCheck, tc.old, tc.new, 1)
			if conf == kaFileCheck {
				t.Fatal("replacement did not apply")
			}
			_, _, err := ParseKeepalived("k.conf", []byte(conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

const yamlFileCheck = `vrrp_track_files:
  - {name: drain, file: /tmp/xlb-drain, weight: 2}
services:
  - vip: 10.0.0.1
    port: 80
    protocol: tcp
    scheduler: wrr
    real_servers:
      - address: 10.0.0.2
        weight: 10
        check: {type: file, track_file: drain}
      - address: 10.0.0.3
        checks:
          - {type: file, track_file: drain, weight: -5, reverse: true}
          - {type: tcp}
`

func TestYAMLFileCheck(t *testing.T) {
	c, err := ParseYAML("x.yaml", []byte(yamlFileCheck))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.Services[0].RealServers
	if got, want := *rs[0].Check, (Check{Type: FileCheck, TrackFile: "drain", Line: 11}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got, want := *rs[1].Check, (Check{Type: FileCheck, TrackFile: "drain", FileWeight: -5, FileWeightSet: true, FileReverse: true, Line: 14}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	assertRoundTrip(t, c)

	// The same servers from keepalived.conf read the same.
	k, _, err := ParseKeepalived("k.conf", []byte(`track_file drain {
    file /tmp/xlb-drain
    weight 2
}
virtual_server 10.0.0.1 80 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.2 80 {
        weight 10
        FILE_CHECK {
            track_file drain
        }
    }
    real_server 10.0.0.3 80 {
        FILE_CHECK {
            track_file drain
            weight -5 reverse
        }
        TCP_CHECK {
        }
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	y := c.Clone()
	// keepalived's own defaults that the YAML leaves to xlb's.
	y.Services[0].DelayLoop, y.Services[0].Port = k.Services[0].DelayLoop, k.Services[0].Port
	for i := range y.Services[0].RealServers {
		y.Services[0].RealServers[i].Port = k.Services[0].RealServers[i].Port
	}
	if !reflect.DeepEqual(stripPositions(k).Services[0].RealServers, stripPositions(y).Services[0].RealServers) {
		t.Errorf("keepalived.conf and YAML differ:\n%+v\n%+v", k.Services[0].RealServers, y.Services[0].RealServers)
	}
}

func TestYAMLFileCheckRefused(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		line           int
		field, msg     string
	}{
		{"unknown track file", "{type: file, track_file: drain}", "{type: file, track_file: other}", 11, "real_servers[0].check.track_file", `no track file named "other"`},
		{"no track file", "{type: file, track_file: drain}", "{type: file}", 11, "real_servers[0].check.track_file", "is required"},
		{"weight range", "weight: -5,", "weight: -2147483648,", 14, "real_servers[1].check.weight", "must be -2147483647..2147483647"},
		{"reverse without weight", "{type: file, track_file: drain}", "{type: file, track_file: drain, reverse: true}", 11, "real_servers[0].check.reverse", "needs weight"},
		{"polling setting", "{type: file, track_file: drain}", "{type: file, track_file: drain, rise: 2}", 11, "real_servers[0].check.rise", "does not apply to file checks"},
		{"track_file on a tcp check", "- {type: tcp}", "- {type: tcp, track_file: drain}", 15, "real_servers[1].checks[1].track_file", "only applies to file checks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.Replace(yamlFileCheck, tc.old, tc.new, 1)
			if conf == yamlFileCheck {
				t.Fatal("replacement did not apply")
			}
			_, err := ParseYAML("x.yaml", []byte(conf))
			wantProblem(t, err, "x.yaml", tc.line, tc.field, tc.msg)
		})
	}
}
