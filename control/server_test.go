package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

const labYAML = `
timeouts: {tcp: 900, tcp_fin: 120, udp: 300}
services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: wlc
    persistence_timeout: 50
    real_servers:
      - address: 192.168.101.3
        port: 80
        weight: 3
`

func labConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.ParseYAML("lab.yaml", []byte(labYAML))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeSource stands in for a director: it validates and keeps what it is
// given, as Director.ApplyConfig does.
type fakeSource struct {
	mu        sync.Mutex
	cfg       *config.Config
	reloadErr error
	reloads   int
	zeroed    []ZeroParams
}

func (f *fakeSource) Snapshot(context.Context) (*Snapshot, error) { return testSnapshot(), nil }

func (f *fakeSource) Conns(_ context.Context, limit int) (ConnsResult, error) {
	all := []Conn{
		{Protocol: "tcp", ExpireSeconds: 10, State: "ESTABLISHED", Source: ap("10.0.0.5:1000"), Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")},
		{Protocol: "tcp", ExpireSeconds: 20, State: "FIN_WAIT", Source: ap("10.0.0.5:1001"), Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")},
	}
	if limit > 0 && len(all) > limit {
		return ConnsResult{Conns: all[:limit], Truncated: true}, nil
	}
	return ConnsResult{Conns: all}, nil
}

func (f *fakeSource) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

func (f *fakeSource) ApplyConfig(_ context.Context, cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration rejected, keeping the running one: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	return nil
}

func (f *fakeSource) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

// Zero knows the lab's one service, as Director.Zero knows the running ones.
func (f *fakeSource) Zero(_ context.Context, p ZeroParams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !p.All() && p.String() != "tcp/192.168.101.100:80" {
		return fmt.Errorf("no such service %s", p)
	}
	f.zeroed = append(f.zeroed, p)
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer serves src on a socket in a fresh directory and returns a
// client for it.
func startServer(t *testing.T, src Source) (*Server, *Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "eth1.sock")
	srv, err := Listen(path, src, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket not removed on stop: %v", err)
		}
	})
	return srv, &Client{Path: path, Timeout: 10 * time.Second}
}

func requireRoot(t *testing.T) {
	t.Helper()
	// SO_PEERCRED refuses every uid but 0, so the server tests must run as
	// root to be served at all.
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestServerRequests(t *testing.T) {
	requireRoot(t)
	src := &fakeSource{cfg: labConfig(t)}
	srv, cl := startServer(t, src)
	ctx := context.Background()

	fi, err := os.Stat(srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Errorf("socket owned by uid %d, want root", st.Uid)
	}

	snap, err := cl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := testSnapshot()
	gotJ, _ := json.Marshal(snap)
	wantJ, _ := json.Marshal(want)
	if string(gotJ) != string(wantJ) {
		t.Errorf("snapshot round trip:\n got %s\nwant %s", gotJ, wantJ)
	}

	conns, err := cl.Conns(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns.Conns) != 1 || !conns.Truncated || conns.Conns[0].Source != ap("10.0.0.5:1000") {
		t.Errorf("conns limit 1: %+v", conns)
	}

	y, err := cl.ConfigYAML(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(y, "# running xlb configuration, read from lab.yaml\n") {
		t.Errorf("config dump header:\n%s", y)
	}
	back, err := config.ParseYAML("dump", []byte(y))
	if err != nil {
		t.Fatalf("config dump does not parse back: %v\n%s", err, y)
	}
	if len(back.Services) != 1 || back.Services[0].RealServers[0].Weight != 3 {
		t.Errorf("config dump lost data:\n%s", y)
	}

	if err := cl.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	src.reloadErr = errors.New("reload rejected, keeping the running configuration: lab.yaml:3: services[0].port: must be 1..65535")
	err = cl.Reload(ctx)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "services[0].port: must be 1..65535") {
		t.Errorf("reload error not passed through: %v", err)
	}
	if src.reloads != 2 {
		t.Errorf("reloads = %d, want 2", src.reloads)
	}

	if err := cl.Zero(ctx, ZeroParams{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Zero(ctx, ZeroParams{Protocol: "tcp", Service: ap("192.168.101.100:80")}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Zero(ctx, ZeroParams{Protocol: "udp", Service: ap("192.168.101.100:80")}); !errors.As(err, &re) || re.Msg != "no such service udp/192.168.101.100:80" {
		t.Errorf("zero of an unknown service: %v", err)
	}
	if want := []ZeroParams{{}, {Protocol: "tcp", Service: ap("192.168.101.100:80")}}; !slices.Equal(src.zeroed, want) {
		t.Errorf("zeroed %v, want %v", src.zeroed, want)
	}

	if err := cl.Call(ctx, "frobnicate", nil, nil); err == nil || !strings.Contains(err.Error(), `unknown method "frobnicate"`) {
		t.Errorf("unknown method: %v", err)
	}
	if err := cl.Call(ctx, MethodConns, map[string]any{"limitt": 3}, nil); err == nil || !strings.Contains(err.Error(), "bad params") {
		t.Errorf("misspelt param accepted: %v", err)
	}
}

func TestServerEdits(t *testing.T) {
	requireRoot(t)
	orig := labConfig(t)
	src := &fakeSource{cfg: orig}
	_, cl := startServer(t, src)
	ctx := context.Background()
	w5, p0 := 5, 0

	steps := []Edit{
		{Op: ServiceAdd, Protocol: config.UDP, Service: ap("192.168.101.100:53"), Scheduler: config.RR},
		{Op: RealAdd, Protocol: config.UDP, Service: ap("192.168.101.100:53"), Real: netip.AddrPortFrom(netip.MustParseAddr("192.168.101.4"), 0)},
		{Op: RealEdit, Protocol: config.TCP, Service: ap("192.168.101.100:80"), Real: ap("192.168.101.3:80"), Weight: &w5},
		{Op: ServiceEdit, Protocol: config.TCP, Service: ap("192.168.101.100:80"), Persistence: &p0},
		{Op: TimeoutsSet, Timeouts: TimeoutsSecs{TCP: 600, UDP: 30}},
	}
	for _, e := range steps {
		if err := cl.Edit(ctx, e); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
	}
	cfg := src.Config()
	// Validation problems of later edits must not be blamed on the file.
	if cfg.Source != "lab.yaml (edited at runtime)" {
		t.Errorf("source after edits: %q", cfg.Source)
	}
	if len(cfg.Services) != 2 {
		t.Fatalf("services: %+v", cfg.Services)
	}
	udp := cfg.Services[1]
	if udp.Protocol != config.UDP || udp.Scheduler != config.RR || len(udp.RealServers) != 1 ||
		udp.RealServers[0].Port != 53 || udp.RealServers[0].Weight != 1 {
		t.Errorf("added udp service: %+v", udp)
	}
	tcp := cfg.Services[0]
	if tcp.RealServers[0].Weight != 5 || tcp.PersistenceTimeout != 0 || tcp.Scheduler != config.WLC {
		t.Errorf("edited tcp service: %+v", tcp)
	}
	if cfg.Timeouts.TCP != 600*time.Second || cfg.Timeouts.TCPFin != 120*time.Second || cfg.Timeouts.UDP != 30*time.Second {
		t.Errorf("timeouts: %+v", cfg.Timeouts)
	}
	// The configuration the director ran before must not have changed
	// under it: it diffs against it.
	if orig.Services[0].RealServers[0].Weight != 3 || len(orig.Services) != 1 || orig.Timeouts.TCP != 900*time.Second {
		t.Errorf("edit modified the running configuration in place: %+v", orig)
	}

	// Rejected edits leave the running configuration alone.
	bad := []struct {
		e    Edit
		want string
	}{
		{Edit{Op: ServiceAdd, Protocol: config.TCP, Service: ap("192.168.101.100:80")}, "already exists"},
		{Edit{Op: ServiceDel, Protocol: config.TCP, Service: ap("192.168.101.100:81")}, "no such service tcp/192.168.101.100:81"},
		{Edit{Op: RealDel, Protocol: config.TCP, Service: ap("192.168.101.100:80"), Real: ap("192.168.101.9:80")}, "no such real server"},
		{Edit{Op: ServiceEdit, Protocol: config.TCP, Service: ap("192.168.101.100:80"), Scheduler: "lblc"}, `unknown scheduler "lblc"`},
		{Edit{Op: RealAdd, Protocol: config.TCP, Service: ap("192.168.101.100:80"), Real: ap("192.168.101.9:8080")}, "differs from the service port"},
	}
	before := src.Config()
	for _, b := range bad {
		err := cl.Edit(ctx, b.e)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want error containing %q", b.e, err, b.want)
		}
	}
	if src.Config() != before {
		t.Error("a rejected edit replaced the running configuration")
	}

	if err := cl.Edit(ctx, Edit{Op: ServiceDel, Protocol: config.UDP, Service: ap("192.168.101.100:53")}); err != nil {
		t.Fatal(err)
	}
	if n := len(src.Config().Services); n != 1 {
		t.Errorf("after delete: %d services", n)
	}
}

func TestListenRefusesLiveSocketReplacesStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.sock")
	// Stale: a socket file nobody listens on (a crashed daemon's).
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	srv, err := Listen(path, &fakeSource{}, quietLog())
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer srv.Close()
	// Live: a second daemon on the same interface must not steal it.
	if _, err := Listen(path, &fakeSource{}, quietLog()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listener: %v", err)
	}
}

// The re-exec'd client: TestMain runs it instead of the tests when the
// environment says so, so it can run under another uid.
const clientEnv = "XLB_CONTROL_TEST_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(clientEnv); path != "" {
		_, err := (&Client{Path: path, Timeout: 5 * time.Second}).Snapshot(context.Background())
		switch {
		case err == nil:
			fmt.Println("SERVED")
		case errors.Is(err, os.ErrPermission):
			fmt.Println("DENIED:", err)
		default:
			fmt.Println("ERROR:", err)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestNonRootRefused(t *testing.T) {
	requireRoot(t)
	src := &fakeSource{cfg: labConfig(t)}
	srv, _ := startServer(t, src)

	// The test binary sits in a 0700 build directory; copy it where
	// nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "client.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sockDir := filepath.Dir(srv.Path())
	for d := sockDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	runAs := func(uid uint32) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), clientEnv+"="+srv.Path())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: true}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	// Root through the same binary is served: the harness works.
	if out := runAs(0); out != "SERVED" {
		t.Fatalf("root client: %s", out)
	}
	// The socket's mode stops nobody at connect ...
	if out := runAs(65534); !strings.HasPrefix(out, "DENIED:") || !strings.Contains(out, "permission denied") {
		t.Errorf("uid 65534 with a 0600 socket: %s", out)
	}
	// ... and with the mode opened by mistake, the peer check still does.
	if err := os.Chmod(srv.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	out := runAs(65534)
	if !strings.HasPrefix(out, "DENIED:") || !strings.Contains(out, "root only (peer uid 65534)") {
		t.Errorf("uid 65534 with a 0666 socket: %s", out)
	}
}
