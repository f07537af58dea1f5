package lab

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// defaultConfig is only read; go:embed needs a variable.
//
//go:embed default.yaml
var defaultConfig string

// DefaultConfig is the xlb daemon configuration Demo runs: the seed's
// service (VIP:80/tcp, round robin over rs1 and rs2 in DR mode).
func DefaultConfig() string { return defaultConfig }

// demoWaitTimeout bounds how long Demo waits for the VIP to answer.
const demoWaitTimeout = 30 * time.Second

// Demo shows xlb at work: it builds a lab, starts `xlbBinary run --iface
// eth0 --config FILE` in dir1 with DefaultConfig, waits until the VIP
// answers, and does 10 sequential requests from the client, printing which
// real server answered (alternating rs1/rs2 under rr). Unless keep is set it
// then tears everything down; with keep it waits for ctx to end (Ctrl-C)
// first, so the lab can be explored with `ip netns exec`.
func Demo(ctx context.Context, xlbBinary string, out io.Writer, keep bool) (err error) {
	if out == nil {
		out = io.Discard
	}
	bin, err := exec.LookPath(xlbBinary)
	if err != nil {
		return fmt.Errorf("xlb binary: %w", err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return fmt.Errorf("xlb binary: %w", err)
	}
	l, err := New(ctx, Options{Log: out})
	if err != nil {
		return err
	}
	defer func() {
		l.log.printf("tearing the lab down")
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	conf := filepath.Join(l.Dir(), "xlb.yaml")
	if err := os.WriteFile(conf, []byte(defaultConfig), 0o644); err != nil {
		return fmt.Errorf("write xlb config: %w", err)
	}
	dir := l.Directors()[0]
	// Everything goes through the lab's logger: xlb's output is written to
	// out concurrently by the lab.
	l.log.printf("starting %s run --iface eth0 --config %s in %s", bin, conf, dir.NS)
	cmd, err := l.Start(dir, bin, "run", "--iface", "eth0", "--config", conf)
	if err != nil {
		return err
	}
	url := "http://" + l.VIP().String() + "/"
	if err := waitVIP(ctx, l, cmd, url); err != nil {
		return err
	}
	for i := 1; i <= 10; i++ {
		body, err := l.Curl(ctx, url, "--max-time", "5")
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		l.log.printf("request %2d -> %s", i, strings.TrimSpace(body))
	}
	if keep {
		l.log.printf("lab kept: namespaces %s{br,client,dir1,rs1,rs2}; try\n"+
			"  ip netns exec %s curl -s %s\npress Ctrl-C to tear it down",
			l.Prefix(), l.Client().NS, url)
		select {
		case <-ctx.Done():
		case <-l.Exited(cmd):
			return errors.New("xlb exited while the lab was kept")
		}
	}
	return nil
}

// waitVIP polls the VIP from the client until it answers, xlb exits, ctx
// ends, or demoWaitTimeout passes.
func waitVIP(ctx context.Context, l *Lab, cmd *exec.Cmd, url string) error {
	deadline := time.Now().Add(demoWaitTimeout)
	var last error
	for attempt := 0; attempt < 100 && time.Now().Before(deadline); attempt++ {
		select {
		case <-l.Exited(cmd):
			return fmt.Errorf("xlb exited before the VIP answered: %v", l.Wait(ctx, cmd))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		_, err := l.Curl(ctx, url, "--max-time", "1")
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("VIP %s did not answer within %v: %w", url, demoWaitTimeout, last)
}
