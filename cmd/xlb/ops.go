package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"
	"github.com/xlb-project/xlb/control"
	"github.com/xlb-project/xlb/director"
	"github.com/xlb-project/xlb/metrics"
)

// opsFlags are the operability flags of `xlb run` (metrics, control socket).
type opsFlags struct {
	controlSocket string
	metricsAddr   string
	// flags is run's flag set: the default socket path needs --iface,
	// which run.go owns and startOps is not given.
	flags *pflag.FlagSet
}

// noControlSocket disables the control socket.
const noControlSocket = "none"

func addOpsFlags(fl *pflag.FlagSet, o *opsFlags) {
	o.flags = fl
	fl.StringVar(&o.controlSocket, "control-socket", "",
		"control socket for xlb list/status/conns/reload and runtime edits (default "+control.DefaultSocketPath("IFACE")+`; "`+noControlSocket+`" disables)`)
	fl.StringVar(&o.metricsAddr, "metrics-addr", metrics.DefaultAddr,
		"Prometheus metrics listen address, served on /metrics (no authentication: keep it on loopback or a management network; empty disables)")
}

// startOps starts the operability services of a running director; they stop
// when ctx ends.
func startOps(ctx context.Context, d *director.Director, o *opsFlags, log *slog.Logger) error {
	iface := ""
	if o.flags != nil {
		if f := o.flags.Lookup("iface"); f != nil {
			iface = f.Value.String()
		}
	}
	src := &control.DirectorSource{D: d, Version: version, Iface: iface}
	src.BGP = func() *control.BGPStatus {
		st, ok := d.BGPStatus()
		if !ok {
			return nil
		}
		out := &control.BGPStatus{}
		for _, p := range st.Announced {
			out.Announced = append(out.Announced, p.String())
		}
		for _, p := range st.Peers {
			out.Peers = append(out.Peers, control.BGPPeerStatus{Address: p.Address.String(), ASN: p.ASN, State: p.State, Advertised: p.Advertised})
		}
		return out
	}
	src.FlowSync = func() *control.FlowSyncStatus {
		st := d.SyncStats()
		if st == nil {
			return nil
		}
		return &control.FlowSyncStatus{Sent: st.Sent.Load(), Received: st.Received.Load(), Inserted: st.Inserted.Load(), Unknown: st.Unknown.Load(), Rejected: st.Rejected.Load()}
	}
	src.VRRP = func() []control.VRRPStatus {
		var out []control.VRRPStatus
		for _, v := range d.VRRPStatus() {
			out = append(out, control.VRRPStatus{Name: v.Name, State: v.State, VRID: v.VRID, Priority: v.Priority, SyncGroup: v.SyncGroup, OldUnicastChecksum: v.OldUnicastChecksum})
		}
		return out
	}
	// The socket first: it finds another daemon already running on the
	// interface before anything else is bound.
	if o.controlSocket != noControlSocket {
		path := o.controlSocket
		if path == "" {
			if iface == "" {
				return fmt.Errorf("control socket: no --iface to name it after; give --control-socket")
			}
			path = control.DefaultSocketPath(iface)
		}
		clog := log.With("component", "control")
		srv, err := control.Listen(path, src, clog)
		if err != nil {
			return err
		}
		go func() {
			if err := srv.Serve(ctx); err != nil {
				clog.Error("control socket stopped", "err", err)
			}
		}()
		log.Info("control socket listening", "path", path)
	}
	if o.metricsAddr != "" {
		addr, err := metrics.Serve(ctx, o.metricsAddr, src, log.With("component", "metrics"))
		if err != nil {
			return err
		}
		log.Info("metrics listening", "addr", addr.String())
	}
	return nil
}
