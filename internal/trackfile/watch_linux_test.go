package trackfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// keepalived reads a track file with strtol(text, NULL, 0).
func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int64
		ok   bool
	}{
		{"5\n", 5, true},
		{"  -7\n", -7, true},
		{"+3", 3, true},
		{"0x10", 16, true},
		{"0X1f\n", 31, true},
		{"010", 8, true}, // a leading 0 is octal, as strtol's base 0
		{"08", 0, true},
		{"0x", 0, true},
		{"12abc", 12, true},
		{"abc", 0, true},
		{"", 0, true},
		{"2147483647", 2147483647, true},
		{"-2147483648", -2147483648, true},
		{"2147483648", 0, false},
		{"-2147483649", 0, false},
		{"99999999999999999999999", 0, false},
	} {
		v, ok := ParseValue([]byte(tc.text))
		if v != tc.want || ok != tc.ok {
			t.Errorf("ParseValue(%q) = %d, %v; want %d, %v", tc.text, v, ok, tc.want, tc.ok)
		}
	}
}

// recorder is a Subscriber that keeps the last value it was told.
type recorder struct {
	mu   sync.Mutex
	vals map[string]int64
}

func (r *recorder) SetFileValue(name string, v int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vals == nil {
		r.vals = map[string]int64{}
	}
	r.vals[name] = v
}

func (r *recorder) value(name string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.vals[name]
	return v, ok
}

// changeBound is how long a change may take to reach a subscriber here:
// it is read on the inotify event of the writer's close, typically within
// a millisecond; the bound leaves room for a loaded machine.
const changeBound = 250 * time.Millisecond

func waitValue(t *testing.T, r *recorder, want int64, what string) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < changeBound {
		if v, _ := r.value("f"); v == want {
			t.Logf("%s: %d after %v", what, want, time.Since(start))
			return
		}
		time.Sleep(time.Millisecond)
	}
	v, _ := r.value("f")
	t.Fatalf("%s: value %d after %v, want %d", what, v, changeBound, want)
}

// Every subscriber gets the value at Subscribe and each change within
// changeBound; an unsubscribed one gets no more.
func TestWatchSubscribers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v")
	if err := os.WriteFile(path, []byte("4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := New("f", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var a, b recorder
	w.Subscribe(&a)
	w.Subscribe(&b)
	if v, ok := a.value("f"); !ok || v != 4 {
		t.Fatalf("at Subscribe: %d, %v; want 4", v, ok)
	}
	if err := os.WriteFile(path, []byte("-9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitValue(t, &a, -9, "write -9")
	waitValue(t, &b, -9, "write -9, second subscriber")
	w.Unsubscribe(&b)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitValue(t, &a, 0, "removed")
	time.Sleep(20 * time.Millisecond)
	if v, _ := b.value("f"); v != -9 {
		t.Fatalf("unsubscribed subscriber got %d", v)
	}
}

// A missing directory and a relative path cannot be watched.
func TestNewRefuses(t *testing.T) {
	if _, err := New("f", filepath.Join(t.TempDir(), "no", "such"), nil); err == nil {
		t.Error("watching a file in a missing directory succeeded")
	}
	if _, err := New("f", "relative/file", nil); err == nil {
		t.Error("watching a relative path succeeded")
	}
}

// init_file writes the value ("%d\n") to a missing file, leaves an
// existing one alone unless overwrite, and refuses to overwrite what is
// not a regular file.
func TestInit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if w, err := Init(path, -7, false); err != nil || !w || read() != "-7\n" {
		t.Fatalf("create: written %v err %v content %q", w, err, read())
	}
	if err := os.WriteFile(path, []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, err := Init(path, 0, false); err != nil || w || read() != "3\n" {
		t.Fatalf("no overwrite: written %v err %v content %q", w, err, read())
	}
	if w, err := Init(path, 0, true); err != nil || !w || read() != "0\n" {
		t.Fatalf("overwrite: written %v err %v content %q", w, err, read())
	}
	if _, err := Init(dir, 1, true); err == nil {
		t.Error("overwrote a directory")
	}
	if w, err := Init(dir, 1, false); err != nil || w {
		t.Errorf("an existing directory without overwrite: written %v err %v", w, err)
	}
}
