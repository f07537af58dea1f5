package maps_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/maps"
)

// Every datapath counter of bpf/consts.h has a name of its own: one added
// in C but not in CounterNames would reach metrics and `xlb list` as
// counter_N.
func TestCounterNamesNameEveryCounter(t *testing.T) {
	seen := map[string]int{}
	for i, n := range maps.CounterNames() {
		if n == "" || strings.HasPrefix(n, "counter_") {
			t.Errorf("counter %d has no name (%q): add it to CounterNames", i, n)
		}
		if j, dup := seen[n]; dup {
			t.Errorf("counters %d and %d are both named %q", j, i, n)
		}
		seen[n] = i
	}
	if _, ok := seen["drop_tcp_no_ack"]; !ok {
		t.Error("no drop_tcp_no_ack counter")
	}
}

// README's metrics table explains every reason of
// xlb_datapath_packets_total, so an operator reading a new one in the
// scrape finds what it means.
func TestReadmeExplainsEveryCounter(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "| `xlb_datapath_packets_total{reason}` |") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("README.md has no xlb_datapath_packets_total{reason} row")
	}
	for _, n := range maps.CounterNames() {
		if !strings.Contains(row, "`"+n+"`") {
			t.Errorf("README.md's xlb_datapath_packets_total row does not name %s", n)
		}
	}
}
