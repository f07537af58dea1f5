package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// xlb config convert: keepalived.conf -> YAML must describe the same director.
func TestConvertRoundTrip(t *testing.T) {
	sources := map[string][]byte{"full.conf": []byte(kaFull)}
	for _, f := range []string{"seed-master.keepalived.conf", "seed-backup.keepalived.conf"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		sources[f] = data
	}
	for name, data := range sources {
		t.Run(name, func(t *testing.T) {
			ka, _, err := ParseKeepalived(name, data)
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalYAML(ka)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "# xlb configuration converted from "+name+"\n") {
				t.Errorf("converted file does not say where it came from:\n%s", out)
			}
			back, err := ParseYAML("converted.yaml", out)
			if err != nil {
				t.Fatalf("converted YAML does not parse: %v\n%s", err, out)
			}
			assertSameConfig(t, back, ka)
			// Marshalling is stable: a second conversion prints the same text.
			again, err := MarshalYAML(back)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(string(out), name, "converted.yaml", 1)
			if string(again) != want {
				t.Errorf("second conversion differs:\n%s\nvs\n%s", again, want)
			}
		})
	}
}

func TestMarshalYAMLRoundTripNative(t *testing.T) {
	c, err := ParseYAML("full.yaml", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	out := assertRoundTrip(t, c)
	// Sub-second durations and quoted look-alike strings survive.
	for _, frag := range []string{"advert_int: 100ms", `auth_pass: "1111"`, "timeouts: {tcp: 900}", `vip: 192.168.101.100`, `'2001:db8::100'`} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("output lacks %q:\n%s", frag, out)
		}
	}
}

func TestMarshalSeedExpected(t *testing.T) {
	c, _, err := LoadKeepalived(filepath.Join("testdata", "seed-master.keepalived.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "seed-master.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Golden file: what `xlb config convert` prints for the guide's master.
	if string(out) != string(want) {
		t.Errorf("converted seed differs from testdata/seed-master.yaml:\n%s", out)
	}
}
