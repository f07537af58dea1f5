package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/control"
	"github.com/xlb-project/xlb/ipvsrules"
)

// sockFlags find the control socket of the director to talk to.
type sockFlags struct {
	socket string
	iface  string
}

func (s *sockFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&s.socket, "socket", "", "control socket of the director")
	cmd.PersistentFlags().StringVar(&s.iface, "iface", "", "talk to the director on this interface (socket "+control.DefaultSocketPath("IFACE")+"); default: the only one running")
}

func (s *sockFlags) client() (*control.Client, error) {
	path, err := control.FindSocket(s.socket, s.iface)
	if err != nil {
		return nil, err
	}
	return &control.Client{Path: path}, nil
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newListCmd() *cobra.Command {
	var sf sockFlags
	var only svcFlags
	var o control.ListOptions
	var stats, rate, thresholds, persist, save, asJSON bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List services and real servers like ipvsadm -Ln",
		Long: `List prints the services and real servers of the running director in
ipvsadm -Ln's format, so scripts written for it keep working. As under
keepalived, real servers that take no new flows (health check down, MAC
unresolved, removed but draining) are left out unless --all is given.

--stats and --rate print Conns/InPkts/InBytes (and their rates) since the
director started or the last xlb zero (ipvsadm -Z). In DR mode replies go
from the real server straight to the client, so the director never sees
them: OutPkts, OutBytes and their rates are always 0. --rate samples the
counters twice, --interval apart. --json has both: the *_total counters,
which like the Prometheus metrics never go back, and counters_since_zero.

--persistent-conn adds PersistConn: per real server, the clients a
persistent service sends back to it (live persistence templates), as the
connection-table sweep counted them (every 2 s).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := count(stats, rate, thresholds, persist, save); n > 1 {
				return errors.New("give one of --stats, --rate, --thresholds, --persistent-conn and --save")
			}
			if asJSON && rate {
				return errors.New("--json prints the counters (conns_total, packets_total, bytes_total); compute rates from two samples")
			}
			if interval <= 0 {
				return fmt.Errorf("--interval must be above 0, got %s", interval)
			}
			filtered := only.tcp != "" || only.udp != ""
			var proto config.Protocol
			var addr netip.AddrPort
			if filtered {
				var err error
				if proto, addr, err = only.service(); err != nil {
					return err
				}
			}
			cl, err := sf.client()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			// ipvsadm -Ln -t VIP:PORT: that service alone.
			snapshot := func() (*control.Snapshot, error) {
				s, err := cl.Snapshot(ctx)
				if err == nil && filtered {
					err = s.Only(string(proto), addr)
				}
				return s, err
			}
			s, err := snapshot()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				return printJSON(out, s)
			case stats:
				control.FormatStats(out, s, o)
			case thresholds:
				control.FormatThresholds(out, s, o)
			case persist:
				control.FormatPersistConns(out, s, o)
			case save:
				control.FormatRules(out, s, o)
			case rate:
				start := time.Now()
				select {
				case <-time.After(interval):
				case <-ctx.Done():
					return ctx.Err()
				}
				s2, err := snapshot()
				if err != nil {
					return err
				}
				control.FormatRate(out, s, s2, time.Since(start), o)
			default:
				control.FormatList(out, s, o)
			}
			return nil
		},
	}
	sf.add(cmd)
	only.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&stats, "stats", false, "print cumulative counters since the last xlb zero (ipvsadm --stats)")
	fl.BoolVar(&rate, "rate", false, "print rates per second (ipvsadm --rate)")
	fl.BoolVar(&thresholds, "thresholds", false, "print connection limits (ipvsadm --thresholds)")
	fl.BoolVar(&persist, "persistent-conn", false, "print each real server's persistence templates as PersistConn (ipvsadm --persistent-conn)")
	fl.BoolVarP(&save, "save", "S", false, "print the services as ipvsadm rules (ipvsadm -S -n, the format of /etc/ipvsadm.rules)")
	fl.DurationVar(&interval, "interval", time.Second, "sampling interval of --rate")
	fl.BoolVar(&o.All, "all", false, "include real servers that take no new flows")
	fl.BoolVar(&o.Exact, "exact", false, "print exact numbers, not K/M/G (ipvsadm --exact)")
	fl.BoolVar(&asJSON, "json", false, "print the full state as JSON (all real servers, counters, health)")
	numericFlag(fl)
	return cmd
}

// numericFlag accepts ipvsadm's -n / --numeric, an LVS operator's reflex:
// xlb prints addresses and ports as numbers always, so it changes nothing.
func numericFlag(fl *pflag.FlagSet) {
	fl.BoolP("numeric", "n", false, "accepted for ipvsadm's -n: addresses and ports are always numeric")
}

func newStatusCmd() *cobra.Command {
	var sf sockFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the director's attach mode, uptime, VRRP state and real-server health",
		Long: `Status shows how the director runs (XDP attach mode, uptime, connection
table use, timeouts, VRRP state) and, per real server, whether it takes new
flows and why not: up, down (health check failing), unresolved (no ARP answer
yet) or draining (removed from the configuration, flows remain), with the
last check's latency and error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := sf.client()
			if err != nil {
				return err
			}
			s, err := cl.Snapshot(ctxOf(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			control.FormatStatus(cmd.OutOrStdout(), s)
			return nil
		},
	}
	sf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newConnsCmd() *cobra.Command {
	var sf sockFlags
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "conns",
		Short: "List the connection table like ipvsadm -Lnc",
		Long: `Conns lists the flows of the connection table: protocol, time left before
the flow expires idle, state (SYN_RECV until the client acknowledges the
handshake, ESTABLISHED, FIN_WAIT once the client sent FIN or RST, UDP), client,
VIP and real server: IPVS's input-only states, as the director sees only the
client's side of a flow (so no TIME_WAIT). The persistence templates
of services with persistence_timeout follow, as ipvsadm -Lnc shows them: state
NONE, the client (masked by the granularity) with port 0, the time left in its
persistence window.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := sf.client()
			if err != nil {
				return err
			}
			r, err := cl.Conns(ctxOf(cmd), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			control.FormatConns(cmd.OutOrStdout(), r)
			return nil
		},
	}
	sf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().IntVar(&limit, "limit", 100000, "print at most this many flows (0: all)")
	numericFlag(cmd.Flags())
	return cmd
}

func newReloadCmd() *cobra.Command {
	var sf sockFlags
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make the director re-read its configuration (as SIGHUP), printing why it was rejected",
		Long: `Reload makes the running director re-read its configuration file and apply
the difference, exactly as SIGHUP does, but waits for the result: a rejected
configuration fails the command with the problems found, and the running
configuration stays. Runtime edits (xlb service/real/timeouts) are dropped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := sf.client()
			if err != nil {
				return err
			}
			if err := cl.Reload(ctxOf(cmd)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration reloaded")
			return nil
		},
	}
	sf.add(cmd)
	return cmd
}

func newZeroCmd() *cobra.Command {
	var sf sockFlags
	var svc svcFlags
	cmd := &cobra.Command{
		Use:   "zero [-t|-u VIP:PORT]",
		Short: "Zero the counters xlb list --stats prints, of one service or all (ipvsadm -Z)",
		Long: `Zero makes the counters of xlb list --stats and --rate (Conns, InPkts,
InBytes) start from 0 again: of the service given with -t or -u, or of all
services, as ipvsadm -Z. A service that does not run is an error.

The datapath's counters are not reset: Prometheus needs them to only grow,
so the metrics (xlb_*_total) and xlb list --json's *_total fields keep
counting; the director remembers each real server's counters at the zero
and listings subtract them (counters_since_zero in --json). A reload that
keeps a service keeps its zero; a restart forgets it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// No service: all of them, as ipvsadm -Z.
			var p control.ZeroParams
			if svc.tcp != "" || svc.udp != "" {
				proto, addr, err := svc.service()
				if err != nil {
					return err
				}
				p = control.ZeroParams{Protocol: string(proto), Service: addr}
			}
			cl, err := sf.client()
			if err != nil {
				return err
			}
			return cl.Zero(ctxOf(cmd), p)
		},
	}
	sf.add(cmd)
	svc.add(cmd)
	return cmd
}

const runtimeNote = `
Runtime edits change only the running configuration: they are validated
whole and applied like a reload (flows of other services and real servers are
untouched), but the next reload (xlb reload, SIGHUP) or restart re-reads the
configuration file and drops them. Save them with
  xlb config dump > /etc/xlb/xlb.yaml`

// svcFlags name a service the ipvsadm way: -t VIP:PORT or -u VIP:PORT.
type svcFlags struct {
	tcp, udp string
}

func (s *svcFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&s.tcp, "tcp-service", "t", "", "TCP service VIP:PORT")
	cmd.Flags().StringVarP(&s.udp, "udp-service", "u", "", "UDP service VIP:PORT")
}

func (s *svcFlags) edit(op control.EditOp) (control.Edit, error) {
	e := control.Edit{Op: op}
	var err error
	e.Protocol, e.Service, err = s.service()
	return e, err
}

// service reads -t or -u, exactly one of which must be given.
func (s *svcFlags) service() (config.Protocol, netip.AddrPort, error) {
	var p config.Protocol
	var v string
	switch {
	case s.tcp != "" && s.udp != "":
		return p, netip.AddrPort{}, errors.New("give -t or -u, not both")
	case s.tcp != "":
		p, v = config.TCP, s.tcp
	case s.udp != "":
		p, v = config.UDP, s.udp
	default:
		return p, netip.AddrPort{}, errors.New("-t VIP:PORT or -u VIP:PORT is required")
	}
	a, err := netip.ParseAddrPort(v)
	if err != nil {
		return p, netip.AddrPort{}, fmt.Errorf("service %q: want VIP:PORT ([V6]:PORT for IPv6): %w", v, err)
	}
	return p, a, nil
}

func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Add, edit or delete a virtual service at runtime (ipvsadm -A/-E/-D)",
		Long:  "Add, edit or delete a virtual service of the running director.\n" + runtimeNote,
	}
	mk := func(use, short string, op control.EditOp, withOpts bool) *cobra.Command {
		var sf sockFlags
		var svc svcFlags
		var sched, netmask, flags string
		var persist int
		var ops bool
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Long:  short + "\n" + runtimeNote,
			Args:  cobra.MaximumNArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				e, err := svc.edit(op)
				if err != nil {
					return err
				}
				if withOpts {
					e.Scheduler = config.Scheduler(sched)
					p, err := persistence(c, persist, args)
					if err != nil {
						return err
					}
					e.Persistence = p
					if c.Flags().Changed("netmask") {
						n, err := config.PrefixLen(netmask)
						if err != nil {
							return fmt.Errorf("-M: %w", err)
						}
						e.Granularity = &n
					}
					if c.Flags().Changed("ops") {
						e.OPS = &ops
					}
					if c.Flags().Changed("sched-flags") {
						hash, err := ipvsrules.SchedFlags(flags)
						if err != nil {
							return fmt.Errorf("-b %w", err)
						}
						e.HashPort = &hash
					}
				} else if len(args) > 0 {
					return fmt.Errorf("unexpected argument %q", args[0])
				}
				cl, err := sf.client()
				if err != nil {
					return err
				}
				return cl.Edit(ctxOf(c), e)
			},
		}
		sf.add(c)
		svc.add(c)
		if withOpts {
			c.Flags().StringVarP(&sched, "scheduler", "s", "", "rr, wrr, wlc, lc, sed, nq, sh or mh (add: default wlc; edit: unchanged)")
			c.Flags().IntVarP(&persist, "persistent", "p", 0, "persistence timeout in seconds; -p alone means 300 as in ipvsadm, -p 0 turns it off")
			c.Flags().Lookup("persistent").NoOptDefVal = "300"
			c.Flags().StringVarP(&netmask, "netmask", "M", "", "persistence granularity: a netmask (255.255.255.0) or prefix length")
			c.Flags().BoolVarP(&ops, "ops", "o", false, "one-packet scheduling (UDP services)")
			c.Flags().StringVarP(&flags, "sched-flags", "b", "", "scheduler flags: sh-port/mh-port hash the client port too (sh-fallback/mh-fallback: always so); edit: a list without a -port flag turns it off")
		}
		return c
	}
	cmd.AddCommand(
		mk("add -t|-u VIP:PORT [-s SCHED] [-p [SECS]] [-M MASK] [-b FLAGS] [-o]", "Add a service (ipvsadm -A)", control.ServiceAdd, true),
		mk("edit -t|-u VIP:PORT [-s SCHED] [-p [SECS]] [-M MASK] [-b FLAGS] [-o]", "Change a service's scheduler or persistence; what is not given stays (ipvsadm -E)", control.ServiceEdit, true),
		mk("del -t|-u VIP:PORT", "Delete a service (ipvsadm -D)", control.ServiceDel, false),
	)
	return cmd
}

// persistence reads -p. An optional flag value must be attached in pflag
// (-p=50), but ipvsadm users write "-p 50": with -p given, a lone
// argument is taken as its value.
func persistence(c *cobra.Command, p int, args []string) (*int, error) {
	if !c.Flags().Changed("persistent") {
		if len(args) > 0 {
			return nil, fmt.Errorf("unexpected argument %q", args[0])
		}
		return nil, nil
	}
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-p %q: want whole seconds >= 0", args[0])
		}
		p = n
	}
	return &p, nil
}

func newRealCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "real",
		Short: "Add, edit or delete a real server at runtime (ipvsadm -a/-e/-d)",
		Long: "Add, edit or delete a real server of a service of the running director.\n" +
			"It is forwarded to as its service forwards (DR or TUN) unless -g (direct\n" +
			"routing) or -i (IPIP / IP6IP6 tunnel) says otherwise; a service may mix them,\n" +
			"as under IPVS. A real server added here has no health check: it takes flows\n" +
			"as soon as its MAC (TUN: its next hop's) is resolved.\n" + runtimeNote,
	}
	mk := func(use, short string, op control.EditOp, withWeight bool) *cobra.Command {
		var sf sockFlags
		var svc svcFlags
		var real string
		var weight, upper, lower int
		var gatewaying, ipip, masq bool
		var tunType string
		var tunPort uint16
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Long:  short + "\n" + runtimeNote,
			Args:  cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				e, err := svc.edit(op)
				if err != nil {
					return err
				}
				if e.Real, err = parseReal(real); err != nil {
					return err
				}
				if withWeight && c.Flags().Changed("weight") {
					e.Weight = &weight
				}
				if withWeight && c.Flags().Changed("u-threshold") {
					e.UThreshold = &upper
				}
				if withWeight && c.Flags().Changed("l-threshold") {
					e.LThreshold = &lower
				}
				switch {
				case masq:
					// ipvsadm's -m: said plainly rather than as an unknown flag.
					return errors.New("-m (NAT, masquerading) is not supported: xlb forwards by direct routing (-g) or tunnel (-i)")
				case gatewaying && ipip:
					return errors.New("-g and -i are two forwarding methods: give one")
				case gatewaying:
					e.Forward = config.DR
				case ipip:
					e.Forward = config.TUN
				}
				if tunType != "" {
					tt, ok := config.ParseTunnelType(tunType)
					if !ok {
						return fmt.Errorf("--tun-type %q: want ipip, gre or gue", tunType)
					}
					if tt != config.TunnelIPIP && !ipip {
						return errors.New("--tun-type goes with -i")
					}
					e.TunnelType = tt
				}
				if (e.TunnelType == config.TunnelGUE) != (tunPort != 0) {
					return errors.New("--tun-type gue and --tun-port go together")
				}
				e.TunnelPort = tunPort
				cl, err := sf.client()
				if err != nil {
					return err
				}
				return cl.Edit(ctxOf(c), e)
			},
		}
		sf.add(c)
		svc.add(c)
		c.Flags().StringVarP(&real, "real-server", "r", "", "real server RIP[:PORT] (the port defaults to the service's)")
		if withWeight {
			c.Flags().IntVarP(&weight, "weight", "w", config.DefaultWeight, "weight; 0 drains (no new flows, existing ones stay)")
			c.Flags().IntVarP(&upper, "u-threshold", "x", 0, "connection limit: no new flows at this many (0: none)")
			c.Flags().IntVarP(&lower, "l-threshold", "y", 0, "new flows again below this many (0: three quarters of -x)")
			c.Flags().BoolVarP(&gatewaying, "gatewaying", "g", false, "forward by direct routing (DR), whatever the service's method")
			c.Flags().BoolVarP(&ipip, "ipip", "i", false, "forward in an IPIP / IP6IP6 tunnel (TUN), whatever the service's method")
			c.Flags().StringVar(&tunType, "tun-type", "", "with -i: ipip (default), gre or gue")
			c.Flags().Uint16Var(&tunPort, "tun-port", 0, "with --tun-type gue: the real server's UDP port")
			c.Flags().BoolVarP(&masq, "masquerading", "m", false, "NAT: not supported (refused with a reason)")
			_ = c.Flags().MarkHidden("masquerading")
		}
		return c
	}
	cmd.AddCommand(
		mk("add -t|-u VIP:PORT -r RIP[:PORT] [-g|-i] [-w WEIGHT] [-x UPPER] [-y LOWER]", "Add a real server (ipvsadm -a)", control.RealAdd, true),
		mk("edit -t|-u VIP:PORT -r RIP[:PORT] [-g|-i] [-w WEIGHT] [-x UPPER] [-y LOWER]", "Change a real server's forwarding, weight or connection limits (ipvsadm -e)", control.RealEdit, true),
		mk("del -t|-u VIP:PORT -r RIP[:PORT]", "Delete a real server (ipvsadm -d); its flows drain", control.RealDel, false),
	)
	return cmd
}

func parseReal(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("-r RIP[:PORT] is required")
	}
	if a, err := netip.ParseAddrPort(s); err == nil {
		return a, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("real server %q: want IP or IP:PORT ([V6]:PORT for IPv6)", s)
	}
	return netip.AddrPortFrom(a, 0), nil
}

func newTimeoutsCmd() *cobra.Command {
	var sf sockFlags
	cmd := &cobra.Command{
		Use:   "timeouts",
		Short: "Show or set the connection idle timeouts (ipvsadm -L --timeout / --set)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := sf.client()
			if err != nil {
				return err
			}
			s, err := cl.Snapshot(ctxOf(cmd))
			if err != nil {
				return err
			}
			control.FormatTimeouts(cmd.OutOrStdout(), s)
			return nil
		},
	}
	sf.add(cmd)
	set := &cobra.Command{
		Use:   "set TCP TCPFIN UDP",
		Short: "Set the global idle timeouts in seconds; 0 leaves one unchanged (ipvsadm --set)",
		Long: `Set the global idle timeouts in seconds of established TCP flows, TCP flows
after the client's FIN or RST, and UDP flows; 0 leaves a value unchanged, as
ipvsadm --set. Services that set their own timeouts keep them.
` + runtimeNote,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t [3]int
			for i, a := range args {
				n, err := strconv.Atoi(a)
				if err != nil || n < 0 {
					return fmt.Errorf("timeout %q: want whole seconds >= 0", a)
				}
				t[i] = n
			}
			cl, err := sf.client()
			if err != nil {
				return err
			}
			return cl.Edit(ctxOf(cmd), control.Edit{Op: control.TimeoutsSet, Timeouts: control.TimeoutsSecs{TCP: t[0], TCPFin: t[1], UDP: t[2]}})
		},
	}
	cmd.AddCommand(set)
	return cmd
}

// withConfigDump adds `config dump` to the config command.
func withConfigDump(cfg *cobra.Command) *cobra.Command {
	var sf sockFlags
	dump := &cobra.Command{
		Use:   "dump",
		Short: "Print the running director's configuration (runtime edits included) as xlb YAML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := sf.client()
			if err != nil {
				return err
			}
			y, err := cl.ConfigYAML(ctxOf(cmd))
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), y)
			return err
		},
	}
	sf.add(dump)
	cfg.AddCommand(dump)
	return cfg
}

// count is how many of flags are set.
func count(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}
