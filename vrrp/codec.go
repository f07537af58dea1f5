package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IPProto is the IP protocol number of VRRP.
const IPProto = 112

// TypeAdvertisement is the only VRRP packet type.
const TypeAdvertisement = 1

// AuthType is the VRRPv2 authentication type (RFC 3768 §5.3.6).
type AuthType uint8

const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1 // simple text password ("PASS" in keepalived)
	AuthAH   AuthType = 2 // IP Authentication Header; not supported
)

func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth(%d)", uint8(a))
}

// Reason classifies why a received packet was not accepted.
type Reason int

const (
	ReasonBadVersion Reason = iota + 1
	ReasonBadType
	ReasonBadLength
	ReasonBadChecksum
	ReasonBadTTL
	ReasonWrongVRID
	ReasonAuthMismatch
	ReasonIntervalMismatch
	ReasonAddrMismatch
	ReasonBadSource
)

func (r Reason) String() string {
	switch r {
	case ReasonBadVersion:
		return "bad_version"
	case ReasonBadType:
		return "bad_type"
	case ReasonBadLength:
		return "bad_length"
	case ReasonBadChecksum:
		return "bad_checksum"
	case ReasonBadTTL:
		return "bad_ttl"
	case ReasonWrongVRID:
		return "wrong_vrid"
	case ReasonAuthMismatch:
		return "auth_mismatch"
	case ReasonIntervalMismatch:
		return "interval_mismatch"
	case ReasonAddrMismatch:
		return "addr_mismatch"
	case ReasonBadSource:
		return "bad_source"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ValidationError reports a packet that failed a check; Reason is what
// Stats counts.
type ValidationError struct {
	Reason Reason
	Detail string
}

func (e *ValidationError) Error() string {
	if e.Detail == "" {
		return "vrrp: invalid packet: " + e.Reason.String()
	}
	return "vrrp: invalid packet: " + e.Reason.String() + ": " + e.Detail
}

// Is lets errors.Is(err, &ValidationError{Reason: r}) match on the reason.
func (e *ValidationError) Is(target error) bool {
	t, ok := target.(*ValidationError)
	return ok && t.Reason == e.Reason && t.Detail == ""
}

func invalid(r Reason, format string, args ...any) error {
	return &ValidationError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of a ValidationError, or 0.
func ReasonOf(err error) Reason {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return 0
}

// Advert is a decoded VRRP advertisement. The Count field of the wire format
// is len(Addrs).
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// AuthType and AuthData exist only in version 2. AuthData holds the
	// password, NUL-padded to 8 octets, for AuthPass.
	AuthType AuthType
	AuthData [8]byte
	// Interval is the advertisement interval: whole seconds in version 2,
	// centiseconds (max 40.95 s) in version 3.
	Interval time.Duration
	Addrs    []netip.Addr
	// Checksum is the value read by Unmarshal; Marshal computes its own.
	Checksum uint16
}

const (
	headerLen = 8
	authLen   = 8
	maxV3Int  = 0xfff // centiseconds
)

// PassAuthData encodes a PASS password the way keepalived does: at most 8
// octets, NUL-padded.
func PassAuthData(pass string) [8]byte {
	var b [8]byte
	copy(b[:], pass)
	return b
}

// Marshal encodes the advertisement. src and dst are the IP source and
// destination, needed for the version 3 pseudo-header checksum (ignored for
// version 2, whose checksum covers only the VRRP message).
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	if len(a.Addrs) > 255 {
		return nil, errors.New("vrrp: more than 255 addresses")
	}
	is6 := false
	if len(a.Addrs) > 0 {
		is6 = a.Addrs[0].Unmap().Is6()
	}
	alen := 4
	if is6 {
		alen = 16
	}
	n := headerLen + len(a.Addrs)*alen
	if a.Version == 2 {
		n += authLen
	}
	b := make([]byte, n)
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addrs))
	switch a.Version {
	case 2:
		if is6 {
			return nil, errors.New("vrrp: version 2 carries only IPv4 addresses")
		}
		secs := a.Interval / time.Second
		if a.Interval%time.Second != 0 || secs < 1 || secs > 255 {
			return nil, fmt.Errorf("vrrp: version 2 interval %v is not 1..255 whole seconds", a.Interval)
		}
		b[0] = 2<<4 | TypeAdvertisement
		b[4] = uint8(a.AuthType)
		b[5] = uint8(secs)
	case 3:
		cs := a.Interval / (10 * time.Millisecond)
		if a.Interval%(10*time.Millisecond) != 0 || cs < 1 || cs > maxV3Int {
			return nil, fmt.Errorf("vrrp: version 3 interval %v is not 10ms..40.95s in centiseconds", a.Interval)
		}
		b[0] = 3<<4 | TypeAdvertisement
		binary.BigEndian.PutUint16(b[4:], uint16(cs))
	default:
		return nil, fmt.Errorf("vrrp: unsupported version %d", a.Version)
	}
	off := headerLen
	for _, ad := range a.Addrs {
		ad = ad.Unmap()
		if ad.Is6() != is6 {
			return nil, errors.New("vrrp: mixed address families")
		}
		copy(b[off:], ad.AsSlice())
		off += alen
	}
	if a.Version == 2 {
		copy(b[off:], a.AuthData[:])
	}
	var sum uint16
	if a.Version == 3 {
		var err error
		if sum, err = pseudoChecksum(b, src, dst); err != nil {
			return nil, err
		}
	} else {
		sum = checksum(b, 0)
	}
	binary.BigEndian.PutUint16(b[6:], sum)
	return b, nil
}

// Unmarshal decodes and checks the self-contained parts of an advertisement:
// version, type, length and checksum. src and dst are the packet's IP
// addresses: their family selects the address size for version 3 and they
// feed its pseudo-header checksum. Instance-specific checks (VRID, auth,
// interval, addresses, TTL) are done by the Instance.
func Unmarshal(b []byte, src, dst netip.Addr) (*Advert, error) {
	if len(b) < headerLen {
		return nil, invalid(ReasonBadLength, "%d octets, header needs %d", len(b), headerLen)
	}
	ver := int(b[0] >> 4)
	if ver != 2 && ver != 3 {
		return nil, invalid(ReasonBadVersion, "version %d", ver)
	}
	if t := b[0] & 0x0f; t != TypeAdvertisement {
		return nil, invalid(ReasonBadType, "type %d", t)
	}
	a := &Advert{
		Version:  ver,
		VRID:     b[1],
		Priority: b[2],
		Checksum: binary.BigEndian.Uint16(b[6:]),
	}
	count := int(b[3])
	alen := 4
	if ver == 3 && src.Unmap().Is6() {
		alen = 16
	}
	need := headerLen + count*alen
	if ver == 2 {
		need += authLen
	}
	// Trailing octets are tolerated: some implementations pad, and RFC 3768
	// only requires the packet to hold what Count announces.
	if len(b) < need {
		return nil, invalid(ReasonBadLength, "%d octets, count %d needs %d", len(b), count, need)
	}
	if ver == 3 {
		// The v3 checksum covers exactly the VRRP message, whose length the
		// pseudo-header carries; verify over the announced length.
		sum, err := pseudoChecksum(b[:need], src, dst)
		if err != nil {
			return nil, invalid(ReasonBadSource, "%v", err)
		}
		// Computing over a message whose checksum field is filled in
		// yields 0 when the checksum is right.
		if sum != 0 {
			return nil, invalid(ReasonBadChecksum, "checksum 0x%04x", a.Checksum)
		}
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&maxV3Int) * 10 * time.Millisecond
	} else {
		if checksum(b[:need], 0) != 0 {
			return nil, invalid(ReasonBadChecksum, "checksum 0x%04x", a.Checksum)
		}
		a.AuthType = AuthType(b[4])
		a.Interval = time.Duration(b[5]) * time.Second
	}
	off := headerLen
	for range count {
		ad, _ := netip.AddrFromSlice(b[off : off+alen])
		a.Addrs = append(a.Addrs, ad)
		off += alen
	}
	if ver == 2 {
		copy(a.AuthData[:], b[off:off+authLen])
	}
	return a, nil
}

// checksum is the Internet checksum (RFC 1071) of b, starting from the
// partial sum init.
func checksum(b []byte, init uint32) uint16 {
	sum := init
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pseudoChecksum is the VRRPv3 checksum: the Internet checksum over the
// IPv4 or IPv6 pseudo-header followed by the VRRP message (RFC 5798 §5.2.8).
func pseudoChecksum(msg []byte, src, dst netip.Addr) (uint16, error) {
	src, dst = src.Unmap(), dst.Unmap()
	var ph []byte
	switch {
	case src.Is4() && dst.Is4():
		s, d := src.As4(), dst.As4()
		ph = make([]byte, 0, 12)
		ph = append(ph, s[:]...)
		ph = append(ph, d[:]...)
		ph = append(ph, 0, IPProto)
		ph = binary.BigEndian.AppendUint16(ph, uint16(len(msg)))
	case src.Is6() && dst.Is6():
		s, d := src.As16(), dst.As16()
		ph = make([]byte, 0, 40)
		ph = append(ph, s[:]...)
		ph = append(ph, d[:]...)
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(msg)))
		ph = append(ph, 0, 0, 0, IPProto)
	default:
		return 0, fmt.Errorf("pseudo-header needs source and destination of one family, have %v and %v", src, dst)
	}
	var sum uint32
	for i := 0; i < len(ph); i += 2 {
		sum += uint32(ph[i])<<8 | uint32(ph[i+1])
	}
	return checksum(msg, sum), nil
}
