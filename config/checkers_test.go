package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// kaCheckers has real servers with each new checker, keepalived's defaults
// left out where it has them; the tests name its lines.
const kaCheckers = `virtual_server 10.0.0.1 53 {
    lb_kind DR
    protocol UDP
    real_server 10.0.0.2 53 {
        SMTP_CHECK {
            helo_name lb1.example.com
            connect_port 25
            connect_timeout 3
        }
        SMTP_CHECK {
            connect_ip 10.0.1.2
        }
    }
    real_server 10.0.0.3 53 {
        UDP_CHECK {
            payload 0001 0000 0001
            require_reply 81 xx
            min_reply_length 12
            max_reply_length 512
        }
    }
    real_server 10.0.0.4 53 {
        UDP_CHECK {
        }
    }
    real_server 10.0.0.5 53 {
        PING_CHECK {
            bindto 10.0.0.250
            connect_port 80
        }
    }
    real_server 10.0.0.6 53 {
        delay_loop 9
        DNS_CHECK {
            type aaaa
            name www.example.com
        }
        DNS_CHECK {
            retry 1
            delay_before_retry 2
        }
    }
    delay_loop 7
}
`

func TestKeepalivedNewCheckers(t *testing.T) {
	c, warns, err := ParseKeepalived("k.conf", []byte(kaCheckers))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.Services[0].RealServers
	base := Check{ConnectTimeout: DefaultConnectTimeout, Retry: DefaultRetry, DelayBeforeRetry: DefaultDelayBeforeRetry, Rise: 1, Fall: 1}
	with := func(f func(*Check)) Check {
		ck := base
		f(&ck)
		return ck
	}
	for _, tc := range []struct {
		name string
		got  *Check
		want Check
	}{
		{"SMTP_CHECK", rs[0].Check, with(func(ck *Check) {
			ck.Type, ck.HeloName, ck.ConnectPort, ck.ConnectTimeout, ck.Line = SMTPCheck, "lb1.example.com", 25, 3*time.Second, 5
		})},
		// keepalived 2's HELO name by default.
		{"second SMTP_CHECK", &rs[0].MoreChecks[0], with(func(ck *Check) {
			ck.Type, ck.HeloName, ck.ConnectIP, ck.Line = SMTPCheck, DefaultHeloName, netip.MustParseAddr("10.0.1.2"), 10
		})},
		{"UDP_CHECK", rs[1].Check, with(func(ck *Check) {
			ck.Type, ck.Payload, ck.RequireReply, ck.ReplyPattern, ck.MinReplyLength, ck.MaxReplyLength, ck.Line = UDPCheck, "0001 0000 0001", true, "81 xx", 12, 512, 15
		})},
		{"bare UDP_CHECK", rs[2].Check, with(func(ck *Check) {
			ck.Type, ck.MaxReplyLength, ck.Line = UDPCheck, DefaultMaxReplyLength, 23
		})},
		// connect_port is warned about and dropped: ICMP has no ports.
		{"PING_CHECK", rs[3].Check, with(func(ck *Check) {
			ck.Type, ck.BindTo, ck.Line = PingCheck, netip.MustParseAddr("10.0.0.250"), 27
		})},
		// keepalived's DNS_CHECK retries 3 times, delay_loop apart (the
		// real server's 9 here), asking . SOA by default.
		{"DNS_CHECK", rs[4].Check, with(func(ck *Check) {
			ck.Type, ck.QueryType, ck.QueryName, ck.Retry, ck.DelayBeforeRetry, ck.DelayLoop, ck.Line = DNSCheck, "AAAA", "www.example.com", 3, 9*time.Second, 9*time.Second, 34
		})},
		{"second DNS_CHECK", &rs[4].MoreChecks[0], with(func(ck *Check) {
			ck.Type, ck.QueryType, ck.QueryName, ck.Retry, ck.DelayBeforeRetry, ck.DelayLoop, ck.Line = DNSCheck, "SOA", ".", 1, 2*time.Second, 9*time.Second, 38
		})},
	} {
		if !reflect.DeepEqual(*tc.got, tc.want) {
			t.Errorf("%s\n got %+v\nwant %+v", tc.name, *tc.got, tc.want)
		}
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool {
		return w.Line == 29 && strings.Contains(w.Msg, "connect_port ignored: PING_CHECK sends ICMP")
	}) {
		t.Errorf("no warning about PING_CHECK's connect_port in %v", warns)
	}
	out := assertRoundTrip(t, c)
	for _, frag := range []string{"type: smtp", "helo_name: lb1.example.com", "require_reply: 81 xx", "max_reply_length: 512", "require_reply: false",
		"type: ping", "type: dns", "query_type: AAAA", "query_name: www.example.com", "query_name: ."} {
		if !bytes.Contains(out, []byte(frag)) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}

	// Without a delay_loop of its own, a DNS_CHECK waits the service's
	// (set after the real servers here) before a retry.
	c, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(kaCheckers, "        delay_loop 9\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[4].Check; ck.DelayBeforeRetry != 7*time.Second {
		t.Errorf("DNS_CHECK delay_before_retry %v, want the service's delay_loop 7s", ck.DelayBeforeRetry)
	}
}

// The YAML spelling of the same checks reads into the same configuration.
func TestYAMLNewCheckers(t *testing.T) {
	ka, _, err := ParseKeepalived("k.conf", []byte(kaCheckers))
	if err != nil {
		t.Fatal(err)
	}
	y := `services:
  - vip: 10.0.0.1
    port: 53
    protocol: udp
    delay_loop: 7
    real_servers:
      - address: 10.0.0.2
        checks:
          - {type: smtp, helo_name: lb1.example.com, connect_port: 25, connect_timeout: 3}
          - {type: smtp, connect_ip: 10.0.1.2}
      - address: 10.0.0.3
        check: {type: udp, payload: "0001 0000 0001", require_reply: "81 xx", min_reply_length: 12, max_reply_length: 512}
      - address: 10.0.0.4
        check: {type: udp}
      - address: 10.0.0.5
        check: {type: ping, bindto: 10.0.0.250}
      - address: 10.0.0.6
        checks:
          - {type: dns, query_type: aaaa, query_name: www.example.com, retry: 3, delay_before_retry: 9, delay_loop: 9}
          - {type: dns, retry: 1, delay_before_retry: 2, delay_loop: 9}
`
	c, err := ParseYAML("c.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	assertSameConfig(t, c, ka)
	// require_reply: true needs a reply but no pattern.
	c, err = ParseYAML("c.yaml", []byte(strings.Replace(y, `require_reply: "81 xx", min_reply_length: 12, max_reply_length: 512`, "require_reply: true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[1].Check; !ck.RequireReply || ck.ReplyPattern != "" || ck.MaxReplyLength != DefaultMaxReplyLength {
		t.Errorf("require_reply: true read as %+v", *ck)
	}
}

func TestKeepalivedNewCheckerErrors(t *testing.T) {
	check := func(body string) string { return kaEdit("weight 1", body) }
	for _, tc := range []struct {
		name  string
		conf  string
		line  int
		field string
		msg   string
	}{
		{"bad payload", check("UDP_CHECK {\n payload 00 zz\n }"), 5, "services[0].real_servers[0].check.payload", `'z' is not a hex digit`},
		{"payload without value", check("UDP_CHECK {\n payload\n }"), 5, "payload", "needs a value"},
		{"bad reply pattern", check("UDP_CHECK {\n require_reply 0g\n }"), 5, "check.require_reply", `'g' is not a hex digit or X`},
		{"wildcard in payload", check("UDP_CHECK {\n payload 0x\n }"), 5, "check.payload", `'x' is not a hex digit`},
		{"min above max", check("UDP_CHECK {\n require_reply 01\n min_reply_length 10\n max_reply_length 4\n }"), 6, "check.min_reply_length", "above max_reply_length 4"},
		{"max out of range", check("UDP_CHECK {\n require_reply 01\n max_reply_length 70000\n }"), 6, "check.max_reply_length", "must be 0..65535"},
		{"length not a number", check("UDP_CHECK {\n require_reply 01\n max_reply_length big\n }"), 6, "max_reply_length", "must be an integer"},
		{"unknown dns type", check("DNS_CHECK {\n type PTR\n }"), 5, "check.query_type", `unknown DNS query type "PTR" (want A, NS, CNAME, SOA, MX, TXT, AAAA)`},
		{"dns empty label", check("DNS_CHECK {\n name www..example\n }"), 5, "check.query_name", "empty label"},
		{"dns name of two words", check("DNS_CHECK {\n name a b\n }"), 5, "name", "exactly one value"},
		{"helo with a space", check("SMTP_CHECK {\n helo_name \"a b\"\n }"), 5, "check.helo_name", "one word"},
		{"smtp host block", check("SMTP_CHECK {\n host {\n  connect_ip 10.0.0.9\n }\n }"), 5, "host", "write one SMTP_CHECK per host"},
		{"udp keyword on tcp", check("TCP_CHECK {\n payload 00\n }"), 5, "payload", "not a keyword of TCP_CHECK: keepalived 2.2.7 documents it in UDP_CHECK"},
		{"dns keyword on udp", check("UDP_CHECK {\n type A\n }"), 5, "type", "not a keyword of UDP_CHECK: keepalived 2.2.7 documents it in DNS_CHECK"},
		{"fwmark in a misc checker", check("MISC_CHECK {\n misc_path /bin/true\n fwmark 3\n }"), 6, "fwmark", "not supported in MISC_CHECK"},
		{"bad connect_timeout", check("UDP_CHECK {\n connect_timeout soon\n }"), 5, "connect_timeout", "want seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}

	// Reply lengths without a pattern: keepalived does not check them;
	// warned about and dropped, not silently kept.
	c, warns, err := ParseKeepalived("k.conf", []byte(check("UDP_CHECK {\n require_reply\n max_reply_length 10\n }")))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[0].Check; ck.MaxReplyLength != DefaultMaxReplyLength || !ck.RequireReply {
		t.Errorf("check %+v", *ck)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool {
		return w.Line == 6 && strings.Contains(w.Msg, "max_reply_length ignored: keepalived checks the length of a reply only against a require_reply pattern")
	}) {
		t.Errorf("warnings %v", warns)
	}
}

func TestYAMLNewCheckerErrors(t *testing.T) {
	for _, tc := range []struct {
		name, check, field, msg string
	}{
		{"helo on tcp", "{type: tcp, helo_name: x}", "check.helo_name", "only applies to smtp checks"},
		{"payload on dns", `{type: dns, payload: "00"}`, "check.payload", "only applies to udp checks"},
		{"query on udp", "{type: udp, query_name: example.com}", "check.query_name", "only applies to dns checks"},
		{"bad pattern", `{type: udp, require_reply: "zz"}`, "check.require_reply", `'z' is not a hex digit or X`},
		{"empty pattern", `{type: udp, require_reply: ""}`, "check.require_reply", "want true, false or a hex pattern"},
		{"lengths without pattern", "{type: udp, require_reply: true, max_reply_length: 10}", "check.min_reply_length", "only apply with a require_reply pattern"},
		{"ping port", "{type: ping, connect_port: 80}", "check.connect_port", "does not apply to ping checks"},
		{"unknown type", "{type: bfd}", "check.type", "want tcp, http, https, misc, smtp, udp, ping, dns or file"},
		{"dns name too long", "{type: dns, query_name: " + strings.Repeat("a", 64) + ".example}", "check.query_name", "label longer than 63"},
		{"dns type", "{type: dns, query_type: ANY}", "check.query_type", `unknown DNS query type "ANY"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: "+tc.check)))
			wantProblem(t, err, "t.yaml", 9, tc.field, tc.msg)
		})
	}
}

// bind_if and fwmark, keepalived's socket options of a connecting check,
// are read in keepalived.conf and YAML, survive `xlb config convert`, and
// are refused where they cannot apply.
func TestCheckBindIfFWMark(t *testing.T) {
	ka := func(opts string) string {
		return "virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   connect_timeout 3\n" + opts + "  }\n }\n}\n"
	}
	c, _, err := ParseKeepalived("k.conf", []byte(ka("   bind_if eth1\n   fwmark 0x10\n")))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	if ck.BindIf != "eth1" || ck.FWMark != 16 {
		t.Fatalf("bind_if %q fwmark %d, want eth1 and 16", ck.BindIf, ck.FWMark)
	}
	assertRoundTrip(t, c)
	_, _, err = ParseKeepalived("k.conf", []byte(ka("   fwmark -1\n")))
	wantProblem(t, err, "k.conf", 6, "fwmark", `must be 0..4294967295, got "-1"`)
	_, _, err = ParseKeepalived("k.conf", []byte(ka("   bind_if averyveryverylongname\n")))
	wantProblem(t, err, "k.conf", 6, "bind_if", "is not an interface name")

	y := `services:
  - vip: 10.0.0.1
    port: 80
    protocol: tcp
    real_servers:
      - address: 10.0.0.2
        check: {type: tcp, bind_if: eth1, fwmark: 7}
      - address: 10.0.0.3
        check: {type: misc, script: /bin/true, fwmark: 7}
`
	_, err = ParseYAML("x.yaml", []byte(y))
	wantProblem(t, err, "x.yaml", 9, "services[0].real_servers[1].check.fwmark", "does not apply to misc checks")
	c, err = ParseYAML("x.yaml", []byte(strings.Replace(y, ", fwmark: 7}\n", "}\n", 2)))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[0].Check; ck.BindIf != "eth1" {
		t.Errorf("YAML bind_if %q", ck.BindIf)
	}
}
