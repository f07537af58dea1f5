package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The keepalived 2.2.7 compatibility table is docs/keepalived.md: a user
// reads there what happens to each keyword of a keepalived.conf, and this
// test reads the same rows and feeds each example to the parser in its
// block, so the table cannot claim what the reader does not do.

// kwRow is one row of docs/keepalived.md's tables.
type kwRow struct {
	block, keyword, example, outcome, what string
	line                                   int // in docs/keepalived.md
}

// kwDocRows reads the rows of every "### BLOCK" table of the document.
func kwDocRows(t *testing.T, path string) []kwRow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []kwRow
	block := ""
	for i, l := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(l, "### "); ok {
			block = strings.Trim(strings.Fields(h)[0], "`")
			continue
		}
		if block == "" || !strings.HasPrefix(l, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), " | ")
		if len(cells) != 4 {
			t.Errorf("docs/keepalived.md:%d: want 4 cells (keyword, example, xlb, what it does), got %d", i+1, len(cells))
			continue
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, kwRow{block: block, keyword: strings.Trim(cells[0], "`"),
			example: strings.Trim(cells[1], "`"), outcome: cells[2], what: cells[3], line: i + 1})
	}
	return rows
}

// kwBlocks are the blocks the document's tables may name.
func kwBlocks() []string {
	return []string{"top", "global_defs", "vrrp_instance", "vrrp_sync_group", "vrrp_script", "track_file",
		"vrrp_track_process", "virtual_server_group", "virtual_server", "real_server", "checker",
		"TCP_CHECK", "HTTP_GET", "SSL_GET", "url", "MISC_CHECK", "SMTP_CHECK", "UDP_CHECK", "PING_CHECK",
		"DNS_CHECK", "FILE_CHECK"}
}

// kwConfig builds a minimal keepalived.conf, valid and without warnings,
// with stmt in block; it returns the file and stmt's line. A default line
// of the block with stmt's keyword is left out, so stmt replaces it.
func kwConfig(block, stmt string) (string, int) {
	var out []string
	at := 0
	// " ↵ " breaks an example into lines (keepalived reads one statement
	// a line); its first line is the keyword's, the others what it needs.
	lines := strings.Split(stmt, " ↵ ")
	kw := strings.Fields(stmt)[0]
	kws := map[string]bool{}
	for _, l := range lines {
		kws[strings.Fields(l)[0]] = true
	}
	add := func(ls ...string) { out = append(out, ls...) }
	def := func(b, l string) {
		if b != block || !kws[strings.Fields(l)[0]] {
			add(l)
		}
	}
	here := func(b string) {
		if b == block {
			add(lines[0])
			at = len(out)
			add(lines[1:]...)
		}
	}
	checker := block
	switch block {
	case "checker", "url":
		checker = "TCP_CHECK"
		if block == "url" {
			checker = "HTTP_GET"
		}
	case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "UDP_CHECK", "PING_CHECK", "DNS_CHECK", "FILE_CHECK":
	default:
		checker = "TCP_CHECK"
	}
	if block == "global_defs" {
		add("global_defs {")
		here("global_defs")
		add("}")
	}
	if block == "vrrp_script" {
		add("vrrp_script chk {")
		def(block, `script "/bin/true"`)
		here(block)
		add("}")
	}
	if block == "track_file" || checker == "FILE_CHECK" {
		add("track_file tf {")
		def(block, `file "/tmp/xlb-keywords-test.track"`)
		here("track_file")
		add("}")
	}
	if block == "vrrp_track_process" {
		add("vrrp_track_process tp {")
		def(block, "process sshd")
		here(block)
		add("}")
	}
	if block == "vrrp_instance" || block == "vrrp_sync_group" {
		// What an instance's or group's track_* name must be defined.
		switch kw {
		case "track_script":
			add("vrrp_script chk {", `script "/bin/true"`, "}")
		case "track_file":
			add("track_file tf {", `file "/tmp/xlb-keywords-test.track"`, "}")
		case "track_process":
			add("vrrp_track_process tp {", "process sshd", "}")
		}
	}
	add("vrrp_instance VI_1 {")
	def("vrrp_instance", "state BACKUP")
	def("vrrp_instance", "interface eth0")
	def("vrrp_instance", "virtual_router_id 51")
	def("vrrp_instance", "priority 100")
	def("vrrp_instance", "virtual_ipaddress {")
	if block != "vrrp_instance" || !kws["virtual_ipaddress"] {
		add("192.0.2.10", "}")
	}
	switch block {
	case "vrrp_script":
		add("track_script {", "chk", "}")
	case "track_file":
		add("track_file {", "tf", "}")
	case "vrrp_track_process":
		add("track_process {", "tp", "}")
	}
	here("vrrp_instance")
	add("}")
	if block == "vrrp_sync_group" {
		add("vrrp_instance VI_2 {", "state BACKUP", "interface eth0", "virtual_router_id 52", "priority 100",
			"virtual_ipaddress {", "192.0.2.12", "}", "}")
		add("vrrp_sync_group G {")
		def(block, "group {")
		if !kws["group"] {
			add("VI_1", "VI_2", "}")
		}
		here(block)
		add("}")
	}
	add("virtual_server 192.0.2.10 80 {")
	def("virtual_server", "lb_algo rr")
	def("virtual_server", "lb_kind DR")
	def("virtual_server", "protocol TCP")
	here("virtual_server")
	add("real_server 192.0.2.21 80 {")
	def("real_server", "weight 1")
	here("real_server")
	add(checker + " {")
	switch checker {
	case "HTTP_GET", "SSL_GET":
		add("url {")
		def("url", "path /")
		here("url")
		add("}")
	case "MISC_CHECK":
		def(checker, "misc_path /bin/true")
	case "FILE_CHECK":
		def(checker, "track_file tf")
	}
	here(checker)
	if block == "checker" {
		here("checker")
	}
	add("}", "}", "}")
	if block == "virtual_server_group" {
		add("virtual_server_group VG {")
		def(block, "192.0.2.11 80")
		here(block)
		add("}")
		add("virtual_server group VG {", "lb_algo rr", "lb_kind DR", "protocol TCP",
			"real_server 192.0.2.22 80 {", "weight 1", "}", "}")
	}
	here("top")
	return strings.Join(out, "\n") + "\n", at
}

// kwOutcome is what xlb did with the statement at line: "read",
// "warned" or "refused", and the messages it gave there.
func kwOutcome(t *testing.T, conf string, line int) (string, []string) {
	t.Helper()
	_, warns, err := ParseKeepalivedAs("keepalived.conf", []byte(conf), "kw")
	var msgs []string
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %q is %T, want *ValidationError", err, err)
		}
		for _, p := range ve.Problems {
			msgs = append(msgs, p.Error())
		}
		return "refused", msgs
	}
	for _, w := range warns {
		msgs = append(msgs, w.String())
	}
	if len(warns) > 0 {
		return "warned", msgs
	}
	return "read", nil
}

func TestKeepalivedKeywordTable(t *testing.T) {
	rows := kwDocRows(t, filepath.Join("..", "docs", "keepalived.md"))
	if len(rows) < 300 {
		t.Fatalf("docs/keepalived.md has %d keyword rows, want keepalived 2.2.7's several hundred", len(rows))
	}
	blocks := map[string]bool{}
	for _, b := range kwBlocks() {
		blocks[b] = true
	}
	// The base file itself must be read without a word, or a row's
	// outcome would be the base's.
	for _, b := range kwBlocks() {
		conf, _ := kwConfig(b, "# nothing")
		if got, msgs := kwOutcome(t, conf, 0); got != "read" {
			t.Fatalf("base file for %s: %s %q\n%s", b, got, msgs, conf)
		}
	}
	seen := map[string]int{}
	counts := map[string]map[string]int{}
	for _, r := range rows {
		where := fmt.Sprintf("docs/keepalived.md:%d: %s %s", r.line, r.block, r.keyword)
		if !blocks[r.block] {
			t.Errorf("%s: unknown block %q", where, r.block)
			continue
		}
		if strings.Fields(r.example)[0] != r.keyword {
			t.Errorf("%s: example %q does not start with the keyword", where, r.example)
		}
		if l, dup := seen[r.block+" "+r.keyword+" "+r.example]; dup {
			t.Errorf("%s: repeats line %d", where, l)
		}
		seen[r.block+" "+r.keyword+" "+r.example] = r.line
		if r.what == "" {
			t.Errorf("%s: says nothing of what xlb does", where)
		}
		conf, line := kwConfig(r.block, r.example)
		got, msgs := kwOutcome(t, conf, line)
		if os.Getenv("XLB_KEYWORDS_DUMP") != "" {
			fmt.Printf("ROW\t%s\t%s\t%s\t%s\n", r.block, r.keyword, got, strings.Join(msgs, " || "))
		}
		if counts[r.block] == nil {
			counts[r.block] = map[string]int{}
		}
		counts[r.block][r.outcome]++
		if got != r.outcome {
			t.Errorf("%s: `%s` is %s, the table says %s: %q", where, r.example, got, r.outcome, msgs)
			continue
		}
		// A warning or refusal must be at the statement, name its
		// keyword and say more than that.
		// An entry of a block example (an address of virtual_ipaddress)
		// may be named instead, on its own line.
		exLines := strings.Split(r.example, " ↵ ")
		if got != "read" {
			ok := false
			for i, el := range exLines {
				at := fmt.Sprintf("keepalived.conf:%d: ", line+i)
				name := r.keyword
				if i > 0 {
					name = strings.Fields(el + " {")[0]
				}
				for _, m := range msgs {
					if strings.HasPrefix(m, at) && strings.Contains(m, name) && len(m) > len(at)+len(name)+10 {
						ok = true
					}
				}
			}
			if !ok {
				t.Errorf("%s: no message at line %d naming %s: %q", where, line, r.keyword, msgs)
			}
		}
	}
	for _, b := range kwBlocks() {
		t.Logf("%-20s read %3d  warned %3d  refused %3d", b, counts[b]["read"], counts[b]["warned"], counts[b]["refused"])
	}
}

// The lists that tell a typo from an unsupported keyword hold every keyword
// of the table, in its block.
func TestKeepalivedKeywordListsCoverTheTable(t *testing.T) {
	for _, r := range kwDocRows(t, filepath.Join("..", "docs", "keepalived.md")) {
		if r.block == "virtual_server_group" || strings.ContainsAny(r.keyword[:1], "0123456789") {
			continue // its rows are addresses and ranges, not keywords
		}
		if !slices.Contains(keepalivedKeywords(r.block), r.keyword) {
			t.Errorf("docs/keepalived.md:%d: %s of %s is not in keepalivedKeywords(%q)", r.line, r.keyword, r.block, r.block)
		}
	}
}

// A mistyped keyword is refused with the keyword it most likely meant (or
// the block it belongs to), not as a keepalived feature xlb lacks; a
// keyword keepalived documents but xlb does not reproduce still says so.
func TestKeepalivedTypoAdvice(t *testing.T) {
	vrrp := func(stmt string) string {
		return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n " + stmt + "\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	}
	tests := []struct {
		name, conf, want string
	}{
		{"transposed letters", kaEdit("lb_kind DR", "lb_kind DR\n    lb_alog rr"), "lb_alog: unknown keyword in virtual_server (keepalived 2.2.7 documents no such keyword there; did you mean lb_algo?)"},
		{"misspelt", kaEdit("lb_kind DR", "lb_kind DR\n    persistance_timeout 50"), "did you mean persistence_timeout?"},
		{"a block's name", kaEdit("real_server 10.0.0.2 80", "real_sever 10.0.0.2 80"), "did you mean real_server?"},
		{"a checker's name", kaEdit("weight 1", "weight 1\n TCP_CHEK {\n }"), "did you mean TCP_CHECK?"},
		{"a checker in lower case", kaEdit("weight 1", "weight 1\n tcp_check {\n }"), "did you mean TCP_CHECK?"},
		{"vrrp_instance", vrrp("priorty 100"), "did you mean priority?"},
		{"top level", "virtual_sever 10.0.0.1 80 {\n}\n", `unknown or unsupported top-level keyword "virtual_sever" (did you mean virtual_server?)`},
		{"nothing near", kaEdit("weight 1", "weight 1\n frobnicate 3"), "frobnicate: unknown keyword in real_server (keepalived 2.2.7 documents no such keyword there)"},
		{"another block's keyword", kaEdit("lb_kind DR", "lb_kind DR\n    priority 100"), "priority: not a keyword of virtual_server: keepalived 2.2.7 documents it in vrrp_instance"},
		{"documented, not reproduced", kaEdit("weight 1", "weight 1\n BFD_CHECK {\n }"), "BFD_CHECK: not supported in real_server by xlb, and ignoring it could change forwarding or failover"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a refusal containing %q", err, tc.want)
			}
			if tc.name == "nothing near" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("advice for a word near nothing: %v", err)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"weight", "weight", 0}, {"wieght", "weight", 1}, {"lb_alog", "lb_algo", 1},
		{"priorty", "priority", 1}, {"TCP_CHEK", "TCP_CHECK", 1}, {"abc", "", 3}, {"retry", "entry", 2},
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
