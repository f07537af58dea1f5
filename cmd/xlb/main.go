// Command xlb is an XDP layer-4 load balancer: a drop-in for an LVS (IPVS)
// director in DR mode with keepalived's health checks and VRRP.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

type globalFlags struct {
	logLevel  string
	logFormat string
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "xlb",
		Short:         "XDP layer-4 load balancer (LVS-DR director + keepalived, in eBPF)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "text or json")
	root.AddCommand(
		newRunCmd(g),
		newRealServerCmd(),
		withConfigDump(newConfigCmd()),
		newListCmd(),
		newStatusCmd(),
		newConnsCmd(),
		newReloadCmd(),
		newServiceCmd(),
		newRealCmd(),
		newTimeoutsCmd(),
		newZeroCmd(),
		newLabCmd(g),
		newBenchCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "xlb", version) },
		},
	)
	return root
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "xlb:", err)
		os.Exit(1)
	}
}
