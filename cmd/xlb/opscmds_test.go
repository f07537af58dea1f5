package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/control"
)

// cliSource is a director stand-in behind the control socket.
type cliSource struct {
	mu     sync.Mutex
	cfg    *config.Config
	zeroed []control.ZeroParams
}

func (f *cliSource) Snapshot(context.Context) (*control.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &control.Snapshot{Version: "test", ConnCapacity: 4096, Timeouts: control.TimeoutsSecs{
		TCP: int(f.cfg.Timeouts.TCP / time.Second), TCPFin: int(f.cfg.Timeouts.TCPFin / time.Second), UDP: int(f.cfg.Timeouts.UDP / time.Second),
	}}
	for _, cs := range f.cfg.Services {
		svc := control.Service{Key: string(cs.Protocol) + "/" + netip.AddrPortFrom(cs.VIP, cs.Port).String(),
			Protocol: string(cs.Protocol), VIP: cs.VIP, Port: cs.Port, Scheduler: string(cs.Scheduler),
			PersistenceSeconds: int(cs.PersistenceTimeout / time.Second), PersistencePrefix: cs.PersistenceGranularity,
			OPS: cs.OPS, HashPort: cs.HashPort, Forward: "Route"}
		for _, r := range cs.RealServers {
			svc.RealServers = append(svc.RealServers, control.RealServer{
				Addr: netip.AddrPortFrom(r.Address, r.Port), Weight: r.Weight, Available: true, Configured: true})
		}
		s.Services = append(s.Services, svc)
	}
	return s, nil
}

func (f *cliSource) Conns(context.Context, int) (control.ConnsResult, error) {
	return control.ConnsResult{}, nil
}

func (f *cliSource) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

func (f *cliSource) ApplyConfig(_ context.Context, cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	return nil
}

func (f *cliSource) Reload(context.Context) error { return nil }

// Zero knows the services of the configuration, as Director.Zero knows
// the running ones.
func (f *cliSource) Zero(_ context.Context, p control.ZeroParams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	known := p.All()
	for _, s := range f.cfg.Services {
		known = known || (string(s.Protocol) == p.Protocol && netip.AddrPortFrom(s.VIP, s.Port) == p.Service)
	}
	if !known {
		return fmt.Errorf("no such service %s", p)
	}
	f.zeroed = append(f.zeroed, p)
	return nil
}

func startCLIServer(t *testing.T) string {
	t.Helper()
	path, _ := startCLISource(t)
	return path
}

func startCLISource(t *testing.T) (string, *cliSource) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the control socket serves root only")
	}
	cfg, err := config.ParseYAML("t.yaml", []byte("services: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.sock")
	src := &cliSource{cfg: cfg}
	srv, err := control.Listen(path, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return path, src
}

func xlb(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestRuntimeEditsThroughCLI(t *testing.T) {
	sock := startCLIServer(t)
	steps := [][]string{
		// ipvsadm users write "-p 50", which pflag alone would not take
		// as the optional flag's value.
		{"service", "add", "-t", "192.168.101.100:80", "-s", "rr", "-p", "50", "-M", "255.255.255.0"},
		{"real", "add", "-t", "192.168.101.100:80", "-r", "192.168.101.3", "-w", "3"},
		{"real", "add", "-t", "192.168.101.100:80", "-r", "192.168.101.4:80"},
		{"service", "add", "-u", "192.168.101.100:53", "-p", "-o"}, // -p alone: 300
		{"service", "add", "-u", "192.168.101.100:5353", "-s", "sh", "-b", "sh-fallback,sh-port"},
		{"real", "add", "-u", "192.168.101.100:53", "-r", "192.168.101.3"},
		{"real", "edit", "-t", "192.168.101.100:80", "-r", "192.168.101.4", "-w", "0"},
		{"timeouts", "set", "600", "0", "30"},
	}
	for _, s := range steps {
		if out, err := xlb(t, append(s, "--socket", sock)...); err != nil {
			t.Fatalf("xlb %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	out, err := xlb(t, "list", "--socket", sock)
	if err != nil {
		t.Fatal(err)
	}
	want := `xlb test (conn table size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.101.100:80 rr persistent 50 mask 255.255.255.0
  -> 192.168.101.3:80             Route   3      0          0         
  -> 192.168.101.4:80             Route   0      0          0         
UDP  192.168.101.100:53 wlc persistent 300 ops
  -> 192.168.101.3:53             Route   1      0          0         
UDP  192.168.101.100:5353 sh sh-port
`
	if out != want {
		t.Errorf("list:\n%s\nwant:\n%s", out, want)
	}
	if out, _ := xlb(t, "timeouts", "--socket", sock); out != "Timeout (tcp tcpfin udp): 600 120 30\n" {
		t.Errorf("timeouts: %q", out)
	}

	if _, err := xlb(t, "service", "edit", "-t", "192.168.101.100:80", "-p", "0", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	// ipvsadm -e … -x -y: connection limits, weight left as it was.
	if _, err := xlb(t, "real", "edit", "-t", "192.168.101.100:80", "-r", "192.168.101.3", "-x", "100", "-y", "60", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	if _, err := xlb(t, "real", "del", "-t", "192.168.101.100:80", "-r", "192.168.101.4", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"192.168.101.100:53", "192.168.101.100:5353"} {
		if _, err := xlb(t, "service", "del", "-u", svc, "--socket", sock); err != nil {
			t.Fatal(err)
		}
	}
	dump, err := xlb(t, "config", "dump", "--socket", sock)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseYAML("dump", []byte(dump))
	if err != nil {
		t.Fatalf("dump does not parse: %v\n%s", err, dump)
	}
	if len(cfg.Services) != 1 || cfg.Services[0].PersistenceTimeout != 0 || len(cfg.Services[0].RealServers) != 1 {
		t.Errorf("after edits and deletes:\n%s", dump)
	} else if r := cfg.Services[0].RealServers[0]; r.Weight != 3 || r.UThreshold != 100 || r.LThreshold != 60 {
		t.Errorf("after real edit -x 100 -y 60: weight %d, thresholds %d/%d, want 3, 100/60", r.Weight, r.UThreshold, r.LThreshold)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "add", "-t", "192.168.101.100"}, "want VIP:PORT"},
		{[]string{"service", "add", "-t", "192.168.101.100:80", "-u", "192.168.101.100:80"}, "not both"},
		{[]string{"service", "del", "-t", "192.168.101.100:80", "extra"}, `unexpected argument "extra"`},
		{[]string{"real", "add", "-t", "192.168.101.100:80"}, "-r RIP[:PORT] is required"},
		{[]string{"real", "add", "-t", "192.168.101.100:80", "-r", "192.168.101.3"}, "already exists"},
		{[]string{"real", "add", "-t", "192.168.101.100:80", "-r", "192.168.101.9", "-m"}, "-m (NAT, masquerading) is not supported"},
		{[]string{"timeouts", "set", "1", "x", "3"}, `timeout "x"`},
		{[]string{"service", "edit", "-t", "192.168.101.100:80", "-s", "lblc"}, `unknown scheduler "lblc"`},
		{[]string{"service", "edit", "-t", "192.168.101.100:80", "-o"}, "ops: only applies to udp"},
		{[]string{"service", "edit", "-t", "192.168.101.100:80", "-b", "sh-wide"}, "-b sh-wide: not a scheduler flag"},
		{[]string{"real", "edit", "-t", "192.168.101.100:80", "-r", "192.168.101.3", "-y", "200"}, "200 is above uthreshold 100"},
		{[]string{"service", "edit", "-t", "192.168.101.100:80", "-p", "50", "-M", "255.0.255.0"}, "not contiguous"},
	} {
		_, err := xlb(t, append(bad.args, "--socket", sock)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("xlb %s: got %v, want %q", strings.Join(bad.args, " "), err, bad.want)
		}
	}
}

// xlb zero takes ipvsadm -Z's arguments: none zeroes all services, -t or
// -u one of them, and one that does not run fails naming it.
// --persistent-conn lists in ipvsadm's layout.
func TestZeroAndPersistentConnThroughCLI(t *testing.T) {
	sock, src := startCLISource(t)
	if _, err := xlb(t, "service", "add", "-t", "192.168.101.100:80", "-p", "50", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	if _, err := xlb(t, "real", "add", "-t", "192.168.101.100:80", "-r", "192.168.101.3", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"zero"}, {"zero", "-t", "192.168.101.100:80"}} {
		if out, err := xlb(t, append(args, "--socket", sock)...); err != nil || out != "" {
			t.Fatalf("xlb %s: %v %q", strings.Join(args, " "), err, out)
		}
	}
	_, err := xlb(t, "zero", "-u", "192.168.101.100:80", "--socket", sock)
	if err == nil || err.Error() != "no such service udp/192.168.101.100:80" {
		t.Errorf("zero of a service that does not run: %v", err)
	}
	if _, err := xlb(t, "zero", "-t", "192.168.101.100", "--socket", sock); err == nil || !strings.Contains(err.Error(), "want VIP:PORT") {
		t.Errorf("zero -t without a port: %v", err)
	}
	want := []control.ZeroParams{{}, {Protocol: "tcp", Service: netip.MustParseAddrPort("192.168.101.100:80")}}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.zeroed) != len(want) || src.zeroed[0] != want[0] || src.zeroed[1] != want[1] {
		t.Errorf("zeroed %v, want %v", src.zeroed, want)
	}

	src.mu.Unlock()
	out, err := xlb(t, "list", "--persistent-conn", "--socket", sock)
	src.mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if want := `xlb test (conn table size=4096)
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  192.168.101.100:80 wlc persistent 50
  -> 192.168.101.3:80             1         0           0          0         
`; out != want {
		t.Errorf("list --persistent-conn:\n%s\nwant:\n%s", out, want)
	}
	if _, err := xlb(t, "list", "--persistent-conn", "--stats", "--socket", sock); err == nil || !strings.Contains(err.Error(), "give one of") {
		t.Errorf("--persistent-conn with --stats: %v", err)
	}
}
