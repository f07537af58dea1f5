package director

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// The VRRP handoff of a restart in place is read by one run only: taking
// it removes the file, a missing file is no handoff, a restart with no
// master removes an older file, and a damaged one is an error (the
// instances then start as backup) that removes it too.
func TestHandoffFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "eth0.vrrp-handoff")
	want := handoff{Masters: []handoffMaster{{
		Name: "VI_1", Interface: "eth0", VRID: 51,
		LastAdv: time.Date(2026, 12, 2, 5, 0, 0, 123456789, time.UTC),
		Addrs:   []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
	}}}
	if err := writeHandoff(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := takeHandoff(path)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("takeHandoff = %+v, %v; want %+v", got, err, want)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the handoff is still there after it was taken: %v", err)
	}
	if got, err := takeHandoff(path); err != nil || len(got.Masters) != 0 {
		t.Fatalf("second take = %+v, %v; want nothing", got, err)
	}

	if err := writeHandoff(path, want); err != nil {
		t.Fatal(err)
	}
	if err := writeHandoff(path, handoff{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a restart with no master left the older handoff: %v", err)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := takeHandoff(path); err == nil || len(got.Masters) != 0 {
		t.Fatalf("damaged handoff = %+v, %v; want an error and nothing", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a damaged handoff stayed: %v", err)
	}
}

// Only the same virtual router resumes: an instance renumbered or moved
// to another interface by the new configuration has peers that never
// heard that master. Each entry is used once.
func TestResumeOfSameVirtualRouterOnly(t *testing.T) {
	left := handoffMaster{Name: "VI_1", Interface: "eth0", VRID: 51}
	for _, c := range []struct {
		name string
		v    config.VRRPInstance
		ok   bool
	}{
		{"same", config.VRRPInstance{Name: "VI_1", Interface: "eth0", VirtualRouterID: 51}, true},
		{"other vrid", config.VRRPInstance{Name: "VI_1", Interface: "eth0", VirtualRouterID: 52}, false},
		{"other interface", config.VRRPInstance{Name: "VI_1", Interface: "eth1", VirtualRouterID: 51}, false},
		{"other name", config.VRRPInstance{Name: "VI_2", Interface: "eth0", VirtualRouterID: 51}, false},
	} {
		s := &vrrpSet{resume: map[string]handoffMaster{"VI_1": left}}
		if _, ok := s.resumeOf(c.v); ok != c.ok {
			t.Errorf("%s: resumes %v, want %v", c.name, ok, c.ok)
		}
		if _, ok := s.resumeOf(c.v); ok {
			t.Errorf("%s: resumed twice", c.name)
		}
	}
}
