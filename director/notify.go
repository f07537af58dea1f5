package director

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
)

// notifyTimeout bounds a notify_up / notify_down script; its whole process
// group is killed then.
const notifyTimeout = 30 * time.Second

// notifier runs the real servers' notify_up / notify_down scripts (and the
// vrrp sync groups' notify scripts) in the
// background, so a slow script never holds up the health transition that
// started it (nor the datapath update).
type notifier struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newNotifier(log *slog.Logger) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{log: log, ctx: ctx, cancel: cancel}
}

// notifyScript is what to run when the real server with target key went
// up or down, the script's own user and its environment; "" when it has no
// such script.
func notifyScript(cfg *config.Config, key string, up bool) (string, config.ScriptUser, []string) {
	for _, s := range cfg.Services {
		for _, r := range s.RealServers {
			if TargetKey(s, r) != key {
				continue
			}
			script, user, state := r.NotifyDown, r.NotifyDownUser, "DOWN"
			if up {
				script, user, state = r.NotifyUp, r.NotifyUpUser, "UP"
			}
			return script, user, []string{
				"XLB_SERVICE=" + serviceKey(s).String(),
				"XLB_REAL_SERVER=" + netip.AddrPortFrom(r.Address, r.Port).String(),
				"XLB_STATE=" + state,
			}
		}
	}
	return "", config.ScriptUser{}, nil
}

// run starts script with /bin/sh -c, verbatim as keepalived runs it, as
// cred (config.ScriptCred: notify scripts have no user of their own).
func (n *notifier) run(script string, env []string, cred runas.Cred) {
	if strings.TrimSpace(script) == "" {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, notifyTimeout)
		defer cancel()
		if out, err := runShell(ctx, script, env, cred); err != nil {
			n.log.Warn("notify script failed", "script", script, "env", env, "user", cred.String(), "err", err, "output", strings.TrimSpace(string(out)))
		}
	}()
}

// close kills the scripts still running and waits for them.
func (n *notifier) close() {
	n.cancel()
	n.wg.Wait()
}

// runShell runs script with /bin/sh -c as cred in its own process group,
// which is killed whole when ctx ends (a script's children cannot outlive
// it).
func runShell(ctx context.Context, script string, env []string, cred runas.Cred) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cred.Apply(cmd, script); err != nil {
		return nil, err
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}
