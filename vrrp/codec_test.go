package vrrp

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var (
	mcast = netip.MustParseAddr("224.0.0.18")
	srcA  = netip.MustParseAddr("10.0.0.1")
)

// keepalivedV2 is a VRRPv2 advert as keepalived sends it with
// "auth_type PASS; auth_pass secret", laid out by hand from RFC 3768 §5.1:
// version 2 / type 1, VRID 51, priority 100, one address, auth type 1,
// advert interval 1 s, checksum, 192.168.1.100, "secret" NUL-padded to 8.
// The checksum 0x7b71 was computed by hand: the one's-complement sum of the
// ten 16-bit words is 0x2848c, folded 0x848e, complemented 0x7b71.
var keepalivedV2 = []byte{
	0x21, 0x33, 0x64, 0x01,
	0x01, 0x01, 0x7b, 0x71,
	0xc0, 0xa8, 0x01, 0x64,
	's', 'e', 'c', 'r',
	'e', 't', 0x00, 0x00,
}

func TestV2KnownBytes(t *testing.T) {
	a, err := Unmarshal(keepalivedV2, srcA, mcast)
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := Advert{
		Version: 2, VRID: 51, Priority: 100, AuthType: AuthPass,
		AuthData: PassAuthData("secret"), Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.100")}, Checksum: 0x7b71,
	}
	if a.Version != want.Version || a.VRID != want.VRID || a.Priority != want.Priority ||
		a.AuthType != want.AuthType || a.AuthData != want.AuthData || a.Interval != want.Interval ||
		!slices.Equal(a.Addrs, want.Addrs) || a.Checksum != want.Checksum {
		t.Fatalf("got %+v, want %+v", a, want)
	}
	b, err := want.Marshal(srcA, mcast)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !bytes.Equal(b, keepalivedV2) {
		t.Fatalf("marshal:\n got % x\nwant % x", b, keepalivedV2)
	}
	// The v2 checksum does not depend on the IP addresses.
	if _, err := Unmarshal(keepalivedV2, netip.MustParseAddr("10.9.9.9"), mcast); err != nil {
		t.Fatalf("v2 checksum depends on IP addresses: %v", err)
	}
}

func TestV3KnownBytes(t *testing.T) {
	// VRID 1, priority 100, max advert interval 100 cs, 10.0.0.100; the
	// checksum 0x75a5 covers the pseudo-header 10.0.0.1 → 224.0.0.18,
	// protocol 112, length 12.
	want := []byte{0x31, 0x01, 0x64, 0x01, 0x00, 0x64, 0x75, 0xa5, 10, 0, 0, 100}
	a := &Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}
	b, err := a.Marshal(srcA, mcast)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
	got, err := Unmarshal(want, srcA, mcast)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interval != time.Second || got.VRID != 1 || got.Priority != 100 || got.Addrs[0] != a.Addrs[0] {
		t.Fatalf("got %+v", got)
	}
	// The pseudo-header makes the checksum depend on the source address.
	if _, err := Unmarshal(want, netip.MustParseAddr("10.0.0.2"), mcast); ReasonOf(err) != ReasonBadChecksum {
		t.Fatalf("v3 with another source: err %v, want bad checksum", err)
	}
}

func TestRoundTrip(t *testing.T) {
	v6src := netip.MustParseAddr("fe80::1")
	v6dst := netip.MustParseAddr("ff02::12")
	cases := []struct {
		a        Advert
		src, dst netip.Addr
	}{
		{Advert{Version: 2, VRID: 7, Priority: 1, Interval: 255 * time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8")}}, srcA, mcast},
		{Advert{Version: 2, VRID: 255, Priority: 0, AuthType: AuthPass, AuthData: PassAuthData("longerthan8"),
			Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4")}}, srcA, mcast},
		{Advert{Version: 3, VRID: 9, Priority: 255, Interval: 40950 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4")}}, srcA, mcast},
		{Advert{Version: 3, VRID: 9, Priority: 200, Interval: 10 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}}, v6src, v6dst},
	}
	for _, c := range cases {
		b, err := c.a.Marshal(c.src, c.dst)
		if err != nil {
			t.Fatalf("%+v: marshal: %v", c.a, err)
		}
		got, err := Unmarshal(b, c.src, c.dst)
		if err != nil {
			t.Fatalf("%+v: unmarshal: %v", c.a, err)
		}
		if got.Version != c.a.Version || got.VRID != c.a.VRID || got.Priority != c.a.Priority ||
			got.Interval != c.a.Interval || got.AuthType != c.a.AuthType || got.AuthData != c.a.AuthData ||
			!slices.Equal(got.Addrs, c.a.Addrs) {
			t.Fatalf("round trip: got %+v, want %+v", got, c.a)
		}
	}
	if PassAuthData("longerthan8") != PassAuthData("longerth") {
		t.Fatal("PASS passwords must be truncated to 8 octets")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	mut := func(f func(b []byte) []byte) []byte { return f(slices.Clone(keepalivedV2)) }
	cases := []struct {
		name string
		b    []byte
		want Reason
	}{
		{"short header", keepalivedV2[:7], ReasonBadLength},
		{"count beyond data", mut(func(b []byte) []byte { b[3] = 2; return b }), ReasonBadLength},
		{"missing auth data", keepalivedV2[:16], ReasonBadLength},
		{"version 4", mut(func(b []byte) []byte { b[0] = 0x41; return b }), ReasonBadVersion},
		{"type 2", mut(func(b []byte) []byte { b[0] = 0x22; return b }), ReasonBadType},
		{"bad checksum", mut(func(b []byte) []byte { b[7] ^= 1; return b }), ReasonBadChecksum},
		{"corrupt address", mut(func(b []byte) []byte { b[9] ^= 0x80; return b }), ReasonBadChecksum},
	}
	for _, c := range cases {
		_, err := Unmarshal(c.b, srcA, mcast)
		if ReasonOf(err) != c.want {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if !errors.Is(err, &ValidationError{Reason: c.want}) {
			t.Errorf("%s: errors.Is does not match reason %v", c.name, c.want)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	bad := []Advert{
		{Version: 2, Interval: 1500 * time.Millisecond, Addrs: []netip.Addr{srcA}},
		{Version: 2, Interval: 0, Addrs: []netip.Addr{srcA}},
		{Version: 3, Interval: 41 * time.Second, Addrs: []netip.Addr{srcA}},
		{Version: 3, Interval: 5 * time.Millisecond, Addrs: []netip.Addr{srcA}},
		{Version: 2, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("::1")}},
		{Version: 3, Interval: time.Second, Addrs: []netip.Addr{srcA, netip.MustParseAddr("::1")}},
		{Version: 4, Interval: time.Second, Addrs: []netip.Addr{srcA}},
	}
	for _, a := range bad {
		if _, err := a.Marshal(srcA, mcast); err == nil {
			t.Errorf("Marshal(%+v) succeeded", a)
		}
	}
}
