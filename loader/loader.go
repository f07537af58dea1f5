// Package loader loads the committed XDP objects (nothing is compiled at
// run time), sizes and pins their maps, attaches the program to an
// interface and detaches it again. Everything above it talks to the maps
// through package maps.
package loader

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/xlb-project/xlb/bpf"
	"github.com/xlb-project/xlb/maps"
	"golang.org/x/sys/unix"
)

// Mode is the XDP attach mode.
type Mode string

const (
	Native  Mode = "native"  // in the driver: fast, needs driver support (veth has it)
	Generic Mode = "generic" // in the stack (skb): works everywhere, slower
	Auto    Mode = "auto"    // native, falling back to generic
)

// ParseMode checks a --xdp-mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Native, Generic, Auto:
		return m, nil
	}
	return "", fmt.Errorf("unknown xdp mode %q (want native, generic or auto)", s)
}

// DefaultPinRoot is where pinned state lives, one directory per interface.
const DefaultPinRoot = "/sys/fs/bpf/xlb"

// DefaultPinDir is the pin directory of iface: DefaultPinRoot/IFACE in the
// initial network namespace, DefaultPinRoot/netns/NAME/IFACE in another
// (nsDir "netns/NAME"), since a bpffs seen from several namespaces (nsenter
// --net keeps the host's) would otherwise give two directors on "eth0" one
// directory.
func DefaultPinDir(nsDir, iface string) string {
	return filepath.Join(DefaultPinRoot, nsDir, iface)
}

// Options say how to load the datapath.
type Options struct {
	// PinDir pins every map (and the XDP link on Attach) there, so a
	// restarted daemon adopts the running datapath. Empty: nothing pinned.
	PinDir string
	// ConnTableSize sizes the connection tables (flows at the nominal
	// fill, see maps.FlowBuckets) and PersistTableSize the client
	// templates; 0 keeps the object's defaults.
	ConnTableSize    int
	PersistTableSize int
	// DirectorMAC is written as the source MAC of forwarded frames.
	DirectorMAC net.HardwareAddr
	// HashSeed seeds the sh/mh hash; directors sharing flows share it.
	HashSeed uint32
	// FragmentTimeout is how long a first fragment's ports are kept for
	// the later fragments of its datagram, in whole seconds; 0: 30 s,
	// Linux's ipfrag_time, after which a real server gives up on it.
	FragmentTimeout time.Duration
}

// Datapath is a loaded (and maybe attached) xlb program with its maps.
type Datapath struct {
	objs    bpf.XlbObjects
	Maps    *maps.Maps
	link    link.Link
	pinDir  string
	ifindex int
	mode    Mode
	adopted bool
	// clockErr says why the datapath reads the time with a helper call
	// instead of jiffies (nil: calibrated).
	clockErr error
}

// ClockCalibration reports why the datapath could not be given its
// jiffies clock (it then calls bpf_ktime_get_coarse_ns: correct, slower).
func (d *Datapath) ClockCalibration() error { return d.clockErr }

// Load loads the program and its maps, reusing pinned maps when PinDir
// holds some of a compatible layout.
func Load(o Options) (*Datapath, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("xlb needs root (CAP_BPF and CAP_NET_ADMIN) to load its XDP program")
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise memlock limit: %w", err)
	}
	spec, err := bpf.LoadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded bpf object: %w", err)
	}
	// IPv6 tables get a quarter of the IPv4 sizes: their entries are
	// larger and most services are IPv4.
	if o.ConnTableSize > 0 {
		spec.Maps[bpf.XlbMapFlows4].MaxEntries = maps.FlowBuckets(o.ConnTableSize)
		spec.Maps[bpf.XlbMapConns6].MaxEntries = uint32(max(o.ConnTableSize/4, 1024))
	}
	seed, fresh, err := flowSeed(o.PinDir)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{
		bpf.XlbVarFlowBuckets4: spec.Maps[bpf.XlbMapFlows4].MaxEntries,
		bpf.XlbVarFlowSeed:     seed,
		bpf.XlbVarFlowFence:    flowFence(),
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	if o.PersistTableSize > 0 {
		spec.Maps[bpf.XlbMapPersist4].MaxEntries = uint32(o.PersistTableSize)
		spec.Maps[bpf.XlbMapPersist6].MaxEntries = uint32(max(o.PersistTableSize/4, 1024))
	}
	if len(o.DirectorMAC) == 6 {
		var mac [6]uint8
		copy(mac[:], o.DirectorMAC)
		if err := spec.Variables[bpf.XlbVarDirectorMac].Set(mac); err != nil {
			return nil, fmt.Errorf("set director mac: %w", err)
		}
	}
	if err := spec.Variables[bpf.XlbVarHashSeed].Set(o.HashSeed); err != nil {
		return nil, fmt.Errorf("set hash seed: %w", err)
	}
	if o.FragmentTimeout != 0 {
		if o.FragmentTimeout < time.Second || o.FragmentTimeout%time.Second != 0 {
			return nil, fmt.Errorf("fragment timeout %v: want whole seconds", o.FragmentTimeout)
		}
		if err := spec.Variables[bpf.XlbVarFragTrackSec].Set(uint32(o.FragmentTimeout / time.Second)); err != nil {
			return nil, fmt.Errorf("set fragment timeout: %w", err)
		}
	}

	opts := &ebpf.CollectionOptions{}
	d := &Datapath{pinDir: o.PinDir}
	if o.PinDir != "" {
		if err := ensureBPFFS(o.PinDir); err != nil {
			return nil, err
		}
		if entries, _ := os.ReadDir(o.PinDir); len(entries) > 0 {
			d.adopted = true
		}
		for _, m := range spec.Maps {
			// .rodata and friends are per-program constants, not state.
			if !strings.HasPrefix(m.Name, ".") {
				m.Pinning = ebpf.PinByName
			}
		}
		opts.Maps.PinPath = o.PinDir
	}
	if err := spec.LoadAndAssign(&d.objs, opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The whole log: a truncated verifier error is useless.
			return nil, fmt.Errorf("kernel verifier rejected the xdp program:\n%+v", ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("pinned maps in %s do not match this xlb (other layout or table size; `xlb run --cleanup` removes them): %w", o.PinDir, err)
		}
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	m, err := maps.New(&d.objs.XlbMaps, d.objs.XlbConnsCtl)
	if err != nil {
		d.objs.Close()
		return nil, err
	}
	d.Maps = m
	if fresh {
		if err := m.Settings.SetFlowSeed(seed); err != nil {
			d.Close(false)
			return nil, err
		}
	}
	d.clockErr = calibrateClock(d.objs.ClockMap)
	return d, nil
}

// flowFence tells the datapath whether its connection-table readers must
// fence: x86 keeps loads in order, other CPUs may not.
func flowFence() uint8 {
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "386" {
		return 0
	}
	return 1
}

// flowSeed is the connection table's hash seed: the one a pinned table
// was filled with, else a new random one (fresh reports which).
func flowSeed(pinDir string) (seed uint32, fresh bool, err error) {
	if pinDir != "" {
		if m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, bpf.XlbMapSettingsMap), nil); err == nil {
			var v bpf.XlbSettings
			lerr := m.Lookup(uint32(0), &v)
			m.Close()
			if lerr == nil && v.FlowSeed != 0 {
				return v.FlowSeed, false, nil
			}
		}
	}
	var b [4]byte
	for seed == 0 {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, false, fmt.Errorf("hash seed: %w", err)
		}
		seed = binary.NativeEndian.Uint32(b[:])
	}
	return seed, true, nil
}

// Adopted reports whether Load found pinned maps of an earlier run.
func (d *Datapath) Adopted() bool { return d.adopted }

// Attach attaches the program to iface. With pinning, a link left pinned
// by an earlier run is updated in place to the new program, so packets
// never see a moment without one (hitless restart and upgrade).
func (d *Datapath) Attach(iface string, mode Mode) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", iface, err)
	}
	linkPin := ""
	if d.pinDir != "" {
		linkPin = filepath.Join(d.pinDir, "link")
		if l, err := link.LoadPinnedLink(linkPin, nil); err == nil {
			info, ierr := l.Info()
			if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifc.Index {
				if err := l.Update(d.objs.XlbMain); err != nil {
					l.Close()
					return fmt.Errorf("replace program on pinned link: %w", err)
				}
				d.link, d.ifindex, d.mode = l, ifc.Index, mode
				return nil
			}
			// A pin for another interface index (recreated interface):
			// start afresh.
			l.Unpin()
			l.Close()
		}
	}
	try := []Mode{mode}
	if mode == Auto {
		try = []Mode{Native, Generic}
	}
	var errs []error
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == Generic {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: d.objs.XlbMain, Interface: ifc.Index, Flags: flags})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
			continue
		}
		if linkPin != "" {
			if err := l.Pin(linkPin); err != nil {
				l.Close()
				return fmt.Errorf("pin xdp link: %w", err)
			}
		}
		d.link, d.ifindex, d.mode = l, ifc.Index, m
		return nil
	}
	return fmt.Errorf("attach xdp to %s: %w", iface, errors.Join(errs...))
}

// AttachedMode is the mode the program runs in (after Auto's choice).
func (d *Datapath) AttachedMode() Mode { return d.mode }

// Close releases the program. With detach, the program leaves the
// interface and every pin is removed (a clean stop). Without, pinned state
// stays and the datapath keeps forwarding until the next run adopts it.
func (d *Datapath) Close(detach bool) error {
	var errs []error
	if d.link != nil {
		if detach {
			if d.pinDir != "" {
				if err := d.link.Unpin(); err != nil {
					errs = append(errs, fmt.Errorf("unpin link: %w", err))
				}
			}
		}
		if err := d.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link: %w", err))
		}
	}
	if detach && d.pinDir != "" {
		if err := Cleanup(d.pinDir); err != nil {
			errs = append(errs, err)
		}
	}
	if d.Maps != nil {
		if err := d.Maps.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.objs.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Cleanup removes a pin directory: the link (detaching the program) and
// the maps. It is what `xlb run --cleanup` does.
func Cleanup(pinDir string) error {
	if l, err := link.LoadPinnedLink(filepath.Join(pinDir, "link"), nil); err == nil {
		l.Unpin()
		l.Close()
	}
	if err := os.RemoveAll(pinDir); err != nil {
		return fmt.Errorf("remove pins: %w", err)
	}
	// The default directory's parents under DefaultPinRoot (netns/NAME)
	// go too once empty; os.Remove leaves a directory that is not.
	root := filepath.Clean(DefaultPinRoot)
	for d := filepath.Dir(filepath.Clean(pinDir)); strings.HasPrefix(d, root+"/"); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// Run runs the program once on frame through BPF_PROG_TEST_RUN and returns
// the XDP action and the frame as the program left it.
func (d *Datapath) Run(frame []byte) (uint32, []byte, error) {
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
	ret, err := d.objs.XlbMain.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("test run: %w", err)
	}
	return ret, opts.DataOut, nil // resized to what the program left
}

// Bench runs the program repeat times on frame and returns ns per run as
// the kernel measured it.
func (d *Datapath) Bench(frame []byte, repeat uint32) (float64, error) {
	_, dur, err := d.objs.XlbMain.Benchmark(frame, int(repeat), nil)
	if err != nil {
		return 0, fmt.Errorf("benchmark: %w", err)
	}
	return float64(dur.Nanoseconds()), nil
}

// ensureBPFFS makes sure dir can hold pins: it must be on a bpf
// filesystem. /sys/fs/bpf is mounted when missing (most systems have it);
// any other root must already be a bpffs mount.
//
// Note: `ip netns exec` remounts /sys in a private mount namespace, which
// hides the host's /sys/fs/bpf; a bpffs mounted there lives only as long as
// that process. Daemons run that way need --pin-dir on a bpffs mounted in
// the host's mount namespace (the lab does this).
func ensureBPFFS(dir string) error {
	root := "/sys/fs/bpf"
	if !strings.HasPrefix(filepath.Clean(dir)+"/", root+"/") {
		root = existingAncestor(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		if root != "/sys/fs/bpf" {
			return fmt.Errorf("pin directory %s is not on a bpf filesystem (mount -t bpf bpf DIR)", dir)
		}
		if err := unix.Mount("bpf", root, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", root, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

func existingAncestor(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == "/" {
			return d
		}
	}
}
