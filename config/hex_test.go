package config

import (
	"bytes"
	"testing"
)

func TestParseHex(t *testing.T) {
	for _, tc := range []struct {
		in         string
		data, mask string // hex; mask "" for none
	}{
		// keepalived's man page example.
		{"Ab12f 3 456 546443123", "ab120f03450654644312 03", ""},
		{"0x", "00", "0f"},
		{"X1\t2", "0102", "f000"},
	} {
		data, mask, err := ParseHex(tc.in, true)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		wd, _, _ := ParseHex(tc.data, false)
		var wm []byte
		if tc.mask != "" {
			wm, _, _ = ParseHex(tc.mask, false)
		}
		if !bytes.Equal(data, wd) || !bytes.Equal(mask, wm) {
			t.Errorf("%q: data % x mask % x, want % x and % x", tc.in, data, mask, wd, wm)
		}
	}
	for _, bad := range []string{"", "  ", "0g", "1-2"} {
		if _, _, err := ParseHex(bad, true); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
