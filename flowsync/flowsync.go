// Package flowsync shares new flows between directors, like IPVS's
// connection synchronisation daemon: each director publishes the flows it
// schedules (from the datapath's ring buffer) to its peers over UDP, and
// records the flows its peers publish. A flow that ECMP or a failover moves
// to another director then keeps its real server, even when the directors'
// schedulers would disagree (real servers changed in between, rr/wlc).
//
// Datagrams are authenticated with HMAC-SHA256 under a shared key and carry
// a timestamp; old or forged datagrams are dropped and counted.
package flowsync

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xlb-project/xlb/maps"
)

// Wire format, big endian:
//
//	magic "XLBS" | version u8 | count u8 | reserved u16 | unix ns u64 |
//	count × record | HMAC-SHA256 of all before (32 bytes)
//
// The version names the records' family:
//
//	1: IPv4 flows: proto u8, pad u8, client ip4 + port, vip ip4 + port,
//	   real server ip4 + port (20 bytes); at most MaxBatch a datagram.
//	2: IPv6 flows: proto u8, pad u8, client ip16 + port, vip ip16 + port,
//	   real server ip16 + port (56 bytes); at most MaxBatch6 a datagram.
//
// IPv4 flows still travel in version 1 datagrams, byte for byte what xlb
// sent before IPv6 flows were shared, so a mixed-version cluster keeps
// sharing them both ways. An xlb that knows only version 1 authenticates a
// version 2 datagram, then rejects it for its version (counted, nothing
// recorded): its IPv6 flows are simply not shared with it. Any other
// version is rejected here the same way.
const (
	magic      = "XLBS"
	version4   = 1
	version6   = 2
	headerLen  = 16
	recordLen4 = 20
	recordLen6 = 56
	macLen     = sha256.Size
	// MaxBatch is the most IPv4 flows in a datagram (1,328 bytes).
	MaxBatch = 64
	// MaxBatch6 is the most IPv6 flows in a datagram: 1,392 bytes, which
	// an Ethernet MTU of 1500 carries unfragmented, as it does version 1.
	MaxBatch6  = 24
	maxAge     = 10 * time.Second // datagrams older (or newer) than this are replays or skew
	flushEvery = 20 * time.Millisecond
)

// Config of a director's flow sharing.
type Config struct {
	Listen string   // UDP address to receive on, e.g. 192.168.101.8:7946
	Peers  []string // UDP addresses of the other directors
	Key    []byte   // shared secret (at least 16 bytes)
}

// Inserter records peers' flows (maps.Conns satisfies it).
type Inserter interface {
	Insert(flows []maps.Flow, now uint64) (inserted, unknown int, err error)
}

// Stats count what the syncer did.
type Stats struct {
	Sent, Received, Inserted, Unknown, Rejected, SendErrors atomic.Uint64
}

// Syncer sends and receives flows.
type Syncer struct {
	cfg   Config
	conn  *net.UDPConn
	peers []*net.UDPAddr
	ins   Inserter
	log   *slog.Logger
	Stats Stats
}

// New binds the listen address.
func New(cfg Config, ins Inserter, log *slog.Logger) (*Syncer, error) {
	if len(cfg.Key) < 16 {
		return nil, errors.New("flow sync key must be at least 16 bytes")
	}
	la, err := net.ResolveUDPAddr("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("flow sync listen address %q: %w", cfg.Listen, err)
	}
	var peers []*net.UDPAddr
	for _, p := range cfg.Peers {
		pa, err := net.ResolveUDPAddr("udp4", p)
		if err != nil {
			return nil, fmt.Errorf("flow sync peer %q: %w", p, err)
		}
		peers = append(peers, pa)
	}
	conn, err := net.ListenUDP("udp4", la)
	if err != nil {
		return nil, fmt.Errorf("flow sync listen: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{cfg: cfg, conn: conn, peers: peers, ins: ins, log: log}, nil
}

// Addr is the bound address.
func (s *Syncer) Addr() net.Addr { return s.conn.LocalAddr() }

// Run sends the flows from local (batched, at most flushEvery late) and
// records received ones until ctx ends.
func (s *Syncer) Run(ctx context.Context, local <-chan maps.Flow) error {
	go func() {
		<-ctx.Done()
		s.conn.Close()
	}()
	go s.receive()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	// One batch per family: a datagram carries flows of one.
	var batch4, batch6 []maps.Flow
	flush := func(batch *[]maps.Flow) {
		if len(*batch) == 0 {
			return
		}
		msg, err := Encode(*batch, time.Now(), s.cfg.Key)
		if err != nil { // not from the datapath's events: nothing to send
			s.Stats.SendErrors.Add(1)
			s.log.Debug("flow sync batch not encoded", "err", err)
			*batch = (*batch)[:0]
			return
		}
		for _, p := range s.peers {
			if _, err := s.conn.WriteToUDP(msg, p); err != nil {
				s.Stats.SendErrors.Add(1)
			}
		}
		s.Stats.Sent.Add(uint64(len(*batch)))
		*batch = (*batch)[:0]
	}
	flushAll := func() {
		flush(&batch4)
		flush(&batch6)
	}
	for {
		select {
		case <-ctx.Done():
			flushAll()
			return nil
		case f, ok := <-local:
			if !ok {
				flushAll()
				<-ctx.Done()
				return nil
			}
			if f.VIP.Addr().Is4() {
				batch4 = append(batch4, f)
				if len(batch4) == MaxBatch {
					flush(&batch4)
				}
			} else {
				batch6 = append(batch6, f)
				if len(batch6) == MaxBatch6 {
					flush(&batch6)
				}
			}
		case <-tick.C:
			flushAll()
		}
	}
}

func (s *Syncer) receive() {
	buf := make([]byte, 2048)
	for {
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		flows, err := Decode(buf[:n], time.Now(), s.cfg.Key)
		if err != nil {
			s.Stats.Rejected.Add(1)
			s.log.Debug("flow sync datagram rejected", "err", err)
			continue
		}
		s.Stats.Received.Add(uint64(len(flows)))
		ins, unk, err := s.ins.Insert(flows, maps.Now())
		s.Stats.Inserted.Add(uint64(ins))
		s.Stats.Unknown.Add(uint64(unk))
		if err != nil {
			s.log.Warn("record shared flows", "err", err)
		}
	}
}

// Encode builds one authenticated datagram of flows of one family: IPv4
// flows (at most MaxBatch) in a version 1 datagram, IPv6 flows (at most
// MaxBatch6) in a version 2 one. The family is the first flow's VIP's;
// every address of every flow must be of it.
func Encode(flows []maps.Flow, now time.Time, key []byte) ([]byte, error) {
	v4 := len(flows) == 0 || flows[0].VIP.Addr().Is4()
	ver, recLen, most := byte(version4), recordLen4, MaxBatch
	if !v4 {
		ver, recLen, most = version6, recordLen6, MaxBatch6
	}
	if len(flows) > most {
		return nil, fmt.Errorf("%d flows in one datagram, at most %d", len(flows), most)
	}
	b := make([]byte, headerLen, headerLen+len(flows)*recLen+macLen)
	copy(b, magic)
	b[4] = ver
	b[5] = byte(len(flows))
	binary.BigEndian.PutUint64(b[8:], uint64(now.UnixNano()))
	for _, f := range flows {
		b = append(b, f.Proto, 0)
		for _, ap := range []netip.AddrPort{f.Client, f.VIP, f.Backend} {
			a := ap.Addr()
			switch {
			case v4 && a.Is4():
				a4 := a.As4()
				b = append(b, a4[:]...)
			case !v4 && a.Is6() && !a.Is4In6():
				a16 := a.As16()
				b = append(b, a16[:]...)
			default:
				return nil, fmt.Errorf("flow %v -> %v -> %v mixes address families", f.Client, f.VIP, f.Backend)
			}
			b = binary.BigEndian.AppendUint16(b, ap.Port())
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b), nil
}

// Decode authenticates and parses a datagram of either version.
func Decode(b []byte, now time.Time, key []byte) ([]maps.Flow, error) {
	if len(b) < headerLen+macLen || string(b[:4]) != magic {
		return nil, errors.New("not a flow sync datagram")
	}
	body, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return nil, errors.New("bad authentication")
	}
	var recLen, addrLen int
	switch body[4] {
	case version4:
		recLen, addrLen = recordLen4, 4
	case version6:
		recLen, addrLen = recordLen6, 16
	default:
		return nil, fmt.Errorf("unknown version %d", body[4])
	}
	n := int(body[5])
	if len(body) != headerLen+n*recLen {
		return nil, errors.New("bad length")
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[8:])))
	if d := now.Sub(sent); d > maxAge || d < -maxAge {
		return nil, fmt.Errorf("stale or replayed (age %v)", d)
	}
	flows := make([]maps.Flow, 0, n)
	for i := range n {
		r := body[headerLen+i*recLen:]
		ap := func(k int) netip.AddrPort {
			off := 2 + k*(addrLen+2)
			a, _ := netip.AddrFromSlice(r[off : off+addrLen])
			return netip.AddrPortFrom(a, binary.BigEndian.Uint16(r[off+addrLen:]))
		}
		flows = append(flows, maps.Flow{Proto: r[0], Client: ap(0), VIP: ap(1), Backend: ap(2)})
	}
	return flows, nil
}
