package main

import (
	"context"
	"log/slog"

	"github.com/spf13/pflag"
	"github.com/xlb-project/xlb/director"
)

// opsFlags are the operability flags of `xlb run` (metrics, control socket).
type opsFlags struct{}

func addOpsFlags(fl *pflag.FlagSet, o *opsFlags) {}

// startOps starts the operability services of a running director; they stop
// when ctx ends.
func startOps(ctx context.Context, d *director.Director, o *opsFlags, log *slog.Logger) error {
	return nil
}
