package config

import (
	"os"
	"path/filepath"
	"testing"
)

// Both parsers read files an operator (or an attacker with write access to a
// config directory) controls; they must reject bad input with an error, never
// panic, and whatever they accept must convert to YAML and back unchanged,
// since `xlb config convert` relies on that. Seeds beyond these are in
// testdata/fuzz/<FuzzName>/.

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(fullYAML))
	f.Add([]byte(svcYAML(nil)))
	f.Add([]byte("services: [{vip: 10.0.0.1, port: 1, protocol: udp, real_servers: [{address: 10.0.0.2}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseYAML("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned together with an error")
			}
			return
		}
		roundTrip(t, c)
	})
}

func FuzzParseKeepalived(f *testing.F) {
	f.Add([]byte(kaFull))
	f.Add([]byte(kaBase))
	if seed, err := os.ReadFile(filepath.Join("testdata", "seed-master.keepalived.conf")); err == nil {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseKeepalived("fuzz.conf", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned together with an error")
			}
			return
		}
		roundTrip(t, c)
	})
}

func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("accepted config fails Validate: %v", err)
	}
	out, err := MarshalYAML(c)
	if err != nil {
		t.Fatalf("marshal accepted config: %v", err)
	}
	back, err := ParseYAML("round.yaml", out)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
	}
	assertSameConfig(t, back, c)
}
