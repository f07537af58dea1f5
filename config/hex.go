package config

import (
	"fmt"
	"strings"
)

// ParseHex reads a hex string as keepalived's UDP_CHECK payload and
// require_reply take it: spaces and tabs separate groups, each group is
// read two digits to an octet from its start, and a lone last digit is an
// octet of its own ("Ab12f 3" is AB 12 0F 03). With wildcard, X or x stands
// for a nibble the reply may have any value in: mask has its bits set there
// (mask is nil when there is none). An empty string, or any other
// character, is an error, as keepalived refuses it.
func ParseHex(s string, wildcard bool) (data, mask []byte, err error) {
	want := "a hex digit"
	if wildcard {
		want = "a hex digit or X"
	}
	masked := false
	for _, group := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }) {
		for i := 0; i < len(group); i += 2 {
			var b, m byte
			pair := group[i:min(i+2, len(group))]
			for _, c := range []byte(pair) {
				v, vm, ok := hexNibble(c, wildcard)
				if !ok {
					return nil, nil, fmt.Errorf("%q is not %s", c, want)
				}
				if len(pair) == 2 {
					b, m = b<<4, m<<4
				}
				b, m = b|v, m|vm
			}
			masked = masked || m != 0
			data = append(data, b)
			mask = append(mask, m)
		}
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("want hex digits, got %q", s)
	}
	if !masked {
		mask = nil
	}
	return data, mask, nil
}

// hexNibble is the value of one hex digit, or a wildcard's mask.
func hexNibble(c byte, wildcard bool) (v, mask byte, ok bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', 0, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, 0, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, 0, true
	case wildcard && (c == 'x' || c == 'X'):
		return 0, 0xf, true
	}
	return 0, 0, false
}
