package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config check reads a keepalived.conf by its name (or --keepalived) and
// prints its warnings and problems as file:line.
func TestConfigCheckKeepalived(t *testing.T) {
	dir := t.TempDir()
	good := "virtual_server 10.0.0.1 80 {\n lb_kind DR\n smtp_alert\n real_server 10.0.0.2 80 {\n }\n}\n"
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("keepalived.conf", good)
	out, err := xlb(t, "config", "check", conf)
	if err != nil || !strings.Contains(out, conf+": ok, 1 services") || !strings.Contains(out, "warning: "+conf+":3:") {
		t.Fatalf("check %s: %v\n%s", conf, err, out)
	}
	other := write("lb.cfg", good)
	if _, err := xlb(t, "config", "check", other); err == nil {
		t.Fatal("a keepalived file not named .conf passed as YAML")
	}
	if out, err := xlb(t, "config", "check", "--keepalived", other); err != nil {
		t.Fatalf("--keepalived: %v\n%s", err, out)
	}
	bad := write("bad.conf", strings.Replace(good, "lb_kind DR", "lb_kind NAT", 1))
	if _, err := xlb(t, "config", "check", bad); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("bad.conf: %v", err)
	}
}

// --config-id picks a director's lines of a shared keepalived.conf.
func TestConfigConvertConfigID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n @lb1 priority 150\n @lb2 priority 100\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"lb1": "priority: 150", "lb2": "priority: 100"} {
		out, err := xlb(t, "config", "convert", "--config-id", id, p)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("--config-id %s: %v\n%s", id, err, out)
		}
	}
}
