package trackproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/config"
)

// PollInterval is how often /proc is scanned where the kernel's proc
// connector is not available (see Monitor).
const PollInterval = time.Second

// The proc connector's constants (linux/connector.h, linux/cn_proc.h);
// golang.org/x/sys/unix has only NETLINK_CONNECTOR.
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	sizeofCnMsg       = 20 // struct cn_msg without its data
	procEventFork     = 0x00000001
	procEventExec     = 0x00000002
	procEventComm     = 0x00000200
	procEventExit     = 0x80000000
	rcvBuf            = 1 << 20 // events come in bursts (a fork bomb, a build)
)

// Monitor counts processes for its trackers. Like keepalived it scans
// /proc once for each new tracker and then follows the kernel's proc
// connector (NETLINK_CONNECTOR, CN_IDX_PROC: fork, exec, comm and exit
// events, as they happen; root only), scanning /proc again if events
// were lost. Where the connector cannot be had (a network namespace
// other than the initial one, where the kernel refuses it; a kernel
// without CONFIG_PROC_EVENTS) it scans /proc every PollInterval instead,
// so a change is seen within that interval; keepalived has no track_process
// there at all.
type Monitor struct {
	log   *slog.Logger
	after AfterFunc
	proc  string // the /proc to read
	// noConnector makes it scan /proc as without the connector (tests).
	noConnector bool

	mu       sync.Mutex
	trackers map[*Tracker]bool
	running  bool
	polling  bool     // no connector: /proc scans
	sock     *os.File // the connector socket, nil while not running or polling
	stop     chan struct{}
	done     chan struct{}
}

// NewMonitor returns a monitor; it starts following processes with the
// first Track. after may be nil (real timers).
func NewMonitor(log *slog.Logger, after AfterFunc) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{log: log, after: after, proc: "/proc", trackers: map[*Tracker]bool{}}
}

// Polling says the monitor scans /proc because the connector is not
// available.
func (m *Monitor) Polling() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.polling
}

// Track starts counting the processes cfg describes for the
// vrrp_track_process name; the count is taken now, so the tracker's state
// is right before anyone subscribes.
func (m *Monitor) Track(name string, cfg config.VRRPTrackProcess) (*Tracker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		if err := m.startLocked(); err != nil {
			return nil, err
		}
	}
	t := newTracker(name, cfg, m.log, m.after)
	m.trackers[t] = true
	// After the connector listens, so no process falls between the scan
	// and the events.
	t.init(m.scanLocked([]*Tracker{t})[t])
	return t, nil
}

// Untrack stops counting for t; the last one stops the monitor (the next
// Track starts it again).
func (m *Monitor) Untrack(t *Tracker) {
	m.mu.Lock()
	delete(m.trackers, t)
	var done chan struct{}
	if len(m.trackers) == 0 {
		done = m.stopLocked()
	}
	m.mu.Unlock()
	t.close()
	if done != nil {
		<-done
	}
}

// Close stops following processes and every tracker.
func (m *Monitor) Close() {
	m.mu.Lock()
	done := m.stopLocked()
	ts := m.trackers
	m.trackers = map[*Tracker]bool{}
	m.mu.Unlock()
	if done != nil {
		<-done
	}
	for t := range ts {
		t.close()
	}
}

// stopLocked ends the event or poll loop and returns what to wait on (nil
// when not running). The loop takes m.mu, so the caller waits after
// unlocking.
func (m *Monitor) stopLocked() chan struct{} {
	if !m.running {
		return nil
	}
	m.running = false
	close(m.stop)
	if m.sock != nil {
		m.sock.Close() // ends a receive in progress
		m.sock = nil
	}
	return m.done
}

func (m *Monitor) startLocked() error {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	sock, err := listenProcEvents()
	if m.noConnector && err == nil {
		sock.Close()
		sock, err = nil, errors.New("connector not used (test)")
	}
	m.running = true
	if err != nil {
		m.polling = true
		m.sock = nil
		m.log.Warn("track process: the kernel's process events are not available; scanning /proc instead", "every", PollInterval, "err", err)
		go m.poll(m.stop, m.done)
		return nil
	}
	m.polling = false
	m.sock = sock
	go m.events(sock, m.stop, m.done)
	return nil
}

// listenProcEvents opens a connector socket and asks for process events.
func listenProcEvents() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("proc connector socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("proc connector bind: %w", err)
	}
	msg := make([]byte, unix.SizeofNlMsghdr+sizeofCnMsg+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	c := msg[unix.SizeofNlMsghdr:]
	ne.PutUint32(c[0:], cnIdxProc)
	ne.PutUint32(c[4:], cnValProc)
	ne.PutUint16(c[16:], 4)
	ne.PutUint32(c[sizeofCnMsg:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("proc connector listen: %w", err)
	}
	// Non-blocking, so os.File reads through the runtime poller and Close
	// ends a receive in progress.
	return os.NewFile(uintptr(fd), "proc-connector"), nil
}

// events follows the connector until stop.
func (m *Monitor) events(sock *os.File, stop, done chan struct{}) {
	defer close(done)
	rc, err := sock.SyscallConn()
	if err != nil {
		m.log.Error("track process: connector socket", "err", err)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		select {
		case <-stop:
			return
		default:
		}
		if err == nil {
			err = rerr
		}
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// Events were lost: count again, as keepalived does.
			m.log.Warn("track process: process events lost; scanning /proc again")
			m.rescan()
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			m.log.Error("track process: reading process events failed; scanning /proc instead", "every", PollInterval, "err", err)
			m.mu.Lock()
			m.polling = true
			m.mu.Unlock()
			m.pollLoop(stop)
			return
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel's
		}
		m.parse(buf[:n])
	}
}

// parse handles one datagram of connector messages.
func (m *Monitor) parse(b []byte) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return
	}
	ne := binary.NativeEndian
	for _, msg := range msgs {
		if msg.Header.Type == unix.NLMSG_ERROR || msg.Header.Type == unix.NLMSG_NOOP {
			continue
		}
		d := msg.Data
		if len(d) < sizeofCnMsg+16 || ne.Uint32(d[0:]) != cnIdxProc || ne.Uint32(d[4:]) != cnValProc {
			continue
		}
		ev := d[sizeofCnMsg:]
		what := ne.Uint32(ev[0:])
		data := ev[16:]
		u := func(i int) int {
			if len(data) < 4*(i+1) {
				return -1
			}
			return int(ne.Uint32(data[4*i:]))
		}
		switch what {
		case procEventFork:
			// parent_pid, parent_tgid, child_pid, child_tgid: a thread
			// has child_pid != child_tgid and is not a process.
			if c := u(3); c > 0 && u(2) == c {
				m.fork(u(1), c)
			}
		case procEventExec:
			if p := u(1); p > 0 && u(0) == p {
				m.exec(p)
			}
		case procEventComm:
			if p := u(1); p > 0 && u(0) == p && len(data) >= 8+16 {
				comm, _, _ := bytes.Cut(data[8:8+16], []byte{0})
				m.comm(p, string(comm))
			}
		case procEventExit:
			if p := u(1); p > 0 && u(0) == p {
				m.exit(p)
			}
		}
	}
}

func (m *Monitor) trackersLocked() []*Tracker {
	out := make([]*Tracker, 0, len(m.trackers))
	for t := range m.trackers {
		out = append(out, t)
	}
	return out
}

// fork counts a child of a counted process: it is the same program until
// it execs.
func (m *Monitor) fork(parent, child int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.trackers {
		if t.has(parent) {
			t.add(child, causeFork)
		}
	}
}

// exec matches a process again: it may now be one a tracker counts, or no
// longer be.
func (m *Monitor) exec(pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.trackersLocked()
	comm, cmdline, ok := m.readProc(pid, needOf(ts))
	if !ok {
		return // gone already: its exit follows
	}
	for _, t := range ts {
		if t.matches(comm, cmdline) {
			t.add(pid, causeOther)
		} else {
			t.remove(pid, causeOther)
		}
	}
}

// comm follows a process renaming itself (prctl PR_SET_NAME, or a write to
// /proc/PID/comm): only trackers matching the name care.
func (m *Monitor) comm(pid int, comm string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.trackers {
		if t.cfg.FullCommand {
			continue
		}
		if t.matches(comm, nil) {
			t.add(pid, causeOther)
		} else {
			t.remove(pid, causeOther)
		}
	}
}

func (m *Monitor) exit(pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.trackers {
		t.remove(pid, causeExit)
	}
}

func needOf(ts []*Tracker) int {
	need := 0
	for _, t := range ts {
		need = max(need, t.cmdlineNeed())
	}
	return need
}

// rescan counts every tracker's processes again.
func (m *Monitor) rescan() {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.trackersLocked()
	for t, pids := range m.scanLocked(ts) {
		c := causeOther
		t.mu.Lock()
		old := t.pids
		t.mu.Unlock()
		switch {
		case len(pids) < len(old):
			c = causeExit
		case len(pids) > len(old):
			// New processes forked by counted ones are forks (their
			// parents are in the old count); anything else counts at once.
			c = causeFork
			for p := range pids {
				if !old[p] && !old[m.ppid(p)] {
					c = causeOther
					break
				}
			}
		}
		t.replace(pids, c)
	}
}

// poll scans /proc every PollInterval until stop.
func (m *Monitor) poll(stop, done chan struct{}) {
	defer close(done)
	m.pollLoop(stop)
}

func (m *Monitor) pollLoop(stop chan struct{}) {
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			m.rescan()
		}
	}
}

// scanLocked reads /proc once and returns the processes each of ts counts.
// Zombies are not counted (keepalived's rule: they are not running).
func (m *Monitor) scanLocked(ts []*Tracker) map[*Tracker]map[int]bool {
	out := map[*Tracker]map[int]bool{}
	for _, t := range ts {
		out[t] = map[int]bool{}
	}
	ents, err := os.ReadDir(m.proc)
	if err != nil {
		m.log.Error("track process: read /proc", "err", err)
		return out
	}
	need := needOf(ts)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		comm, cmdline, ok := m.readProc(pid, need)
		if !ok {
			continue
		}
		for _, t := range ts {
			if t.matches(comm, cmdline) {
				out[t][pid] = true
			}
		}
	}
	return out
}

// readProc reads a process's name and, when need > 0, the first need
// bytes of its command line; ok is false for a zombie or a process gone.
func (m *Monitor) readProc(pid, need int) (comm string, cmdline []byte, ok bool) {
	dir := filepath.Join(m.proc, strconv.Itoa(pid))
	comm, state, _, ok := readStat(dir)
	if !ok || state == 'Z' || state == 'X' {
		return "", nil, false
	}
	if need > 0 {
		f, err := os.Open(filepath.Join(dir, "cmdline"))
		if err != nil {
			return "", nil, false
		}
		buf := make([]byte, need)
		n, err := io.ReadFull(f, buf)
		f.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return "", nil, false
		}
		cmdline = buf[:n]
	}
	return comm, cmdline, true
}

// ppid is a process's parent, 0 if unknown.
func (m *Monitor) ppid(pid int) int {
	_, _, pp, _ := readStat(filepath.Join(m.proc, strconv.Itoa(pid)))
	return pp
}

// readStat reads comm, state and ppid from dir/stat: "PID (COMM) S PPID
// ...", where COMM may hold spaces and parentheses (the last ")" ends it).
func readStat(dir string) (comm string, state byte, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+4 > len(b) {
		return "", 0, 0, false
	}
	rest := bytes.Fields(b[end+1:])
	if len(rest) < 2 || len(rest[0]) != 1 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(string(rest[1]))
	return string(b[open+1 : end]), rest[0][0], ppid, true
}
