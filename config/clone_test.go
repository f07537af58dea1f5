package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// A clone equals its original and shares no memory with it: changing any
// list or pointed-to value of the clone leaves the original as it was.
func TestCloneIsDeep(t *testing.T) {
	c, _, err := ParseKeepalived("sync.conf", []byte(kaSync+kaEdit("weight 1", "HTTP_GET {\n url { path /a }\n url { path /b }\n }\n TCP_CHECK {\n }")))
	if err != nil {
		t.Fatal(err)
	}
	c.BGP = &BGP{LocalASN: 65001, Communities: []string{"65001:1"}, Peers: []BGPPeer{{ASN: 65000}}}
	c.GARPGroups = []GARPGroup{{Interval: time.Second, Interfaces: []string{"eth0"}}}
	c.InterfaceDelays = []InterfaceDelay{{Interface: "eth0", Down: time.Second}}
	n := c.Clone()
	if !reflect.DeepEqual(n, c) {
		t.Fatal("clone differs from the original")
	}
	r := &n.Services[0].RealServers[0]
	r.Weight = 9
	r.Check.Retry = 9
	r.Check.MoreURLs[0].Path = "/x"
	r.MoreChecks[0].Retry = 9
	n.VRRP[0].VirtualAddrs[0] = netip.MustParseAddr("10.9.9.9")
	n.VRRPSyncGroups[0].Group[0] = "VI_9"
	n.BGP.Peers[0].ASN = 1
	n.BGP.Communities[0] = "x"
	n.GARPGroups[0].Interfaces[0] = "x"
	n.InterfaceDelays[0].Down = 0
	o := c.Services[0].RealServers[0]
	if o.Weight != 1 || o.Check.Retry == 9 || o.Check.MoreURLs[0].Path != "/b" || o.MoreChecks[0].Retry == 9 ||
		c.VRRP[0].VirtualAddrs[0].String() != "192.168.101.100" || c.VRRPSyncGroups[0].Group[0] != "VI_1" ||
		c.BGP.Peers[0].ASN != 65000 || c.BGP.Communities[0] != "65001:1" ||
		c.GARPGroups[0].Interfaces[0] != "eth0" || c.InterfaceDelays[0].Down != time.Second {
		t.Errorf("the clone shares memory with the original")
	}
}
