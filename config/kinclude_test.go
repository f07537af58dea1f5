package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates files (name → text) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const includeVRRP = "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"

// A configuration split the way packaged keepalived set-ups split it (one
// file per service in conf.d, real servers in files of their own) reads
// exactly as the same statements written in one file.
func TestKeepalivedIncludeEqualsOneFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"keepalived.conf": "global_defs {\n router_id lb1\n}\ninclude vrrp.conf\ninclude conf.d/*.conf\n",
		"vrrp.conf":       includeVRRP,
		// Read in name order; relative names in them are relative to conf.d.
		"conf.d/10-web.conf":  "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n include web/{rs2,rs1}.conf\n}\n",
		"conf.d/web/rs1.conf": "real_server 10.0.0.2 80 {\n weight 1\n}\n",
		"conf.d/web/rs2.conf": "real_server 10.0.0.3 80 {\n weight 2\n}",
		"conf.d/20-dns.conf":  "virtual_server 10.0.0.1 53 {\n protocol UDP\n lb_kind DR\n real_server 10.0.0.4 53 {\n }\n}\n",
		"conf.d/README":       "not a configuration: the wildcard leaves it out",
	})
	one := "global_defs {\n router_id lb1\n}\n" + includeVRRP +
		"virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.3 80 {\n weight 2\n}\n real_server 10.0.0.2 80 {\n weight 1\n}\n}\n" +
		"virtual_server 10.0.0.1 53 {\n protocol UDP\n lb_kind DR\n real_server 10.0.0.4 53 {\n }\n}\n"

	got, _, err := LoadKeepalived(filepath.Join(dir, "keepalived.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := ParseKeepalived("one.conf", []byte(one))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripPositions(got), stripPositions(want)) {
		t.Fatalf("included configuration differs from the one-file form:\n got %+v\nwant %+v", stripPositions(got), stripPositions(want))
	}
	if n := len(got.Services); n != 2 || len(got.Services[0].RealServers) != 2 {
		t.Fatalf("want 2 services, the first with 2 real servers: %+v", got.Services)
	}
}

// Problems name the file and line they are in, whichever file that is, and
// the main file's lines after an include keep their own numbers.
func TestKeepalivedIncludeProblemPositions(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "keepalived.conf")
	sub := filepath.Join(dir, "services.conf")
	writeFiles(t, dir, map[string]string{
		"keepalived.conf": "include services.conf\nvirtual_server 10.0.0.9 80 {\n lb_algo nope\n lb_kind DR\n}\n",
		"services.conf":   "# web\n\nvirtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.0.0.2 80 {\n  weight -1\n }\n}\n",
	})
	_, _, err := LoadKeepalived(main)
	wantProblem(t, err, sub, 6, "weight", "")
	printed := wantProblem(t, err, main, 3, "scheduler", `unknown scheduler "nope"`)
	// Grouped by file, in the order the files were first read (the main
	// file, then what it includes), each in line order.
	if i, j := strings.Index(printed, main+":3:"), strings.Index(printed, sub+":6:"); i < 0 || j < 0 || i > j {
		t.Errorf("problems not grouped by file in reading order:\n%s", printed)
	}
}

func TestKeepalivedIncludeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// file and line of the problem, relative to the test's directory
		file  string
		line  int
		field string
		msg   string
	}{
		{"missing file", map[string]string{"k.conf": "\n\ninclude missing.conf\n"}, "k.conf", 3, "include", "no such file"},
		{"no name", map[string]string{"k.conf": "include\n"}, "k.conf", 1, "include", "want one file name"},
		{"two names", map[string]string{"k.conf": "include a.conf b.conf\n"}, "k.conf", 1, "include", "want one file name"},
		{"itself", map[string]string{"k.conf": "include k.conf\n"}, "k.conf", 1, "include", "includes itself"},
		{"cycle", map[string]string{"k.conf": "include a.conf\n", "a.conf": "\ninclude k.conf\n"}, "a.conf", 2, "include", "includes itself"},
		{"wildcard cycle", map[string]string{"k.conf": "include *.conf\n"}, "k.conf", 1, "include", "includes itself"},
		{"directory", map[string]string{"k.conf": "include conf.d\n", "conf.d/a.conf": ""}, "k.conf", 1, "include", "is a directory"},
		{"not utf-8", map[string]string{"k.conf": "include a.conf\n", "a.conf": "\n\xff\n"}, "a.conf", 2, "", "not valid UTF-8"},
		{"brace broken in included file", map[string]string{"k.conf": "include a.conf\n", "a.conf": "virtual_server 10.0.0.1 80 {\n"}, "a.conf", 1, "", "never closed"},
		{"device", map[string]string{"k.conf": "include /dev/zero\n"}, "k.conf", 1, "include", "not a regular file"},
		{"bad pattern", map[string]string{"k.conf": "include [.conf\n"}, "k.conf", 1, "include", "bad file name pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, _, err := LoadKeepalived(filepath.Join(dir, "k.conf"))
			wantProblem(t, err, filepath.Join(dir, tc.file), tc.line, tc.field, tc.msg)
		})
	}
}

// An include of a wildcard that matches nothing (an empty conf.d) is a
// warning at the include line, not an error.
func TestKeepalivedIncludeEmptyWildcard(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "k.conf")
	writeFiles(t, dir, map[string]string{"k.conf": kaBase + "include conf.d/*.conf\n"})
	c, warns, err := LoadKeepalived(main)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 1 {
		t.Fatalf("want the main file's service, got %+v", c.Services)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool {
		return w.File == main && w.Line == 8 && strings.Contains(w.Msg, "matches no file")
	}) {
		t.Fatalf("want a warning at %s:8, got %v", main, warns)
	}
}

// Validating the configuration again later (as an edit through the control
// socket does) still points into the right file.
func TestKeepalivedIncludeRevalidate(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"k.conf": "\n\n\ninclude s.conf\n",
		"s.conf": kaBase,
	})
	c, _, err := LoadKeepalived(filepath.Join(dir, "k.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c.Services[0].RealServers[0].Weight = -1
	wantProblem(t, c.Validate(), filepath.Join(dir, "s.conf"), 3, "weight", "")
}

func TestExpandBraces(t *testing.T) {
	tests := map[string][]string{
		"a.conf":            {"a.conf"},
		"{a,b}.conf":        {"a.conf", "b.conf"},
		"x/{a,b/{c,d}}/*.c": {"x/a/*.c", "x/b/c/*.c", "x/b/d/*.c"},
		"{,pre-}f":          {"f", "pre-f"},
		"{a}":               {"{a}"},
		"{a,b":              {"{a,b"},
		"{a,b}-{1,2}":       {"a-1", "a-2", "b-1", "b-2"},
	}
	for in, want := range tests {
		if got := expandBraces(in); !slices.Equal(got, want) {
			t.Errorf("expandBraces(%q) = %q, want %q", in, got, want)
		}
	}
}

// A cross reference into another file names that file.
func TestKeepalivedIncludeCrossReference(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"k.conf":     kaBase + "include again.conf\n",
		"again.conf": "\n" + kaBase,
	})
	_, _, err := LoadKeepalived(filepath.Join(dir, "k.conf"))
	printed := wantProblem(t, err, filepath.Join(dir, "again.conf"), 2, "", "duplicate service")
	if !strings.Contains(printed, "at "+filepath.Join(dir, "k.conf")+":1") {
		t.Errorf("the duplicate does not point at k.conf:1:\n%s", printed)
	}
}

// A keepalived.conf with no statement in it (empty, only comments, or an
// include that matched nothing) is refused: on a reload it would take every
// service and VIP down, and it is far more often a half-written file. One
// with only global_defs is a configuration, and is read.
func TestKeepalivedEmptyFileRefused(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"empty.conf":    "",
		"comments.conf": "! all of it commented out\n# virtual_server 10.0.0.1 80 {\n",
		"include.conf":  "include conf.d/*.conf\n",
		"global.conf":   "global_defs {\n router_id LVS_DEVEL\n}\n",
	})
	for _, name := range []string{"empty.conf", "comments.conf", "include.conf"} {
		path := filepath.Join(dir, name)
		if c, _, err := LoadKeepalived(path); err == nil || !strings.HasPrefix(err.Error(), path+": no configuration in the file") {
			t.Errorf("%s: %+v, %v; want it refused as empty", name, c, err)
		}
	}
	c, _, err := LoadKeepalived(filepath.Join(dir, "global.conf"))
	if err != nil || len(c.Services) != 0 {
		t.Errorf("global_defs only: %+v, %v; want a configuration with no services", c, err)
	}
}
