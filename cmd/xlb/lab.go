package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/lab"
)

func newLabCmd(g *globalFlags) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Bring up the netns lab (client, director, two nginx real servers), show rr at work, tear it down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return lab.Demo(ctx, self, cmd.OutOrStdout(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the lab running until Ctrl-C")
	return cmd
}
