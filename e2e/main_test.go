// Package e2e runs the real `xlb` binary in the netns lab (client,
// director, nginx real servers on a bridge) and checks what users rely on.
package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/lab"
)

// xlbBin is built once by TestMain.
type env struct{ bin string }

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "xlb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "xlb")
	build := exec.Command("go", "build", "-o", bin, "github.com/xlb-project/xlb/cmd/xlb")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build xlb:", err)
		return 1
	}
	os.Setenv("XLB_E2E_BIN", bin)
	// Pins must survive the daemon's private mount namespace (ip netns
	// exec remounts /sys): a bpffs mounted here, in the host's namespace,
	// is inherited by every daemon the lab starts.
	if os.Geteuid() == 0 {
		if err := mountBPFFS(pinRoot); err != nil {
			fmt.Fprintln(os.Stderr, "bpffs for pins:", err)
			return 1
		}
	}
	code := m.Run()
	// Pins of daemons that did not stop cleanly (killed at a timeout):
	// only this process's, as other test binaries may share the bpffs.
	os.RemoveAll(filepath.Join(pinRoot, strconv.Itoa(os.Getpid())))
	return code
}

func xlbBin() string { return os.Getenv("XLB_E2E_BIN") }

// newLab makes a lab or skips when the machine cannot host one.
func newLab(t *testing.T, o lab.Options) *lab.Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the netns lab needs root (CI runs as root)")
	}
	if err := lab.CheckTools(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	if o.Log == nil {
		o.Log = testWriter{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := lab.New(ctx, o)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startXLB writes cfg and runs `xlb run` in director i; it waits until the
// VIP answers through it.
func startXLB(t *testing.T, l *lab.Lab, dir int, cfg string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, path := runXLB(t, l, dir, cfg, extra...)
	waitVIP(t, l)
	return cmd, path
}

// runXLB is startXLB without waiting for the VIP to answer (for tests in
// which it must not yet, or answers elsewhere than at an IPv4 VIP).
func runXLB(t *testing.T, l *lab.Lab, dir int, cfg string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	path := filepath.Join(l.Dir(), fmt.Sprintf("xlb-%d-%d.yaml", dir, time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{xlbBin(), "run", "--iface", "eth0", "--config", path, "--pin-dir", pinDir(l, dir)}, extra...)
	cmd, err := l.Start(l.Directors()[dir], argv...)
	if err != nil {
		t.Fatalf("start xlb: %v", err)
	}
	return cmd, path
}

func waitVIP(t *testing.T, l *lab.Lab) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "2")
		cancel()
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("VIP never answered through the director")
}

// get fetches path through the VIP and returns the body.
func get(t *testing.T, l *lab.Lab, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.Curl(ctx, "http://"+l.VIP().String()+path)
	if err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, out)
	}
	return strings.TrimSpace(out)
}

const rrConfig = `services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1}
      - {address: 192.168.101.4, port: 80, weight: 1}
`

// pinRoot is a bpffs shared by all labs of this test binary.
const pinRoot = "/run/xlb-e2e-bpffs"

func pinDir(l *lab.Lab, dir int) string {
	return filepath.Join(pinRoot, strconv.Itoa(os.Getpid()), l.Prefix(), fmt.Sprintf("dir%d", dir+1))
}

func mountBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return unix.Mount("bpf", dir, "bpf", 0, "mode=0700")
}

// download is a long fetch of /big through the VIP from the client (the
// lab's nginx rate-limits it, so it lasts seconds), run in the background.
type download struct {
	done chan error
	file string
	want [32]byte
}

func startDownload(t *testing.T, l *lab.Lab, name string) *download {
	t.Helper()
	return startDownloadFrom(t, l, name, "http://"+l.VIP().String()+"/big")
}

// startDownloadFrom is startDownload from url (the lab's big file through
// another VIP, an IPv6 one: http://[VIP]/big).
func startDownloadFrom(t *testing.T, l *lab.Lab, name, url string) *download {
	t.Helper()
	d := &download{done: make(chan error, 1), file: filepath.Join(l.Dir(), name), want: sha(t, filepath.Join(l.Dir(), "big"))}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := l.Exec(ctx, l.Client(), "curl", "-sS", "-g", "--fail", "--max-time", "50", "-o", d.file, url)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		d.done <- err
	}()
	return d
}

// wait returns nil once the whole file arrived, byte for byte.
func (d *download) wait() error {
	if err := <-d.done; err != nil {
		return err
	}
	b, err := os.ReadFile(d.file)
	if err != nil {
		return err
	}
	if sha256.Sum256(b) != d.want {
		return fmt.Errorf("download corrupted (%d bytes)", len(b))
	}
	return nil
}

// fileWords is what notify scripts appended to file, word by word.
func fileWords(file string) []string {
	b, _ := os.ReadFile(file)
	return strings.Fields(string(b))
}

// waitFileWords waits until file holds exactly the words want (notify
// scripts run in the background, so their lines come a little later).
func waitFileWords(t *testing.T, file string, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !slices.Equal(fileWords(file), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", filepath.Base(file), fileWords(file), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
