package config

import (
	"strings"
	"testing"
)

// One keepalived.conf for both directors (keepalived's own example of
// conditional lines): each reads its own state, priority and peer.
func TestKeepalivedConditionalLines(t *testing.T) {
	conf := `global_defs {
    @main   router_id main_router
    @backup router_id backup_router
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    @main   state MASTER
    @main   priority 150
    @backup priority 100
    @main    unicast_src_ip 10.0.0.8
    @backup  unicast_src_ip 10.0.0.9
    unicast_peer {
        @^main   10.0.0.8
        @^backup 10.0.0.9
    }
    virtual_ipaddress {
        10.0.0.100
    }
}
`
	for _, tc := range []struct {
		id, state, src, peer string
		prio                 int
	}{
		{"main", "MASTER", "10.0.0.8", "10.0.0.9", 150},
		{"backup", "BACKUP", "10.0.0.9", "10.0.0.8", 100},
	} {
		c, _, err := ParseKeepalivedAs("k.conf", []byte(conf), tc.id)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		v := c.VRRP[0]
		if v.State != tc.state || v.Priority != tc.prio || v.UnicastSrcIP.String() != tc.src || len(v.UnicastPeers) != 1 || v.UnicastPeers[0].String() != tc.peer {
			t.Errorf("%s: state %s priority %d src %v peers %v", tc.id, v.State, v.Priority, v.UnicastSrcIP, v.UnicastPeers)
		}
	}
	// Another id keeps only the unconditional lines (and the negations).
	c, _, err := ParseKeepalivedAs("k.conf", []byte(conf), "other")
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.Priority != 100 || len(v.UnicastPeers) != 2 {
		t.Errorf("other: priority %d (keepalived's default 100), peers %v", v.Priority, v.UnicastPeers)
	}
}

// Parameters, as in keepalived's manual: defined on their own line, used
// as $NAME or ${NAME}, replaced recursively at the time of use; undefined
// ones stay; a multiline one makes a whole block.
func TestKeepalivedParameters(t *testing.T) {
	conf := `$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}
$ADDRESS_BASE_SUB=0
@main $PRIORITY=240
@backup $PRIORITY=200
$INSTANCE= \
vrrp_instance VI_${NUM} { \
    interface eth0 \
    virtual_router_id ${NUM} \
    priority $PRIORITY \
    virtual_ipaddress { \
        ${ADDRESS_BASE}.100 \
    } \
    notify_master "/bin/echo $HOME" \
}
$NUM=1
$INSTANCE
$ADDRESS_BASE_SUB=10
$NUM=2
$INSTANCE
`
	c, _, err := ParseKeepalivedAs("k.conf", []byte(conf), "backup")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VRRP) != 2 {
		t.Fatalf("want two instances from $INSTANCE, got %+v", c.VRRP)
	}
	for i, want := range []struct{ name, vip string }{{"VI_1", "10.2.0.100"}, {"VI_2", "10.2.10.100"}} {
		v := c.VRRP[i]
		if v.Name != want.name || v.VirtualRouterID != i+1 || v.Priority != 200 || v.VirtualAddrs[0].String() != want.vip || v.NotifyMaster != "/bin/echo $HOME" {
			t.Errorf("instance %d: %s vrid %d priority %d vip %v notify %q", i, v.Name, v.VirtualRouterID, v.Priority, v.VirtualAddrs, v.NotifyMaster)
		}
	}
	// A problem inside an expansion is reported at the line that used it.
	_, _, err = ParseKeepalivedAs("k.conf", []byte(strings.Replace(conf, "$NUM=2", "$NUM=300", 1)), "backup")
	wantProblem(t, err, "k.conf", 19, "virtual_router_id", "")
}

func TestPreprocLines(t *testing.T) {
	p := &kpreproc{id: "lb1"}
	for _, tc := range []struct{ in, out string }{
		{"@lb1 weight 3", "weight 3"},
		{"  @lb2 weight 3", ""},
		{"@^lb2 weight 4", "weight 4"},
		{"@^lb1 weight 4", ""},
		{"$W=5", ""},
		{"weight $W", "weight 5"},
		{"weight $Wx", "weight $Wx"},             // another name
		{"x${W}y", "x5y"},                        // braces need no blank after
		{"cost $10 # price", "cost $10 # price"}, // not a name
		{"$LOOP=a$LOOP", ""},
		{"$LOOP", strings.Repeat("a", maxSubstitutions) + "$LOOP"}, // bounded
		{"$bad name=1", "$bad name=1"},
	} {
		if got := p.line(tc.in); got != tc.out {
			t.Errorf("line(%q) = %q, want %q", tc.in, got, tc.out)
		}
	}
}
