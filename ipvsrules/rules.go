// Package ipvsrules reads the virtual-service table of a plain LVS director
// — ipvsadm-save output (/etc/ipvsadm.rules) or a file of ipvsadm command
// lines — into an xlb configuration, so a director run without keepalived
// can move to xlb without writing its services out again. Each rule is
// applied as the runtime edit of the same name (package control), so a
// rules file means what the same ipvsadm commands typed at `xlb service` /
// `xlb real` would.
package ipvsrules

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/control"
)

// Load reads the rules file at path.
func Load(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ipvsadm rules: %w", err)
	}
	return Parse(path, data)
}

// Parse reads rules (name is for messages) into a validated configuration.
// Every problem is reported with its line; an invalid file yields no
// configuration at all.
func Parse(name string, data []byte) (*config.Config, error) {
	cfg := &config.Config{Source: name, ConnTableSize: config.DefaultConnTableSize, Timeouts: config.DefaultTimeouts}
	var problems []config.Problem
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		words := strings.Fields(raw)
		if len(words) > 0 && (words[0] == "ipvsadm" || strings.HasSuffix(words[0], "/ipvsadm")) {
			words = words[1:] // a command line rather than ipvsadm-save output
		}
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		if err := apply(cfg, words, line); err != nil {
			problems = append(problems, config.Problem{File: name, Line: line, Msg: err.Error()})
		}
	}
	if len(problems) > 0 {
		return nil, &config.ValidationError{Problems: problems}
	}
	if err := cfg.Validate(); err != nil {
		return nil, named(err, name)
	}
	return cfg, nil
}

// named gives validation problems (which know lines, not the file) the
// rules file's name.
func named(err error, name string) error {
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	for i := range ve.Problems {
		ve.Problems[i].File = name
	}
	return ve
}

// command maps an ipvsadm command to xlb's edit.
func command(c string) (control.EditOp, bool) {
	switch c {
	case "-A", "--add-service":
		return control.ServiceAdd, true
	case "-E", "--edit-service":
		return control.ServiceEdit, true
	case "-D", "--delete-service":
		return control.ServiceDel, true
	case "-a", "--add-server":
		return control.RealAdd, true
	case "-e", "--edit-server":
		return control.RealEdit, true
	case "-d", "--delete-server":
		return control.RealDel, true
	}
	return "", false
}

// rule is one line's command and options as read.
type rule struct {
	words []string
	i     int
	edit  control.Edit
	// forward is -g, -i or -m of a real server ("" when not given), and
	// tunType its --tun-type.
	forward string
	tunType config.TunnelType
	tunPort uint16
}

func (r *rule) next(opt string) (string, error) {
	if r.i+1 >= len(r.words) {
		return "", fmt.Errorf("%s needs a value", opt)
	}
	r.i++
	return r.words[r.i], nil
}

func (r *rule) number(opt string) (*int, error) {
	v, err := r.next(opt)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s %q: want a whole number >= 0", opt, v)
	}
	return &n, nil
}

func apply(cfg *config.Config, words []string, line int) error {
	switch words[0] {
	case "-C", "--clear":
		if len(words) > 1 {
			return fmt.Errorf("unexpected %q after %s", words[1], words[0])
		}
		cfg.Services = nil
		return nil
	case "--set":
		return setTimeouts(cfg, words[1:])
	case "--start-daemon", "--stop-daemon":
		return errors.New("the IPVS sync daemon has no place in a rules file; xlb shares flows with `xlb run --sync-peer` (see README)")
	}
	op, ok := command(words[0])
	if !ok {
		return fmt.Errorf("%q is not an ipvsadm command xlb reads (-A -E -D -a -e -d -C --set)", words[0])
	}
	r := &rule{words: words, edit: control.Edit{Op: op}}
	for r.i = 1; r.i < len(words); r.i++ {
		if err := r.option(words[r.i]); err != nil {
			return err
		}
	}
	return r.apply(cfg, line)
}

// option reads one option of a service or real-server command.
func (r *rule) option(opt string) error {
	e := &r.edit
	service := e.Op == control.ServiceAdd || e.Op == control.ServiceEdit
	real := e.Op == control.RealAdd || e.Op == control.RealEdit
	switch {
	case serviceOption(opt) && !service:
		return fmt.Errorf("%s belongs to -A or -E", opt)
	case realOption(opt) && !real:
		return fmt.Errorf("%s belongs to -a or -e", opt)
	}
	var err error
	switch opt {
	case "-t", "--tcp-service", "-u", "--udp-service":
		if e.Protocol != "" {
			return errors.New("one service per rule: -t or -u once")
		}
		e.Protocol = config.TCP
		if opt == "-u" || opt == "--udp-service" {
			e.Protocol = config.UDP
		}
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		if e.Service, err = netip.ParseAddrPort(v); err != nil {
			return fmt.Errorf("service %q: want VIP:PORT ([V6]:PORT for IPv6)%s", v, numericHint(v))
		}
	case "-f", "--fwmark-service":
		return errors.New("fwmark services are not supported: XDP runs before netfilter marks packets")
	case "--sctp-service":
		return errors.New("SCTP services are not supported (tcp and udp)")
	case "-s", "--scheduler":
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		e.Scheduler = config.Scheduler(v)
	case "-p", "--persistent":
		// ipvsadm's -p takes an optional timeout, 300 s when left out.
		p := 300
		if r.i+1 < len(r.words) && !strings.HasPrefix(r.words[r.i+1], "-") {
			n, err := r.number(opt)
			if err != nil {
				return err
			}
			p = *n
		}
		e.Persistence = &p
	case "-M", "--netmask":
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		n, err := config.PrefixLen(v)
		if err != nil {
			return fmt.Errorf("%s: %w", opt, err)
		}
		e.Granularity = &n
	case "-o", "--ops":
		on := true
		e.OPS = &on
	case "-b", "--sched-flags":
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		hash, err := SchedFlags(v)
		if err != nil {
			return fmt.Errorf("%s %w", opt, err)
		}
		if hash {
			e.HashPort = ptr(true)
		}
	case "-r", "--real-server":
		if !real && e.Op != control.RealDel {
			return fmt.Errorf("%s belongs to -a, -e or -d", opt)
		}
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		if e.Real, err = parseReal(v); err != nil {
			return err
		}
	case "-g", "--gatewaying", "-i", "--ipip", "-m", "--masquerading":
		if opt == "-m" || opt == "--masquerading" {
			return errors.New("-m (NAT) is not supported: use direct routing (-g) or tunnelling (-i)")
		}
		r.forward = opt
	case "--tun-type":
		v, err := r.next(opt)
		if err != nil {
			return err
		}
		var ok bool
		if r.tunType, ok = config.ParseTunnelType(v); !ok {
			return fmt.Errorf("--tun-type %q: want ipip, gre or gue", v)
		}
	case "--tun-nocsum":
		// IPVS's default: GRE and GUE without a checksum.
	case "--tun-csum", "--tun-remcsum":
		return fmt.Errorf("%s is not supported: xlb's GRE and GUE carry no checksum", opt)
	case "--tun-port":
		n, err := r.number(opt)
		if err != nil {
			return err
		}
		if *n < 1 || *n > 65535 {
			return fmt.Errorf("--tun-port %d: want 1..65535", *n)
		}
		r.tunPort = uint16(*n)
	case "-w", "--weight":
		e.Weight, err = r.number(opt)
	case "-x", "--u-threshold":
		e.UThreshold, err = r.number(opt)
	case "-y", "--l-threshold":
		e.LThreshold, err = r.number(opt)
	case "--pe":
		return errors.New("persistence engines (--pe sip) are not supported")
	default:
		return fmt.Errorf("option %q is not supported", opt)
	}
	return err
}

func serviceOption(opt string) bool {
	switch opt {
	case "-s", "--scheduler", "-p", "--persistent", "-M", "--netmask", "-o", "--ops", "-b", "--sched-flags", "--pe":
		return true
	}
	return false
}

func realOption(opt string) bool {
	switch opt {
	case "-g", "--gatewaying", "-i", "--ipip", "-m", "--masquerading", "-w", "--weight", "-x", "--u-threshold", "-y", "--l-threshold",
		"--tun-type", "--tun-nocsum", "--tun-csum", "--tun-remcsum", "--tun-port":
		return true
	}
	return false
}

// SchedFlags reads ipvsadm's -b list: sh-port/mh-port (flag-2) hash the
// client port too; sh-fallback/mh-fallback (flag-1) are what xlb's
// tables always do.
func SchedFlags(v string) (hashPort bool, err error) {
	for _, f := range strings.Split(v, ",") {
		switch f {
		case "sh-port", "mh-port", "flag-2":
			hashPort = true
		case "sh-fallback", "mh-fallback", "flag-1":
		default:
			return false, fmt.Errorf("%s: not a scheduler flag xlb knows (sh-port, mh-port, sh-fallback, mh-fallback)", f)
		}
	}
	return hashPort, nil
}

func ptr[T any](v T) *T { return &v }

// parseReal reads -r RIP[:PORT] ([V6]:PORT or a bare IPv6 address).
// numericHint is advice for an address written with names (ipvsadm-save
// without -n prints host and port names, which depend on the resolver of
// the machine that wrote them): "" when v has none.
func numericHint(v string) string {
	host, port := v, ""
	if i := strings.LastIndexByte(v, ':'); i >= 0 && !strings.HasSuffix(v, "]") {
		host, port = v[:i], v[i+1:]
	}
	letter := func(s string) bool { return strings.ContainsFunc(s, unicode.IsLetter) }
	hostName := letter(host) && !strings.Contains(host, ":") // IPv6 has letters too, and colons
	if !hostName && !letter(port) {
		return "" // a mistyped number, not a name
	}
	return "; names (a host or port name, as ipvsadm-save prints without -n) are not read: save the rules with ipvsadm-save -n"
}

func parseReal(v string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddrPort(v); err == nil {
		return a, nil
	}
	a, err := netip.ParseAddr(strings.Trim(v, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("real server %q: want RIP[:PORT]%s", v, numericHint(v))
	}
	return netip.AddrPortFrom(a, 0), nil
}

func (r *rule) apply(cfg *config.Config, line int) error {
	e := r.edit
	if e.Protocol == "" {
		return errors.New("-t VIP:PORT or -u VIP:PORT is required")
	}
	if (e.Op == control.RealAdd || e.Op == control.RealEdit || e.Op == control.RealDel) && !e.Real.IsValid() {
		return errors.New("-r RIP[:PORT] is required")
	}
	if err := e.Apply(cfg); err != nil {
		return err
	}
	s := service(cfg, e)
	if s == nil {
		return nil // deleted
	}
	switch e.Op {
	case control.ServiceAdd:
		s.Line = line
	case control.RealAdd, control.RealEdit:
		for j := range s.RealServers {
			rs := &s.RealServers[j]
			if rs.Address != e.Real.Addr() || (e.Real.Port() != 0 && rs.Port != e.Real.Port()) {
				continue
			}
			if e.Op == control.RealAdd {
				rs.Line = line
			}
		}
		return r.setForward(s)
	}
	return nil
}

// setForward applies -g / -i (-g is ipvsadm's default), which IPVS keeps
// per real server: the first real server of a service sets the service's
// method, a later one that differs keeps its own.
func (r *rule) setForward(s *config.Service) error {
	want := config.DR
	if r.forward == "-i" || r.forward == "--ipip" {
		want = config.TUN
	}
	if r.tunType != config.TunnelIPIP && want != config.TUN {
		return errors.New("--tun-type goes with -i (tunnelling)")
	}
	if (r.tunType == config.TunnelGUE) != (r.tunPort != 0) {
		return errors.New("--tun-type gue and --tun-port go together")
	}
	if r.forward == "" && r.edit.Op == control.RealEdit {
		return nil
	}
	if len(s.RealServers) == 1 {
		s.Forward, s.TunnelType, s.TunnelPort = want, r.tunType, r.tunPort
		rs := &s.RealServers[0]
		rs.Forward, rs.TunnelType, rs.TunnelPort = "", "", 0
		return nil
	}
	e := r.edit
	for j := range s.RealServers {
		rs := &s.RealServers[j]
		if rs.Address != e.Real.Addr() || (e.Real.Port() != 0 && rs.Port != e.Real.Port()) {
			continue
		}
		rs.Forward, rs.TunnelType, rs.TunnelPort = want, r.tunType, r.tunPort
		if want == s.Forward && r.tunType == s.TunnelType && r.tunPort == s.TunnelPort {
			rs.Forward, rs.TunnelType, rs.TunnelPort = "", "", 0
		}
	}
	return nil
}

func service(cfg *config.Config, e control.Edit) *config.Service {
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if s.Protocol == e.Protocol && s.VIP == e.Service.Addr() && s.Port == e.Service.Port() {
			return s
		}
	}
	return nil
}

// setTimeouts reads "--set TCP TCPFIN UDP" (0 leaves one unchanged).
func setTimeouts(cfg *config.Config, args []string) error {
	if len(args) != 3 {
		return errors.New("--set takes three values: TCP TCPFIN UDP (seconds; 0 leaves one unchanged)")
	}
	var secs [3]int
	for i, v := range args {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("--set: timeout %q: want whole seconds >= 0", v)
		}
		secs[i] = n
	}
	return control.Edit{Op: control.TimeoutsSet, Timeouts: control.TimeoutsSecs{TCP: secs[0], TCPFin: secs[1], UDP: secs[2]}}.Apply(cfg)
}
