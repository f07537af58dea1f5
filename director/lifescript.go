package director

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/xlb-project/xlb/config"
)

// runLifeScript runs keepalived 2.2's startup_script or shutdown_script
// (kind): once, waited for, its process group killed after its timeout so
// a hung script cannot hold the director's start or stop. A failure is
// logged and the director goes on, as keepalived does: the script prepares
// what xlb does not (firewall marks, interface settings), it cannot veto
// forwarding.
func runLifeScript(log *slog.Logger, cfg *config.Config, kind string, l config.LifeScript) {
	if strings.TrimSpace(l.Script) == "" {
		return
	}
	cred, err := cfg.ScriptCred(l.User)
	if err != nil {
		log.Warn(kind+" not run", "script", l.Script, "err", err)
		return
	}
	timeout := l.TimeoutOrDefault()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	out, err := runShell(ctx, l.Script, []string{"XLB_SCRIPT=" + kind}, cred)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case ctx.Err() != nil:
		log.Warn(kind+" killed at its timeout", "script", l.Script, "timeout", timeout, "output", strings.TrimSpace(string(out)))
	case err != nil:
		log.Warn(kind+" failed", "script", l.Script, "user", cred.String(), "err", err, "took", took, "output", strings.TrimSpace(string(out)))
	default:
		log.Info(kind+" ran", "script", l.Script, "user", cred.String(), "took", took)
	}
}
