// Package bgp announces service VIPs to routers with an embedded gobgp
// speaker. Several directors announcing the same VIP with themselves as
// next hop let the routers spread clients over all of them by ECMP (the
// seed's "LVS + OSPF cluster", with BGP instead of OSPF); a director that
// withdraws, stops or dies stops attracting traffic.
//
// The speaker keeps the desired set of VIPs and reconciles gobgp's RIB with
// it, so Announce and Withdraw are idempotent and may be called after every
// change of the datapath.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/xlb-project/xlb/config"
)

// opTimeout bounds every call into gobgp; its management loop is local, so
// a call taking longer means it is stuck.
const opTimeout = 10 * time.Second

// Speaker is one BGP speaker announcing host routes for VIPs.
type Speaker struct {
	cfg         config.BGP
	log         *slog.Logger
	communities []uint32

	mu        sync.Mutex
	srv       *server.BgpServer
	started   bool
	closed    bool
	desired   map[netip.Addr]bool
	announced map[netip.Addr][]byte // VIP -> uuid of the path in gobgp
	stopWatch context.CancelFunc
}

// PeerStatus is the state of one session.
type PeerStatus struct {
	Address netip.Addr
	ASN     uint32
	// State is the BGP FSM state in lower case: idle, connect, active,
	// opensent, openconfirm, established.
	State string
	// Since is when the session came up (zero unless established).
	Since      time.Time
	Advertised uint64 // prefixes sent
}

// Status is a snapshot of the speaker.
type Status struct {
	RouterID  netip.Addr
	LocalASN  uint32
	Peers     []PeerStatus
	Announced []netip.Prefix // host routes currently in the RIB
}

// New checks cfg and prepares a speaker; Start runs it. cfg.NextHop must be
// set (the director fills in its interface address); RouterID defaults to
// the next hop when that is IPv4.
func New(cfg config.BGP, log *slog.Logger) (*Speaker, error) {
	if log == nil {
		log = slog.Default()
	}
	if !cfg.NextHop.IsValid() {
		return nil, errors.New("bgp: next hop is required")
	}
	if !cfg.RouterID.IsValid() {
		if !cfg.NextHop.Is4() {
			return nil, errors.New("bgp: router_id is required when the next hop is not IPv4")
		}
		cfg.RouterID = cfg.NextHop
	}
	if cfg.LocalASN == 0 {
		return nil, errors.New("bgp: local_asn is required")
	}
	var comms []uint32
	for _, c := range cfg.Communities {
		v, err := config.ParseCommunity(c)
		if err != nil {
			return nil, fmt.Errorf("bgp: %w", err)
		}
		comms = append(comms, v)
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	return &Speaker{
		cfg: cfg, log: log, communities: comms,
		desired: map[netip.Addr]bool{}, announced: map[netip.Addr][]byte{},
	}, nil
}

// Config is the configuration the speaker runs with (defaults filled in).
func (s *Speaker) Config() config.BGP { return s.cfg }

// Start starts the speaker, opens the sessions and announces whatever was
// already asked for. Sessions come up in the background.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("bgp: speaker closed")
	}
	if s.started {
		return nil
	}
	srv := server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: s.log}))
	go srv.Serve()
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	global := &api.Global{
		Asn:        s.cfg.LocalASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: int32(s.cfg.ListenPort),
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		srv.Stop()
		return fmt.Errorf("bgp: start speaker (as %d, router id %s, port %d): %w", s.cfg.LocalASN, s.cfg.RouterID, s.cfg.ListenPort, err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	// Peer events only feed the log: an operator sees sessions come and go
	// next to the datapath's own messages.
	if err := srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onEvent); err != nil {
		s.log.Warn("bgp: watch peer events", "err", err)
	}
	for _, p := range s.cfg.Peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			wcancel()
			srv.Stop()
			return fmt.Errorf("bgp: add peer %s: %w", p.Address, err)
		}
	}
	s.srv, s.started, s.stopWatch = srv, true, wcancel
	s.log.Info("bgp speaker started", "asn", s.cfg.LocalASN, "router_id", s.cfg.RouterID, "next_hop", s.cfg.NextHop,
		"listen_port", s.cfg.ListenPort, "peers", len(s.cfg.Peers))
	return s.reconcileLocked(ctx)
}

func apiPeer(p config.BGPPeer) *api.Peer {
	fam := func(afi api.Family_Afi) *api.AfiSafi {
		return &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
	}
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(p.HoldTime / time.Second),
			KeepaliveInterval: uint64(p.Keepalive() / time.Second),
			ConnectRetry:      uint64(p.ConnectRetry / time.Second),
		}},
		Transport: &api.Transport{PassiveMode: p.Passive, RemotePort: uint32(p.Port)},
		// Both families, so IPv6 VIPs travel over an IPv4 session too.
		AfiSafis: []*api.AfiSafi{fam(api.Family_AFI_IP), fam(api.Family_AFI_IP6)},
	}
}

func (s *Speaker) onEvent(r *api.WatchEventResponse) {
	pe := r.GetPeer()
	if pe == nil || pe.GetType() != api.WatchEventResponse_PeerEvent_STATE || pe.GetPeer().GetState() == nil {
		return
	}
	st := pe.GetPeer().GetState()
	s.log.Info("bgp peer "+stateName(st.GetSessionState()), "peer", st.GetNeighborAddress(), "asn", st.GetPeerAsn())
}

func stateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_IDLE:
		return "idle"
	case api.PeerState_CONNECT:
		return "connect"
	case api.PeerState_ACTIVE:
		return "active"
	case api.PeerState_OPENSENT:
		return "opensent"
	case api.PeerState_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// Announce adds VIPs to the desired set and announces them.
func (s *Speaker) Announce(vips ...netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vips {
		s.desired[v.Unmap()] = true
	}
	return s.reconcileLocked(context.Background())
}

// Withdraw removes VIPs from the desired set and withdraws them.
func (s *Speaker) Withdraw(vips ...netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vips {
		delete(s.desired, v.Unmap())
	}
	return s.reconcileLocked(context.Background())
}

// Set makes vips the whole desired set: everything else is withdrawn.
func (s *Speaker) Set(vips ...netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.desired)
	for _, v := range vips {
		s.desired[v.Unmap()] = true
	}
	return s.reconcileLocked(context.Background())
}

// reconcileLocked makes gobgp's RIB hold exactly the desired VIPs. Before
// Start it only records; failures are retried on the next call.
func (s *Speaker) reconcileLocked(ctx context.Context) error {
	if !s.started || s.closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var errs []error
	for v, id := range s.announced {
		if s.desired[v] {
			continue
		}
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Uuid: id}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: withdraw %s: %w", v, err))
			continue
		}
		delete(s.announced, v)
		s.log.Info("bgp withdraw", "prefix", hostPrefix(v))
	}
	for v := range s.desired {
		if _, ok := s.announced[v]; ok {
			continue
		}
		path, err := s.path(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp: announce %s: %w", v, err))
			continue
		}
		s.announced[v] = res.GetUuid()
		s.log.Info("bgp announce", "prefix", hostPrefix(v), "next_hop", s.cfg.NextHop)
	}
	return errors.Join(errs...)
}

func hostPrefix(v netip.Addr) netip.Prefix { return netip.PrefixFrom(v, v.BitLen()) }

// path builds the host route for v: origin IGP, next hop, communities.
func (s *Speaker) path(v netip.Addr) (*api.Path, error) {
	nh := s.cfg.NextHop
	if nh.Is4() != v.Is4() {
		return nil, fmt.Errorf("bgp: cannot announce %s with next hop %s of another address family; set bgp.next_hop", v, nh)
	}
	nlri := &api.IPAddressPrefix{Prefix: v.String(), PrefixLen: uint32(v.BitLen())}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}}
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if v.Is4() {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: nh.String()})
	} else {
		fam.Afi = api.Family_AFI_IP6
		n, err := anypb.New(nlri)
		if err != nil {
			return nil, fmt.Errorf("bgp: encode nlri: %w", err)
		}
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: fam, NextHops: []string{nh.String()}, Nlris: []*anypb.Any{n}})
	}
	if len(s.communities) > 0 {
		attrs = append(attrs, &api.CommunitiesAttribute{Communities: s.communities})
	}
	n, err := anypb.New(nlri)
	if err != nil {
		return nil, fmt.Errorf("bgp: encode nlri: %w", err)
	}
	p := &api.Path{Family: fam, Nlri: n}
	for _, a := range attrs {
		x, err := anypb.New(a)
		if err != nil {
			return nil, fmt.Errorf("bgp: encode attribute: %w", err)
		}
		p.Pattrs = append(p.Pattrs, x)
	}
	return p, nil
}

// Status reports the sessions and the announced prefixes.
func (s *Speaker) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{RouterID: s.cfg.RouterID, LocalASN: s.cfg.LocalASN}
	for v := range s.announced {
		st.Announced = append(st.Announced, hostPrefix(v))
	}
	slices.SortFunc(st.Announced, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if !s.started || s.closed {
		for _, p := range s.cfg.Peers {
			st.Peers = append(st.Peers, PeerStatus{Address: p.Address, ASN: p.ASN, State: "idle"})
		}
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		ps := p.GetState()
		a, _ := netip.ParseAddr(ps.GetNeighborAddress())
		out := PeerStatus{Address: a, ASN: ps.GetPeerAsn(), State: stateName(ps.GetSessionState())}
		if ps.GetSessionState() == api.PeerState_ESTABLISHED {
			if up := p.GetTimers().GetState().GetUptime(); up != nil {
				out.Since = up.AsTime()
			}
		}
		for _, af := range p.GetAfiSafis() {
			out.Advertised += af.GetState().GetAdvertised()
		}
		st.Peers = append(st.Peers, out)
	})
	if err != nil {
		s.log.Warn("bgp: list peers", "err", err)
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return st
}

// Close withdraws every route and stops the speaker. Stopping sends each
// peer a NOTIFICATION (cease), so routers drop this director's routes at
// once instead of after the hold time. Idempotent.
func (s *Speaker) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var errs []error
	for v, id := range s.announced {
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Uuid: id}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: withdraw %s: %w", v, err))
		}
		delete(s.announced, v)
	}
	s.stopWatch()
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
		errs = append(errs, fmt.Errorf("bgp: stop: %w", err))
	}
	s.log.Info("bgp speaker stopped")
	return errors.Join(errs...)
}
