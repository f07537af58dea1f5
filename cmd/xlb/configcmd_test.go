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

// A plain LVS director's rules: config convert turns ipvsadm-save output
// (by its .rules name, or --ipvsadm) into YAML that xlb reads back;
// config check reports a bad rule by file:line.
func TestConfigConvertIPVSADMRules(t *testing.T) {
	dir := t.TempDir()
	rules := "-A -t 192.168.101.100:80 -s rr -p 50\n-a -t 192.168.101.100:80 -r 192.168.101.3:80 -g -w 3\n"
	path := filepath.Join(dir, "ipvsadm.rules")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := xlb(t, "config", "convert", path)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	yml := filepath.Join(dir, "xlb.yaml")
	if err := os.WriteFile(yml, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{"scheduler: rr", "persistence_timeout: 50", "address: 192.168.101.3", "weight: 3"} {
		if !strings.Contains(out, frag) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
	if got, err := xlb(t, "config", "check", yml); err != nil || !strings.Contains(got, ": ok, 1 services") {
		t.Fatalf("converted YAML does not check: %v\n%s", err, got)
	}
	other := filepath.Join(dir, "lvs.txt")
	if err := os.WriteFile(other, []byte(rules+"-a -t 192.168.101.100:80 -r 192.168.101.4:80 -m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := xlb(t, "config", "check", "--ipvsadm", other); err == nil || !strings.Contains(err.Error(), other+":3:") {
		t.Fatalf("a NAT rule on line 3: %v", err)
	}
}
