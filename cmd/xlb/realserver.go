package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/realserver"
)

func newRealServerCmd() *cobra.Command {
	var vips []string
	var stateDir string
	var tun bool
	var tunIface, tunPin, tunType string
	var tunPort uint16
	parse := func() (realserver.Options, error) {
		o := realserver.Options{StateDir: stateDir, Tunnel: tun, TunnelIface: tunIface, TunnelPin: tunPin}
		if tun && tunIface == "" {
			return o, fmt.Errorf("--tun needs --iface (where tunnelled packets arrive)")
		}
		tt, ok := config.ParseTunnelType(tunType)
		if tunType == "" {
			tt, ok = config.TunnelIPIP, true // as before: an empty flag is the default
		}
		if !ok {
			return o, fmt.Errorf("--tun-type %q: want ipip, gre or gue", tunType)
		}
		if tt != config.TunnelIPIP && !tun {
			return o, fmt.Errorf("--tun-type needs --tun")
		}
		switch {
		case tt == config.TunnelGRE:
			o.TunnelGRE = true
		case tt == config.TunnelGUE && tunPort == 0:
			return o, fmt.Errorf("--tun-type gue needs --tun-port (the director's tunnel_port)")
		case tt == config.TunnelGUE:
			o.TunnelGUEPort = tunPort
		}
		if tunPort != 0 && tt != config.TunnelGUE {
			return o, fmt.Errorf("--tun-port goes with --tun-type gue")
		}
		if len(vips) == 0 {
			return o, fmt.Errorf("at least one --vip is required")
		}
		for _, v := range vips {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return o, fmt.Errorf("--vip %q: %w", v, err)
			}
			o.VIPs = append(o.VIPs, a)
		}
		return o, nil
	}
	cmd := &cobra.Command{
		Use:   "realserver",
		Short: "Prepare this host as a DR real server (the lvsdr script)",
	}
	up := &cobra.Command{
		Use:   "up --vip VIP [--vip VIP...]",
		Short: "Add each VIP to lo and stop answering ARP for it (arp_ignore=1, arp_announce=2)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			o, err := parse()
			if err != nil {
				return err
			}
			return realserver.Up(o)
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Undo `realserver up`: remove the VIPs it added, restore the ARP settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := realserver.Options{StateDir: stateDir}
			undone, err := realserver.Down(o)
			if err == nil && !undone {
				// Harmless (down twice), but an operator who expected a
				// VIP to go should hear that nothing was recorded here.
				fmt.Fprintf(cmd.ErrOrStderr(), "nothing to undo: no record of `xlb realserver up` in this network namespace (%s)\n", realserver.StatePath(o))
			}
			return err
		},
	}
	up.Flags().StringArrayVar(&vips, "vip", nil, "virtual IP (repeatable)")
	up.Flags().BoolVar(&tun, "tun", false, "TUN real server: decapsulate IPIP / IP6IP6 from the director with xlb's tc program (no ipip or ip6_tunnel module needed)")
	up.Flags().StringVar(&tunIface, "iface", "", "with --tun: the interface tunnelled packets arrive on")
	up.Flags().StringVar(&tunPin, "pin", "", "with --tun: where to pin the decap link (default /sys/fs/bpf/xlb/realserver-decap-IFACE)")
	up.Flags().StringVar(&tunType, "tun-type", "ipip", "with --tun: ipip (IPIP and IP6IP6), gre (GRE too: the director's tunnel_type gre) or gue (GUE to --tun-port too)")
	up.Flags().Uint16Var(&tunPort, "tun-port", 0, "with --tun-type gue: the UDP port the director sends GUE to (its tunnel_port)")
	for _, c := range []*cobra.Command{up, down} {
		c.Flags().StringVar(&stateDir, "state-dir", "", "where the undo state is kept (default "+realserver.DefaultStateDir+")")
	}
	down.Flags().StringArrayVar(&vips, "vip", nil, "ignored: down undoes exactly what up did")
	cmd.AddCommand(up, down)
	return cmd
}
