package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or convert configurations"}
	var keepalived bool
	var configID string
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate an xlb YAML configuration or a keepalived.conf (exit 1 with file:line: field: problem)",
		Long: `check validates a configuration whole, as xlb run would read it, and prints
every problem as file:line: field: message. A file whose name ends in .conf
(or any file with --keepalived) is read as keepalived.conf, with its warnings.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg *config.Config
			var err error
			if keepalived || strings.HasSuffix(args[0], ".conf") {
				var warns []config.Warning
				cfg, warns, err = config.LoadKeepalivedAs(args[0], configID)
				for _, w := range warns {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.String())
				}
			} else {
				cfg, err = config.LoadYAML(args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d services\n", args[0], len(cfg.Services))
			return nil
		},
	}
	convert := &cobra.Command{
		Use:   "convert KEEPALIVED.CONF",
		Short: "Print the xlb YAML equivalent of a keepalived.conf",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, warns, err := config.LoadKeepalivedAs(args[0], configID)
			for _, w := range warns {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.String())
			}
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
	}
	cmd.AddCommand(check, convert)
	return cmd
}
