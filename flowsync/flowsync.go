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
//	count × record (proto u8, pad u8, client ip4 + port, vip ip4 + port,
//	real server ip4 + port: 20 bytes) | HMAC-SHA256 of all before (32 bytes)
const (
	magic      = "XLBS"
	version    = 1
	headerLen  = 16
	recordLen  = 20
	macLen     = sha256.Size
	MaxBatch   = 64
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
	var batch []maps.Flow
	flush := func() {
		if len(batch) == 0 {
			return
		}
		msg := Encode(batch, time.Now(), s.cfg.Key)
		for _, p := range s.peers {
			if _, err := s.conn.WriteToUDP(msg, p); err != nil {
				s.Stats.SendErrors.Add(1)
			}
		}
		s.Stats.Sent.Add(uint64(len(batch)))
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return nil
		case f, ok := <-local:
			if !ok {
				flush()
				<-ctx.Done()
				return nil
			}
			batch = append(batch, f)
			if len(batch) == MaxBatch {
				flush()
			}
		case <-tick.C:
			flush()
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

// Encode builds one authenticated datagram (len(flows) <= MaxBatch; IPv4).
func Encode(flows []maps.Flow, now time.Time, key []byte) []byte {
	b := make([]byte, headerLen, headerLen+len(flows)*recordLen+macLen)
	copy(b, magic)
	b[4] = version
	b[5] = byte(len(flows))
	binary.BigEndian.PutUint64(b[8:], uint64(now.UnixNano()))
	for _, f := range flows {
		b = append(b, f.Proto, 0)
		for _, ap := range []netip.AddrPort{f.Client, f.VIP, f.Backend} {
			a := ap.Addr().As4()
			b = append(b, a[:]...)
			b = binary.BigEndian.AppendUint16(b, ap.Port())
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// Decode authenticates and parses a datagram.
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
	if body[4] != version {
		return nil, fmt.Errorf("version %d", body[4])
	}
	n := int(body[5])
	if len(body) != headerLen+n*recordLen {
		return nil, errors.New("bad length")
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[8:])))
	if d := now.Sub(sent); d > maxAge || d < -maxAge {
		return nil, fmt.Errorf("stale or replayed (age %v)", d)
	}
	flows := make([]maps.Flow, 0, n)
	for i := range n {
		r := body[headerLen+i*recordLen:]
		ap := func(off int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(r[off:off+4])), binary.BigEndian.Uint16(r[off+4:]))
		}
		flows = append(flows, maps.Flow{Proto: r[0], Client: ap(2), VIP: ap(8), Backend: ap(14)})
	}
	return flows, nil
}
