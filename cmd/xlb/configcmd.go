package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or convert configurations"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate an xlb YAML configuration (exit 1 with file:line: field: problem)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadYAML(args[0])
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
			cfg, warns, err := config.LoadKeepalived(args[0])
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
	cmd.AddCommand(check, convert)
	return cmd
}
