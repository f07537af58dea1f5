package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/ipvsrules"
)

// configFormat is how `xlb config` reads a file.
type configFormat int

const (
	formatYAML configFormat = iota
	formatKeepalived
	formatIPVSRules
)

// formatOf picks the reader: the flags, else the name (.conf is
// keepalived.conf, .rules ipvsadm rules as /etc/ipvsadm.rules), else def.
func formatOf(path string, keepalived, ipvsadm bool, def configFormat) configFormat {
	switch {
	case ipvsadm || strings.HasSuffix(path, ".rules"):
		return formatIPVSRules
	case keepalived || strings.HasSuffix(path, ".conf"):
		return formatKeepalived
	}
	return def
}

// loadAs reads path in format f, printing keepalived.conf warnings to warn.
func loadAs(path string, f configFormat, configID string, warn io.Writer) (*config.Config, error) {
	switch f {
	case formatKeepalived:
		cfg, warns, err := config.LoadKeepalivedAs(path, configID)
		for _, w := range warns {
			fmt.Fprintln(warn, "warning:", w.String())
		}
		return cfg, err
	case formatIPVSRules:
		return ipvsrules.Load(path)
	}
	return config.LoadYAML(path)
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or convert configurations"}
	var keepalived, ipvsadm bool
	var configID string
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate an xlb YAML configuration, a keepalived.conf or ipvsadm rules (exit 1 with file:line: field: problem)",
		Long: `check validates a configuration whole, as xlb run would read it, and prints
every problem as file:line: field: message. A file whose name ends in .conf
(or any file with --keepalived) is read as keepalived.conf, with its warnings;
one ending in .rules (or any with --ipvsadm) as ipvsadm rules.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadAs(args[0], formatOf(args[0], keepalived, ipvsadm, formatYAML), configID, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d services\n", args[0], len(cfg.Services))
			return nil
		},
	}
	convert := &cobra.Command{
		Use:   "convert KEEPALIVED.CONF|IPVSADM.RULES",
		Short: "Print the xlb YAML equivalent of a keepalived.conf or of ipvsadm rules",
		Long: `convert prints the xlb YAML equivalent of a keepalived.conf, or (for a
file ending in .rules, or with --ipvsadm) of a plain LVS director's ipvsadm
rules: ipvsadm-save output (/etc/ipvsadm.rules) or a file of ipvsadm command
lines (-A, -E, -D, -a, -e, -d, -C, --set; the leading "ipvsadm" optional).
Rules have no health checks: add them to the YAML.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadAs(args[0], formatOf(args[0], false, ipvsadm, formatKeepalived), configID, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out, err := config.MarshalYAML(cfg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	check.Flags().BoolVar(&keepalived, "keepalived", false, "read FILE as keepalived.conf whatever its name")
	for _, c := range []*cobra.Command{check, convert} {
		c.Flags().StringVar(&configID, "config-id", config.DefaultConfigID(), "keepalived config id (keepalived -i): keeps the lines marked @ID")
		c.Flags().BoolVar(&ipvsadm, "ipvsadm", false, "read FILE as ipvsadm rules (ipvsadm-save output or ipvsadm command lines) whatever its name")
	}
	cmd.AddCommand(check, convert)
	return cmd
}
