package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/control"
	"github.com/xlb-project/xlb/director"
	"github.com/xlb-project/xlb/flowsync"
	"github.com/xlb-project/xlb/loader"
)

type runFlags struct {
	iface      string
	configPath string
	kaPath     string
	configID   string
	xdpMode    string
	pinDir     string
	noPin      bool
	noVIP      bool
	cleanup    bool
	hashSeed   uint32
	synRate    uint32
	synBurst   uint32
	syncListen string
	syncPeers  []string
	syncKey    string
	ops        opsFlags
}

func newRunCmd(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --iface IF (--config FILE | --keepalived-conf FILE)",
		Short: "Run the director on an interface",
		Long: `Run loads the XDP datapath on --iface, applies the configuration, runs the
health checks and owns the VIPs until stopped.

Signals: SIGHUP reloads the configuration (a bad one is rejected and the
running one stays). SIGINT/SIGTERM stop cleanly: the program is detached,
pins and VIPs removed. SIGUSR2 exits but leaves the datapath attached and
pinned, forwarding established and new flows, for a restart or upgrade that
adopts it without dropping a flow.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.iface, "iface", "", "interface to attach to (required)")
	fl.StringVar(&f.configPath, "config", "", "xlb YAML configuration")
	fl.StringVar(&f.kaPath, "keepalived-conf", "", "keepalived.conf to read instead of --config")
	fl.StringVar(&f.configID, "config-id", config.DefaultConfigID(), "keepalived config id (keepalived -i): keeps the keepalived.conf lines marked @ID")
	fl.StringVar(&f.xdpMode, "xdp-mode", "native", "native, generic or auto")
	fl.StringVar(&f.pinDir, "pin-dir", "", "where maps and the link are pinned (default /sys/fs/bpf/xlb/IFACE; in a network namespace other than the initial one /sys/fs/bpf/xlb/netns/NAME/IFACE)")
	fl.BoolVar(&f.noPin, "no-pin", false, "pin nothing (no hitless restart)")
	fl.BoolVar(&f.noVIP, "no-vip", false, "do not add the VIPs to the interface")
	fl.BoolVar(&f.cleanup, "cleanup", false, "remove pinned state of --iface (detaching a left-over program) and exit")
	fl.Uint32Var(&f.hashSeed, "hash-seed", 0, "seed of the sh/mh hash; directors sharing flows must share it")
	fl.Uint32Var(&f.synRate, "syn-guard-rate", 200000, "SYN-flood guard: connection-table inserts per second per CPU before new flows are scheduled statelessly (0 = off)")
	fl.Uint32Var(&f.synBurst, "syn-guard-burst", 200000, "SYN-flood guard: burst of inserts allowed above the rate")
	fl.StringVar(&f.syncListen, "sync-listen", "", "share flows with peer directors: UDP address to receive on (like the IPVS sync daemon)")
	fl.StringArrayVar(&f.syncPeers, "sync-peer", nil, "UDP address of a peer director (repeatable)")
	fl.StringVar(&f.syncKey, "sync-key-file", "", "file holding the shared secret that authenticates flow sharing (>= 16 bytes)")
	addOpsFlags(fl, &f.ops)
	return cmd
}

// configLoader returns the function that (re)reads the configuration.
func configLoader(f *runFlags, logf func(string, ...any)) (func() (*config.Config, error), error) {
	switch {
	case f.configPath != "" && f.kaPath != "":
		return nil, errors.New("give --config or --keepalived-conf, not both")
	case f.configPath != "":
		return func() (*config.Config, error) { return config.LoadYAML(f.configPath) }, nil
	case f.kaPath != "":
		return func() (*config.Config, error) {
			cfg, warns, err := config.LoadKeepalivedAs(f.kaPath, f.configID)
			for _, w := range warns {
				logf("keepalived.conf: " + w.String())
			}
			return cfg, err
		}, nil
	}
	return nil, errors.New("--config or --keepalived-conf is required")
}

func run(ctx context.Context, g *globalFlags, f *runFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if f.iface == "" {
		return errors.New("--iface is required")
	}
	mode, err := loader.ParseMode(f.xdpMode)
	if err != nil {
		return err
	}
	// Before anything shared (pins, VIPs, the program, sockets) is
	// touched, --cleanup included: it would delete a running director's
	// pins.
	unlock, err := lockIface(f.iface)
	if err != nil {
		return err
	}
	defer unlock()
	pinDir := f.pinDir
	if pinDir == "" {
		pinDir = loader.DefaultPinDir(control.NetnsDir(), f.iface)
	}
	if f.cleanup {
		return loader.Cleanup(pinDir)
	}
	if f.noPin {
		pinDir = ""
	}
	load, err := configLoader(f, func(m string, a ...any) { log.Warn(m, a...) })
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sync *flowsync.Config
	if f.syncListen != "" {
		key, err := os.ReadFile(f.syncKey)
		if err != nil {
			return fmt.Errorf("--sync-key-file: %w", err)
		}
		sync = &flowsync.Config{Listen: f.syncListen, Peers: f.syncPeers, Key: bytes.TrimSpace(key)}
	}
	// Signals are caught before the director starts: one that came while
	// it attaches would otherwise kill the process with the program
	// attached, the VIP held and no shutdown script run.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	d, err := director.New(ctx, director.Options{
		Iface: f.iface, Mode: mode, PinDir: pinDir, ManageVIPs: !f.noVIP,
		Load: load, HashSeed: f.hashSeed, Log: log,
		SynGuard: director.SynGuard{Rate: f.synRate, Burst: f.synBurst},
		Sync:     sync,
		// Beside the run lock, per interface of a network namespace,
		// as the pins are.
		HandoffPath: filepath.Join(control.SocketDir(), f.iface+".vrrp-handoff"),
	})
	if err != nil {
		return err
	}

	if err := startOps(ctx, d, &f.ops, log); err != nil {
		d.Close(true)
		return err
	}
	// Under `ip netns exec` the pins sit on a bpffs of this process's own
	// mount namespace: exiting "attached" would detach everything at once
	// while the VIP stays, and the kernel would reset every flow.
	const privatePins = "the pins live in a bpf filesystem private to this process's mount namespace (ip netns exec mounts its own /sys) and die with it"
	const privatePinsFix = "run it under nsenter --net=/run/netns/NAME, or give --pin-dir on a bpffs mounted in the host's mount namespace"
	hitless := pinDir != "" && loader.PinsOutliveProcess(pinDir)
	if pinDir != "" && !hitless {
		log.Warn("SIGUSR2 cannot restart hitlessly here: "+privatePins, "pin_dir", pinDir, "fix", privatePinsFix)
	}

	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for {
		select {
		case err := <-done:
			d.Close(true)
			return err
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				if err := d.Reload(ctx); err != nil {
					log.Error("reload", "err", err)
				}
				continue
			case syscall.SIGUSR2:
				if pinDir == "" {
					log.Warn("SIGUSR2 without pinning: stopping cleanly instead")
					cancel()
					<-done
					return d.Close(true)
				}
				if !hitless {
					// Refused, and serving on: stopping would drop every
					// flow, and a new run cannot start beside this one.
					log.Error("SIGUSR2 refused, still running: "+privatePins, "pin_dir", pinDir, "fix", privatePinsFix)
					continue
				}
				log.Info("exiting with the datapath left attached for the next run", "pin_dir", pinDir)
				cancel()
				<-done
				return d.Close(false)
			default:
				log.Info("stopping", "signal", s.String())
				cancel()
				<-done
				if err := d.Close(true); err != nil {
					return fmt.Errorf("stop: %w", err)
				}
				return nil
			}
		}
	}
}
