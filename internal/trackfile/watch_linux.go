// Package trackfile follows keepalived's track_file: a file holding an
// integer, watched with inotify, whose value VRRP instances (track_file)
// and real-server checks (FILE_CHECK) both use. It lives apart from vrrp
// and health so that both read a file with the same rules.
package trackfile

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Subscriber is told a watched file's value: a VRRP instance, or a
// FILE_CHECK of a real server.
type Subscriber interface {
	SetFileValue(name string, v int64)
}

// Watch is keepalived's track_file: it reads a file holding an integer
// and tells its subscribers the value (SetFileValue) each time it changes.
//
// Like keepalived it watches the file's directory with inotify and reads
// the file again when a writer closes it (IN_CLOSE_WRITE) or a file is
// renamed onto it (IN_MOVED_TO); removing or renaming it away (IN_DELETE,
// IN_MOVED_FROM) is the value 0. A change is so seen as soon as the writer
// closes the file, with no polling interval, and a write is never read
// half done ("echo 5 > f" truncates before it writes); a writer that keeps
// the file open is not seen until it closes it, as with keepalived.
type Watch struct {
	name string
	path string // symlinks resolved, as keepalived's realpath
	log  *slog.Logger
	in   *os.File // the inotify instance
	done chan struct{}

	mu   sync.Mutex
	val  int64
	subs map[Subscriber]bool
}

// New starts watching path for the track_file name: it reads the
// value now (a missing file is 0) and follows it until Close. The file's
// directory must exist (keepalived drops such a track_file with a
// configuration error; xlb refuses it, since ignoring it would change
// failover).
func New(name, path string, log *slog.Logger) (*Watch, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	resolved, err := resolveTrackPath(path)
	if err != nil {
		return nil, fmt.Errorf("trackfile: %s: %w", name, err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("trackfile: %s: inotify: %w", name, err)
	}
	// Non-blocking, so os.File reads through the runtime poller and Close
	// ends a Read in progress.
	in := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(resolved), unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		in.Close()
		return nil, fmt.Errorf("trackfile: %s: watch %s: %w", name, filepath.Dir(resolved), err)
	}
	w := &Watch{
		name: name, path: resolved, log: log.With("track_file", name, "file", resolved),
		in: in, done: make(chan struct{}), subs: map[Subscriber]bool{},
	}
	// Read after the watch is in place, so no write falls between the two.
	if v, ok := w.read(); ok {
		w.val = v
	}
	go w.loop()
	return w, nil
}

// resolveTrackPath resolves symlinks in path, or in its directory when the
// file does not exist yet (keepalived's realpath of either).
func resolveTrackPath(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%q is not an absolute path", path)
	}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return "", fmt.Errorf("directory of %s: %w", path, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("directory of %s: %s is not a directory", path, dir)
	}
	return filepath.Join(dir, filepath.Base(path)), nil
}

func (w *Watch) loop() {
	defer close(w.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	base := filepath.Base(w.path)
	for {
		n, err := w.in.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.log.Error("track file: reading inotify events failed; its changes are no longer seen", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			w.event(ev.Mask, cString(nameBytes), base)
		}
	}
}

// event handles one inotify event of the directory.
func (w *Watch) event(mask uint32, name, base string) {
	switch {
	case mask&unix.IN_Q_OVERFLOW != 0:
		// Events were lost: read the file as it is now.
		if v, ok := w.read(); ok {
			w.set(v)
		}
	case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
		w.log.Warn("track file: its directory was removed or renamed; later changes are not seen")
	case name != base || mask&unix.IN_ISDIR != 0:
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		// keepalived: "The file has disappeared. Treat as though the value is 0".
		w.set(0)
	case mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
		if v, ok := w.read(); ok {
			w.set(v)
		}
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// read reads the file's value as keepalived does: the first 127 bytes, a
// missing, unreadable or empty file being 0. ok is false for a number that
// does not fit 32 bits, which keeps the last value.
func (w *Watch) read() (int64, bool) {
	f, err := os.OpenFile(w.path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.log.Warn("track file unreadable; its value is 0", "err", err)
		}
		return 0, true
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, _ := f.Read(buf)
	v, ok := ParseValue(buf[:n])
	if !ok {
		w.log.Warn("track file: number out of range, ignored", "text", string(buf[:n]))
	}
	return v, ok
}

// ParseValue reads a track file's text as keepalived does with
// strtol(text, NULL, 0): leading white space, an optional sign, then
// digits in base 16 after 0x, 8 after a leading 0, else 10, up to the
// first character that is none; no digits is 0. A number outside 32 bits
// is not ok (keepalived ignores it and keeps the last value).
func ParseValue(text []byte) (int64, bool) {
	i := 0
	for i < len(text) && (text[i] == ' ' || text[i] >= '\t' && text[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(text) && (text[i] == '+' || text[i] == '-') {
		neg = text[i] == '-'
		i++
	}
	base := int64(10)
	switch {
	case i+2 < len(text) && text[i] == '0' && (text[i+1] == 'x' || text[i+1] == 'X') && hexDigit(text[i+2]) >= 0:
		base, i = 16, i+2
	case i < len(text) && text[i] == '0':
		base = 8
	}
	var v int64
	for ; i < len(text); i++ {
		d := hexDigit(text[i])
		if d < 0 || int64(d) >= base {
			break
		}
		v = v*base + int64(d)
		if v > math.MaxInt32+1 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return v, true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// set records a new value and passes it on to the subscribers.
func (w *Watch) set(v int64) {
	w.mu.Lock()
	if v == w.val {
		w.mu.Unlock()
		return
	}
	old := w.val
	w.val = v
	subs := make([]Subscriber, 0, len(w.subs))
	for i := range w.subs {
		subs = append(subs, i)
	}
	w.mu.Unlock()
	w.log.Info("track file value changed", "from", old, "to", v)
	for _, i := range subs {
		i.SetFileValue(w.name, v)
	}
}

// Value is the file's last value.
func (w *Watch) Value() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.val
}

// Subscribe makes s follow the file, starting from its current value.
func (w *Watch) Subscribe(s Subscriber) {
	w.mu.Lock()
	w.subs[s] = true
	v := w.val
	w.mu.Unlock()
	s.SetFileValue(w.name, v)
}

// Unsubscribe stops telling s the file's changes.
func (w *Watch) Unsubscribe(s Subscriber) {
	w.mu.Lock()
	delete(w.subs, s)
	w.mu.Unlock()
}

// Close stops watching and returns once no more values are passed on.
func (w *Watch) Close() error {
	err := w.in.Close()
	<-w.done
	if err != nil {
		return fmt.Errorf("trackfile: %s: %w", w.name, err)
	}
	return nil
}

// Init is keepalived's init_file: it writes value (as "%d\n")
// to path when the file does not exist, or, with overwrite, when it is a
// regular file. written says whether it wrote.
func Init(path string, value int, overwrite bool) (written bool, err error) {
	st, err := os.Stat(path)
	switch {
	case err == nil && !overwrite:
		return false, nil
	case err == nil && !st.Mode().IsRegular():
		return false, fmt.Errorf("trackfile: init_file %s: not a regular file", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("trackfile: init_file %s: %w", path, err)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d\n", value), 0o644); err != nil {
		return false, fmt.Errorf("trackfile: init_file: %w", err)
	}
	return true, nil
}
