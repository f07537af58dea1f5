package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xlb-project/xlb/iproute"
)

// Warning is a keepalived.conf statement that xlb ignores because ignoring it
// cannot change how packets are forwarded (mail alerts, router_id…).
// Statements that would change forwarding are errors instead.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	return Problem{File: w.File, Line: w.Line, Msg: w.Msg}.Error()
}

// LoadKeepalived reads and parses a keepalived.conf file, as the director
// with the default config id (DefaultConfigID) would.
func LoadKeepalived(path string) (*Config, []Warning, error) {
	return LoadKeepalivedAs(path, DefaultConfigID())
}

// LoadKeepalivedAs is LoadKeepalived for the director whose config id is
// id (keepalived -i): its "@id" lines are kept, other "@" lines dropped.
func LoadKeepalivedAs(path, id string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read keepalived config: %w", err)
	}
	return ParseKeepalivedAs(path, data, id)
}

// ParseKeepalived parses the subset of keepalived.conf that describes an LVS
// director (vrrp_instance, virtual_server with DR or TUN real servers and
// keepalived's checkers but BFD_CHECK), fills in
// keepalived's defaults and validates the result like ParseYAML. Statements xlb ignores are returned as
// warnings; unsupported statements that matter are errors, so a converted
// configuration never forwards differently from what keepalived would do.
// Warnings are returned even when err is non-nil.
func ParseKeepalived(name string, data []byte) (*Config, []Warning, error) {
	return ParseKeepalivedAs(name, data, DefaultConfigID())
}

// ParseKeepalivedAs is ParseKeepalived with config id id (see
// LoadKeepalivedAs).
func ParseKeepalivedAs(name string, data []byte, id string) (*Config, []Warning, error) {
	ps := newProblems(name)
	r := &kreader{ps: ps, pre: &kpreproc{id: id}}
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	toks := r.read(name, data, []string{abs})
	stmts := kparse(ps, toks)
	k := &kconv{ps: ps, c: &Config{Source: name, ConnTableSize: DefaultConnTableSize, sources: ps.srcs}, globalVersion: DefaultVRRPVersion}
	k.warns = r.warns
	if r.oddSpace > 0 {
		// keepalived would read them as part of the keywords and skip those
		// lines; the intent of such a copied file is plain, so say what was
		// done instead of refusing it.
		k.warnAt(r.oddSpace, "non-ASCII spaces (e.g. no-break spaces from a web page) read as plain spaces; keepalived itself would not recognise those lines")
	}
	if len(ps.list) == 0 && len(stmts) == 0 {
		// keepalived would run with nothing; on a reload that takes every
		// service and VIP down, and an empty file is far more often a
		// half-written one (or an include that matched nothing).
		ps.at(0, "", "no configuration in the file (it is empty, only comments, or includes that matched nothing)")
	}
	if len(ps.list) > 0 {
		// With broken braces every later statement may sit in the wrong
		// block; interpreting them would only add misleading errors.
		return nil, k.warns, ps.err()
	}
	k.top(stmts)
	k.memberWeights()
	k.groupTrackingWarnings()
	tracked, trackedFiles, trackedProcs := k.c.trackedNames()
	for _, sc := range k.c.VRRPScripts {
		if !tracked[sc.Name] {
			k.warnAt(sc.Line, "vrrp_script %s is tracked by no vrrp_instance nor vrrp_sync_group: it will not run", sc.Name)
		}
	}
	// A real server's FILE_CHECK follows the file as well: the file is
	// watched for it, so saying it is not would be wrong.
	for _, s := range k.c.Services {
		for _, r := range s.RealServers {
			for _, ck := range r.MoreChecks {
				trackedFiles[ck.TrackFile] = true
			}
			if r.Check != nil {
				trackedFiles[r.Check.TrackFile] = true
			}
		}
	}
	for _, f := range k.c.VRRPTrackFiles {
		if !trackedFiles[f.Name] {
			k.warnAt(f.Line, "track_file %s is tracked by no vrrp_instance, vrrp_sync_group nor FILE_CHECK: it will not be watched", f.Name)
		}
	}
	for _, tp := range k.c.VRRPTrackProcesses {
		if !trackedProcs[tp.Name] {
			k.warnAt(tp.Line, "vrrp_track_process %s is tracked by no vrrp_instance nor vrrp_sync_group: it will not be counted", tp.Name)
		}
	}
	for _, i := range k.versionUnset {
		v := &k.c.VRRP[i]
		v.Version = k.globalVersion
		if len(v.VirtualAddrs) > 0 && v.VirtualAddrs[0].Is6() {
			v.Version = 3 // keepalived: IPv6 instances use version 3
		}
	}
	for i := range k.c.VRRP {
		// keepalived derives an unset priority from the state: the
		// address owner's 255 for MASTER, else 100.
		v := &k.c.VRRP[i]
		if _, set := ps.lines[fmt.Sprintf("vrrp[%d].priority", i)]; !set && v.Priority == 0 {
			v.Priority = 100
			if v.State == "MASTER" {
				v.Priority = 255
			}
		}
		k.masterPreempts(i)
	}
	k.resolveGARP()
	resolveDownTimer(k.c, k.downTimer, func(field string) bool {
		_, set := ps.lines[field]
		return set
	})
	resolveVRRPGlobals(k.c, k.vrrp, func(field string) bool {
		_, set := ps.lines[field]
		return set
	})
	k.unicastOnly()
	if k.strict != nil || len(k.instanceStrict) > 0 {
		k.applyStrict()
	}
	k.dnsRetryDelays()
	finishDefaults(k.c, func(check string) bool {
		_, set := ps.lines[check+".timeout"]
		return set
	})
	k.c.validate(ps)
	if err := ps.err(); err != nil {
		return nil, k.warns, err
	}
	for _, w := range k.c.scriptWarnings() {
		line := w.line
		if l, ok := ps.lines[w.field]; ok {
			line = l
		}
		k.warnAt(line, "%s", w.msg)
	}
	return k.c, k.warns, nil
}

type kconv struct {
	ps            *problems
	c             *Config
	warns         []Warning
	globalVersion int
	versionUnset  []int  // VRRP instances that take global_defs' vrrp_version
	strict        *kstmt // global_defs' vrrp_strict, nil without
	minGARP       *kstmt // global_defs' vrrp_min_garp, nil without
	// instanceStrict are the vrrp_instances' own strict_mode, over it.
	instanceStrict []instanceStrict
	// groups are the virtual_server_group blocks: their VIP:PORT members.
	groups map[string][]groupMember
	// downTimer is global_defs' vrrp_down_timer_adverts (0: unset).
	downTimer int
	// vrrp are global_defs' defaults of the instances' settings.
	vrrp vrrpGlobals
	// groupTracks are the statements of the vrrp_sync_groups' tracking
	// entries, by group index and kind ("track_script"), in the order of
	// the group's entries: the warnings about members point at them.
	groupTracks map[int]map[string][]*kstmt
	// instTracks are the same for the vrrp_instances' own track_interface,
	// track_script and track_file entries, by instance index.
	instTracks map[int]map[string][]*kstmt
	// fileWeights are the track_file blocks that set a weight (the
	// others' is keepalived's default 1), by name.
	fileWeights map[string]bool
	// defaultIface is global_defs' default_interface: the dev of the
	// static addresses that give none.
	defaultIface string
}

// groupMember is one VIP and port of a virtual_server_group, and its line.
type groupMember struct {
	vip, port string
	line      int
}

func (k *kconv) warn(s *kstmt, format string, args ...any) {
	k.warnAt(s.line, format, args...)
}

// warnAt records a warning at a recorded line (of whichever file holds it).
func (k *kconv) warnAt(line int, format string, args ...any) {
	file, l := k.ps.where(line)
	w := Warning{File: file, Line: l, Msg: fmt.Sprintf(format, args...)}
	// A group's block is read once per member: say things once.
	if !slices.Contains(k.warns, w) {
		k.warns = append(k.warns, w)
	}
}

// fail records an error at statement s; field is the native YAML path it
// would have set, so validation does not repeat the complaint.
func (k *kconv) fail(s *kstmt, field, format string, args ...any) {
	k.failAs(s, s.key, field, format, args...)
}

// failAs is fail for entries of a list block (an address in
// virtual_ipaddress), whose first word is a value, not a keyword: the
// problem is shown under the block's keyword instead.
func (k *kconv) failAs(s *kstmt, shown, field, format string, args ...any) {
	k.ps.broken[field] = true
	k.ps.at(s.line, shown, format, args...)
}

// masterPreempts clears what keepalived 2.2.7 clears of instance i when its
// initial state is MASTER, saying so as it does ("nopreempt will not work
// with initial state MASTER - clearing"): nopreempt and preempt_delay.
// Honoured, they would keep a MASTER that comes back from taking over,
// which keepalived's director would do at once.
func (k *kconv) masterPreempts(i int) {
	v := &k.c.VRRP[i]
	if v.State != "MASTER" {
		return
	}
	line := func(field string) int {
		if l, ok := k.ps.lines[fmt.Sprintf("vrrp[%d].%s", i, field)]; ok {
			return l
		}
		return v.Line
	}
	if !v.Preempt {
		k.warnAt(line("preempt"), "vrrp_instance %s: nopreempt does not work with initial state MASTER: cleared, as keepalived does (use state BACKUP)", v.Name)
		v.Preempt = true
	}
	if v.PreemptDelay > 0 {
		k.warnAt(line("preempt_delay"), "vrrp_instance %s: preempt_delay does not work with initial state MASTER: cleared, as keepalived does (use state BACKUP)", v.Name)
		v.PreemptDelay = 0
	}
}

// unsupported rejects a statement whose effect xlb cannot reproduce, or
// (not a keyword keepalived documents in that block) one that is most
// likely a typo, which keepalived would have skipped with "Unknown keyword".
func (k *kconv) unsupported(s *kstmt, where string) {
	known := keepalivedKeywords(where)
	if strings.HasSuffix(where, "_CHECK") || strings.HasSuffix(where, "_GET") {
		known = checkerKeywords(where)
	}
	if known == nil || slices.Contains(known, s.key) {
		k.ps.at(s.line, s.key, "not supported in %s by xlb, and ignoring it could change forwarding or failover", where)
		return
	}
	if elsewhere := blocksOf(s.key); len(elsewhere) > 0 {
		k.ps.at(s.line, s.key, "not a keyword of %s: keepalived 2.2.7 documents it in %s", where, strings.Join(elsewhere, ", "))
		return
	}
	hint := ""
	if near := closestKeyword(s.key, known); near != "" {
		hint = fmt.Sprintf("; did you mean %s?", near)
	}
	k.ps.at(s.line, s.key, "unknown keyword in %s (keepalived 2.2.7 documents no such keyword there%s)", where, hint)
}

// mark records the YAML field a statement sets, for later messages.
func (k *kconv) mark(s *kstmt, field string) {
	k.ps.seen(field, s.line)
}

// noBlock rejects a block after a keyword that takes none, and returns
// whether the statement may be used.
func (k *kconv) noBlock(s *kstmt, field string) bool {
	if s.hasBlock {
		k.fail(s, field, "takes no { block }")
		return false
	}
	return true
}

// oneArg returns the single argument of s.
func (k *kconv) oneArg(s *kstmt, field string) (string, bool) {
	if !k.noBlock(s, field) {
		return "", false
	}
	if len(s.args) != 1 {
		k.fail(s, field, "takes exactly one value, got %d", len(s.args))
		return "", false
	}
	k.mark(s, field)
	return s.args[0], true
}

// scriptArgs reads the line of a script keyword as keepalived 2 reads it
// (scriptWords: single and double quotes, backslash escapes): the script's
// command line, then any words after it.
func (k *kconv) scriptArgs(s *kstmt, field string) ([]string, bool) {
	if !k.noBlock(s, field) {
		return nil, false
	}
	words, err := scriptWords(s.rawArgs())
	if err != nil {
		// keepalived logs it and runs no script.
		k.fail(s, field, "%v", err)
		return nil, false
	}
	if len(words) == 0 || words[0] == "" {
		k.fail(s, field, "needs a value")
		return nil, false
	}
	return words, true
}

// scriptQuoted says s's script was written with quotes or escapes, so the
// words after it are plainly meant as its user and group.
func scriptQuoted(s *kstmt) bool {
	return s.quoted0 || strings.ContainsAny(s.args[0], `'"\`)
}

// scriptCommand reads "script SCRIPT" (vrrp_script) or "misc_path SCRIPT"
// (MISC_CHECK). keepalived 2.2.7 runs only the first word (quoted: the
// script with its arguments) and drops the rest without a word: xlb does
// the same, and warns.
func (k *kconv) scriptCommand(s *kstmt, field string) (string, bool) {
	words, ok := k.scriptArgs(s, field)
	if !ok {
		return "", false
	}
	k.mark(s, field)
	if len(words) > 1 {
		k.warn(s, "%s runs %q without %q, as keepalived 2 ignores the words after a script; to pass them as arguments quote the script with them (%s \"%s\")",
			s.key, words[0], strings.Join(words[1:], " "), s.key, strings.Join(words, " "))
	}
	return words[0], true
}

// restArgs returns all arguments joined by spaces.
func (k *kconv) restArgs(s *kstmt, field string) (string, bool) {
	if !k.noBlock(s, field) {
		return "", false
	}
	if len(s.args) == 0 {
		k.fail(s, field, "needs a value")
		return "", false
	}
	k.mark(s, field)
	return strings.Join(s.args, " "), true
}

// scriptUser reads "USERNAME [GROUPNAME]" (script_user, user); whether
// they exist is for validation to say.
func (k *kconv) scriptUser(s *kstmt, field string) (ScriptUser, bool) {
	if !k.noBlock(s, field) {
		return ScriptUser{}, false
	}
	if len(s.args) != 1 && len(s.args) != 2 {
		k.fail(s, field, "want %s USERNAME [GROUPNAME], got %d values", s.key, len(s.args))
		return ScriptUser{}, false
	}
	k.mark(s, field)
	u := ScriptUser{User: s.args[0]}
	if len(s.args) == 2 {
		u.Group = s.args[1]
	}
	return u, true
}

// optBool reads a keyword with an optional keepalived <BOOL> (bare: on).
func (k *kconv) optBool(s *kstmt, field string) (bool, bool) {
	if !k.noBlock(s, field) {
		return false, false
	}
	if len(s.args) > 1 {
		k.fail(s, field, "want %s [on|off], got %q", s.key, strings.Join(s.args, " "))
		return false, false
	}
	k.mark(s, field)
	return len(s.args) == 0 || kBool(s.args[0]), true
}

// fifoArg reads "notify_fifo PATH [USERNAME [GROUPNAME]]" (and the vrrp_
// and lvs_ ones): the FIFO and who it is chowned to.
func (k *kconv) fifoArg(s *kstmt, field string, f *NotifyFIFO) {
	if !k.noBlock(s, field) {
		return
	}
	if len(s.args) < 1 || len(s.args) > 3 {
		k.fail(s, field, "want %s PATH [USERNAME [GROUPNAME]], got %d values", s.key, len(s.args))
		return
	}
	k.mark(s, field)
	f.Path = s.args[0]
	if len(s.args) > 1 {
		k.mark(s, field+".user")
		f.Owner = ScriptUser{User: s.args[1]}
		if len(s.args) == 3 {
			f.Owner.Group = s.args[2]
		}
	}
}

func (k *kconv) noArgs(s *kstmt, field string) bool {
	if !k.noBlock(s, field) {
		return false
	}
	if len(s.args) != 0 {
		k.fail(s, field, "takes no value, got %q", strings.Join(s.args, " "))
		return false
	}
	k.mark(s, field)
	return true
}

func (k *kconv) intArg(s *kstmt, field string, dst *int) {
	v, ok := k.oneArg(s, field)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1<<31 || n > 1<<31-1 {
		k.fail(s, field, "must be an integer, got %q", v)
		return
	}
	*dst = n
}

func (k *kconv) portArg(s *kstmt, field string, v string, dst *uint16) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		k.fail(s, field, "invalid port %q", v)
		return
	}
	*dst = uint16(n)
}

// secondsArg reads keepalived's seconds, which may be decimal.
func (k *kconv) secondsArg(s *kstmt, field string, dst *time.Duration) {
	v, ok := k.oneArg(s, field)
	if !ok {
		return
	}
	d, err := parseSeconds(v)
	if err != nil || strings.ContainsAny(v, "_xXpP") {
		k.fail(s, field, "want seconds, got %q", v)
		return
	}
	*dst = d
}

// garpArg reads one gratuitous ARP setting (name as in a vrrp_instance)
// into g; field is the YAML path. Ranges are for validation to check, but a
// repeat of 0 becomes 1 with a warning, as keepalived does.
func (k *kconv) garpArg(s *kstmt, field, name string, g *GARP) {
	for _, f := range garpFields() {
		if f.name != name {
			continue
		}
		if f.dur != nil {
			k.secondsArg(s, field, f.dur(g))
			return
		}
		n := f.num(g)
		k.intArg(s, field, n)
		if *n == 0 && (name == "garp_master_repeat" || name == "garp_master_refresh_repeat") {
			k.warn(s, "%s 0: using 1, as keepalived does", s.key)
			*n = 1
		}
		return
	}
}

// rangeArg reads an integer of lo..hi.
func (k *kconv) rangeArg(s *kstmt, field string, lo, hi int, dst *int) {
	n := lo - 1
	k.intArg(s, field, &n)
	if k.ps.broken[field] {
		return
	}
	if n < lo || n > hi {
		k.fail(s, field, "must be %d..%d, got %d", lo, hi, n)
		return
	}
	*dst = n
}

// groupArg reads global_defs' vrrp_mcast_group4 (v6: vrrp_mcast_group6),
// which must be a VRRP multicast group of its family.
func (k *kconv) groupArg(s *kstmt, v6 bool, dst *netip.Addr) {
	text, ok := k.oneArg(s, s.key)
	if !ok {
		return
	}
	var a netip.Addr
	k.addrArg(s, s.key, text, &a)
	if !a.IsValid() {
		return
	}
	if why := groupProblem(a, v6); why != "" {
		k.fail(s, s.key, "%s", why)
		return
	}
	*dst = a
}

// oldUnicastChecksum reads "old_unicast_checksum [never]" as keepalived
// 2.2.7 does: an unknown mode is ignored with its warning.
func (k *kconv) oldUnicastChecksum(s *kstmt, p string, v *VRRPInstance) {
	field := p + ".unicast_checksum"
	if !k.noBlock(s, field) {
		return
	}
	k.mark(s, field)
	switch {
	case len(s.args) == 0:
		v.UnicastChecksum = "old"
	case s.args[0] == "never":
		v.UnicastChecksum = "standard"
	default:
		k.warn(s, "vrrp_instance %s: unknown old_unicast_checksum mode %s ignored, as keepalived ignores it", v.Name, s.args[0])
	}
}

// unicastOnly drops, with keepalived's warning, the unicast_ttl of an
// instance that has no unicast peers: keepalived resets it ("Cannot use
// unicast_ttl without unicast peers"); and an old_unicast_checksum that
// cannot apply (keepalived only ever changes IPv4 VRRPv3 unicast adverts;
// without peers it warns too).
func (k *kconv) unicastOnly() {
	for i := range k.c.VRRP {
		v := &k.c.VRRP[i]
		if v.UnicastChecksum != "" && !v.oldChecksumApplies() {
			line := v.Line
			if l, ok := k.ps.lines[fmt.Sprintf("vrrp[%d].unicast_checksum", i)]; ok {
				line = l
			}
			k.warnAt(line, "vrrp_instance %s: old_unicast_checksum has no effect: it changes IPv4 VRRPv3 adverts to unicast peers only", v.Name)
			v.UnicastChecksum = ""
		}
		if v.UnicastTTL == 0 || len(v.UnicastPeers) > 0 {
			continue
		}
		line := v.Line
		if l, ok := k.ps.lines[fmt.Sprintf("vrrp[%d].unicast_ttl", i)]; ok {
			line = l
		}
		k.warnAt(line, "vrrp_instance %s: unicast_ttl ignored without unicast_peer, as keepalived ignores it", v.Name)
		v.UnicastTTL = 0
	}
}

func (k *kconv) addrArg(s *kstmt, field, v string, dst *netip.Addr) {
	a, err := parseAddr(v)
	if err != nil {
		k.fail(s, field, "%v", err)
		return
	}
	*dst = a
}

func (k *kconv) top(stmts []*kstmt) {
	// Groups first: a virtual_server may name one defined further down.
	// And the default_interface of static addresses, which may come after
	// them.
	for _, s := range stmts {
		if s.key == "virtual_server_group" {
			k.virtualServerGroup(s)
		}
		if s.key == "global_defs" {
			for _, g := range s.block {
				if g.key == "default_interface" && len(g.args) == 1 && !g.hasBlock {
					k.defaultIface = g.args[0]
				}
			}
		}
	}
	for _, s := range stmts {
		switch s.key {
		case "global_defs":
			k.globalDefs(s)
		case "vrrp_instance":
			k.vrrpInstance(s)
		case "virtual_server":
			k.virtualServer(s)
		case "vrrp_script":
			k.vrrpScript(s)
		case "track_file", "vrrp_track_file":
			// vrrp_track_file is keepalived's older name for the same block.
			k.trackFile(s)
		case "vrrp_track_process":
			k.trackProcess(s)
		case "vrrp_sync_group":
			k.syncGroup(s)
		case "SSL":
			k.sslBlock(s)
		case "virtual_server_group":
			// Read above.
		case "static_ipaddress":
			k.c.StaticAddrs = k.lineBlock(s, s.key, func(l string) (string, error) {
				// keepalived puts an address without dev on
				// global_defs' default_interface.
				if k.defaultIface != "" && !slices.Contains(strings.Fields(l), "dev") {
					l += " dev " + k.defaultIface
				}
				_, err := iproute.ParseAddr(l)
				return l, err
			})
		case "interface_up_down_delays":
			k.interfaceDelays(s)
		case "garp_group":
			k.garpGroup(s)
		case "static_routes":
			k.c.StaticRoutes = k.lineBlock(s, s.key, routeLine)
		case "static_rules":
			k.c.StaticRules = k.lineBlock(s, s.key, ruleLine)
		case "linkbeat_use_polling", "linkbeat_interfaces":
			k.warn(s, "%s ignored: %s", s.key, linkbeatNote)
		case "instance", "use_pid_dir", "child_wait_time":
			// keepalived's own process: its pid files' names and how long
			// it waits for its children at stop.
			k.warn(s, "%s ignored: it configures keepalived's own processes", s.key)
		default:
			hint := ""
			if near := closestKeyword(s.key, keepalivedKeywords("top")); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			k.ps.at(s.line, s.key, "unknown or unsupported top-level keyword %q%s", s.key, hint)
		}
	}
}

// lvsMethod reads "lb_kind|lvs_method DR|TUN [type ipip|gre|gue] [port N]
// [nocsum]" (keepalived 2.2.7's words; at is the service's or server's YAML
// path): NAT and tunnel checksums (csum, remcsum) are refused.
func (k *kconv) lvsMethod(st *kstmt, at string) (Forward, TunnelType, uint16) {
	field := at + ".forward"
	if !k.noBlock(st, field) {
		return "", "", 0
	}
	if len(st.args) == 0 {
		k.fail(st, field, "takes a method: DR or TUN")
		return "", "", 0
	}
	k.mark(st, field)
	var f Forward
	switch v := st.args[0]; strings.ToUpper(v) {
	case "DR":
		f = DR
	case "TUN":
		f = TUN
	case "NAT":
		k.fail(st, field, "NAT is not supported by xlb (only DR and TUN)")
		return "", "", 0
	default:
		k.fail(st, field, "unknown lb_kind %q (want DR or TUN)", v)
		return "", "", 0
	}
	rest := st.args[1:]
	if f == DR && len(rest) > 0 {
		k.fail(st, field, "DR takes no options, got %q", strings.Join(rest, " "))
		return "", "", 0
	}
	var t TunnelType
	var port uint16
	for i := 0; i < len(rest); i++ {
		switch w := strings.ToLower(rest[i]); {
		case w == "type" && i+1 < len(rest):
			i++
			tt, ok := ParseTunnelType(strings.ToLower(rest[i]))
			if !ok {
				k.fail(st, at+".tunnel_type", "unknown TUN type %q (want ipip, gre or gue)", strings.ToLower(rest[i]))
				return "", "", 0
			}
			t = tt
			k.mark(st, at+".tunnel_type")
		case w == "port" && i+1 < len(rest):
			i++
			n, err := strconv.ParseUint(rest[i], 10, 16)
			if err != nil || n == 0 {
				k.fail(st, at+".tunnel_port", "TUN port %q: want 1..65535", rest[i])
				return "", "", 0
			}
			port = uint16(n)
			k.mark(st, at+".tunnel_port")
		case w == "nocsum":
			// keepalived's and IPVS's default: no GRE or UDP checksum.
		case w == "csum" || w == "remcsum":
			k.fail(st, at+".tunnel_type", "TUN %s is not supported by xlb: its GRE and GUE carry no checksum (nocsum)", w)
			return "", "", 0
		default:
			k.fail(st, field, "unknown TUN option %q (want type ipip|gre|gue, port N, nocsum)", rest[i])
			return "", "", 0
		}
	}
	return f, t, port
}

// garpGroup reads "garp_group { garp_interval S; gna_interval S; interface
// IF; interfaces { IF ... } }" as keepalived 2.2.7 does: an interface
// already in a group stays in its first one, and a group without an
// interval is dropped, each with a warning (keepalived's "garp_group
// already specified for IF - ignoring", "garp group does not have any delay
// set - removing").
func (k *kconv) garpGroup(b *kstmt) {
	p := fmt.Sprintf("garp_groups[%d]", len(k.c.GARPGroups))
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, p, "want garp_group { garp_interval SECONDS | gna_interval SECONDS, interface IF | interfaces { IF ... } }")
		return
	}
	k.mark(b, p)
	g := GARPGroup{Line: b.line}
	var intervalAt, naAt *kstmt
	add := func(s *kstmt, name string) {
		for _, o := range k.c.GARPGroups {
			if slices.Contains(o.Interfaces, name) {
				k.warn(s, "garp_group: %s is in an earlier garp_group already (line %d): ignored here, as keepalived ignores it", name, o.Line)
				return
			}
		}
		if slices.Contains(g.Interfaces, name) {
			k.warn(s, "garp_group: %s is named twice", name)
			return
		}
		k.mark(s, fmt.Sprintf("%s.interfaces[%d]", p, len(g.Interfaces)))
		g.Interfaces = append(g.Interfaces, name)
	}
	for _, s := range b.block {
		switch s.key {
		case "garp_interval":
			if !k.again(s, p+".garp_interval", intervalAt) {
				intervalAt = s
				k.secondsArg(s, p+".garp_interval", &g.Interval)
			}
		case "gna_interval":
			if !k.again(s, p+".gna_interval", naAt) {
				naAt = s
				k.secondsArg(s, p+".gna_interval", &g.NAInterval)
			}
		case "interface":
			if n, ok := k.oneArg(s, p+".interfaces"); ok {
				add(s, n)
			}
		case "interfaces":
			if !s.hasBlock || len(s.args) != 0 {
				k.fail(s, p+".interfaces", "want interfaces { IF ... }")
				continue
			}
			if len(s.block) == 0 {
				k.warn(s, "garp_group: empty interfaces block")
			}
			for _, e := range s.block {
				if e.hasBlock || len(e.args) != 0 {
					k.failAs(e, s.key, p+".interfaces", "want one interface name a line, got %q", strings.Join(append([]string{e.key}, e.args...), " "))
					continue
				}
				add(e, e.key)
			}
		default:
			k.unsupported(s, "garp_group")
		}
	}
	// An interval of 0 counts: its interfaces go unpaced, whatever
	// vrrp_garp_interval says.
	if intervalAt == nil && naAt == nil {
		k.warn(b, "garp_group without garp_interval or gna_interval ignored, as keepalived removes it")
		return
	}
	if len(g.Interfaces) == 0 {
		k.warn(b, "garp_group names no interface: ignored")
		return
	}
	k.c.GARPGroups = append(k.c.GARPGroups, g)
}

// interfaceDelays reads "interface_up_down_delays { IFNAME DOWN [UP] ...
// }", seconds (decimals allowed), UP 0 when not given, as keepalived 2.2.7
// reads them.
func (k *kconv) interfaceDelays(b *kstmt) {
	const field = "interface_up_down_delays"
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want interface_up_down_delays { IFNAME DOWN_DELAY [UP_DELAY] ... }")
		return
	}
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, len(k.c.InterfaceDelays))
		k.mark(s, f)
		k.mark(s, f+".interface")
		if s.hasBlock || len(s.args) < 1 || len(s.args) > 2 {
			k.failAs(s, b.key, f, "want IFNAME DOWN_DELAY [UP_DELAY], got %q", strings.Join(append([]string{s.key}, s.args...), " "))
			continue
		}
		e := InterfaceDelay{Interface: s.key, Line: s.line}
		ok := true
		for n, dst := range []*time.Duration{&e.Down, &e.Up}[:len(s.args)] {
			d, err := parseSeconds(s.args[n])
			if err != nil || strings.ContainsAny(s.args[n], "_xXpP") {
				k.failAs(s, b.key, f+"."+[]string{"down", "up"}[n], "want seconds, got %q", s.args[n])
				ok = false
				continue
			}
			k.mark(s, f+"."+[]string{"down", "up"}[n])
			*dst = d
		}
		if ok {
			k.c.InterfaceDelays = append(k.c.InterfaceDelays, e)
		}
	}
}

// globalDefs honours the settings that change forwarding, VRRP or how
// scripts run, and ignores the rest, which configure keepalived itself
// (mail, router_id…).
func (k *kconv) globalDefs(g *kstmt) {
	if !g.hasBlock {
		k.ps.at(g.line, g.key, "needs a { block }")
		return
	}
	for _, s := range g.block {
		switch s.key {
		case "vrrp_version":
			var v int
			k.intArg(s, "vrrp_version", &v)
			if v != 0 {
				k.globalVersion = v
			}
		case "lvs_timeouts":
			k.lvsTimeouts(s)
		case "vrrp_strict":
			if k.noArgs(s, "vrrp_strict") {
				k.strict = s
			}
		case "script_user":
			if u, ok := k.scriptUser(s, "script_user"); ok {
				k.c.ScriptUser = u
			}
		case "enable_script_security":
			if k.noArgs(s, "enable_script_security") {
				k.c.EnableScriptSecurity = true
			}
		case "startup_script":
			k.notifyScript(s, "startup_script", &k.c.StartupScript.Script, &k.c.StartupScript.User)
		case "shutdown_script":
			k.notifyScript(s, "shutdown_script", &k.c.ShutdownScript.Script, &k.c.ShutdownScript.User)
		case "startup_script_timeout":
			k.secondsArg(s, "startup_script_timeout", &k.c.StartupScript.Timeout)
		case "shutdown_script_timeout":
			k.secondsArg(s, "shutdown_script_timeout", &k.c.ShutdownScript.Timeout)
		case "notify_fifo":
			k.fifoArg(s, s.key, &k.c.NotifyFIFO)
		case "vrrp_notify_fifo":
			k.fifoArg(s, s.key, &k.c.VRRPNotifyFIFO)
		case "lvs_notify_fifo":
			k.fifoArg(s, s.key, &k.c.LVSNotifyFIFO)
		case "notify_fifo_script":
			k.notifyScript(s, s.key, &k.c.NotifyFIFO.Script, &k.c.NotifyFIFO.ScriptUser)
		case "vrrp_notify_fifo_script":
			k.notifyScript(s, s.key, &k.c.VRRPNotifyFIFO.Script, &k.c.VRRPNotifyFIFO.ScriptUser)
		case "lvs_notify_fifo_script":
			k.notifyScript(s, s.key, &k.c.LVSNotifyFIFO.Script, &k.c.LVSNotifyFIFO.ScriptUser)
		case "vrrp_notify_priority_changes":
			if on, ok := k.optBool(s, s.key); ok {
				k.c.VRRPNotifyPriorityChanges = on
			}
		case "fifo_write_vrrp_states_on_reload":
			if on, ok := k.optBool(s, s.key); ok {
				k.c.FIFOWriteVRRPStatesOnReload = on
			}
		case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh",
			"vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
			"vrrp_garp_interval", "vrrp_gna_interval":
			k.garpArg(s, s.key, strings.TrimPrefix(s.key, "vrrp_"), &k.c.VRRPGARP)
		case "vrrp_min_garp":
			on := true
			if k.noBlock(s, "vrrp_min_garp") && len(s.args) > 0 {
				on = kBool(s.args[0])
			}
			if on {
				k.minGARP = s
			}
		case "lvs_sync_daemon":
			// What it is for still matters: say how xlb does it.
			k.warn(s, "lvs_sync_daemon ignored: xlb shares flows between directors with xlb run --sync-listen/--sync-peer/--sync-key-file (authenticated UDP); without it, scheduler mh or sh keeps flows on their real server across a failover")
		case "vrrp_startup_delay":
			k.secondsArg(s, "vrrp_startup_delay", &k.c.VRRPStartupDelay)
		case "vrrp_down_timer_adverts":
			k.intArg(s, "vrrp_down_timer_adverts", &k.downTimer)
			if !k.ps.broken["vrrp_down_timer_adverts"] && (k.downTimer < 1 || k.downTimer > maxDownTimerAdverts) {
				k.fail(s, "vrrp_down_timer_adverts", "must be 1..%d, got %d", maxDownTimerAdverts, k.downTimer)
				k.downTimer = 0
			}
		case "vrrp_lower_prio_no_advert":
			if on, ok := k.optBool(s, s.key); ok {
				k.vrrp.lowerPrioNoAdvert = on
			}
		case "vrrp_higher_prio_send_advert":
			if on, ok := k.optBool(s, s.key); ok {
				k.vrrp.higherPrioSendAdvert = on
			}
		case "vrrp_mcast_group4":
			k.groupArg(s, false, &k.vrrp.group4)
		case "vrrp_mcast_group6":
			k.groupArg(s, true, &k.vrrp.group6)
		case "vrrp_garp_extra_if":
			k.warn(s, "vrrp_garp_extra_if ignored: it repeats gratuitous ARPs on VMAC interfaces (or, with all, on the VIPs' other interfaces) that are not an instance's own, and xlb puts every VIP on its instance's interface or use_vmac VMAC")
		case "net_namespace":
			k.unsupported(s, "global_defs")
		case "default_interface":
			// Read by top, for static_ipaddress.
			k.oneArg(s, s.key)
		default:
			k.warn(s, "global_defs: %s ignored", s.key)
		}
	}
}

// resolveGARP applies vrrp_min_garp (one packet, no second burst, no
// refresh, for the global settings the file does not set itself) and gives
// the instances the global gratuitous ARP settings.
func (k *kconv) resolveGARP() {
	set := func(field string) bool {
		_, ok := k.ps.lines[field]
		return ok
	}
	minSet := map[string]bool{}
	if k.minGARP != nil {
		g := &k.c.VRRPGARP
		for field, apply := range map[string]func(){
			"vrrp_garp_master_repeat":  func() { g.MasterRepeat = 1 },
			"vrrp_garp_master_delay":   func() { g.MasterDelay = 0 },
			"vrrp_garp_master_refresh": func() { g.MasterRefresh = 0 },
		} {
			if !set(field) {
				apply()
				minSet[field] = true
			}
		}
	}
	resolveGARP(k.c, func(field string) bool { return minSet[field] || set(field) })
}

// instanceStrict is a vrrp_instance's strict_mode [<BOOL>].
type instanceStrict struct {
	vrrp int
	on   bool
	stmt *kstmt
}

// applyStrict does to each vrrp_instance in strict mode (global_defs'
// vrrp_strict, or its own strict_mode) what keepalived does to it, and
// says what xlb does not do.
func (k *kconv) applyStrict() {
	strict := make([]bool, len(k.c.VRRP))
	for i := range strict {
		strict[i] = k.strict != nil
	}
	for _, is := range k.instanceStrict {
		strict[is.vrrp] = is.on
		if is.on {
			k.warn(is.stmt, "strict_mode: xlb adds no firewall rules for its no_accept mode: the services are forwarded before netfilter (keepalived's rules would drop them), and a master answers on its VIPs (ping)")
		}
	}
	if k.strict != nil {
		k.warn(k.strict, "vrrp_strict: xlb adds no firewall rules for its no_accept mode: the services are forwarded before netfilter (keepalived's rules would drop them), and a master answers on its VIPs (ping) as without vrrp_strict")
	}
	at := func(v *VRRPInstance, field string) int {
		for _, f := range []string{field, field + "[0]"} {
			if l, ok := k.ps.lines[f]; ok {
				return l
			}
		}
		return v.Line
	}
	for i := range k.c.VRRP {
		if !strict[i] {
			continue
		}
		v := &k.c.VRRP[i]
		p := fmt.Sprintf("vrrp[%d]", i)
		if len(v.UnicastPeers) > 0 {
			k.ps.at(at(v, p+".unicast_peer"), "unicast_peer", "not allowed with vrrp_strict (keepalived refuses it too)")
		}
		if v.AuthType != "" {
			k.warnAt(at(v, p+".auth_type"), "vrrp_instance %s: vrrp_strict: authentication ignored, as keepalived does (adverts carry none)", v.Name)
			v.AuthType, v.AuthPass = "", ""
		}
		if v.PreemptDelay > 0 {
			k.warnAt(at(v, p+".preempt_delay"), "vrrp_instance %s: vrrp_strict: preempt_delay ignored, as keepalived does", v.Name)
			v.PreemptDelay = 0
		}
		// keepalived's strict mode sends no gratuitous ARPs for a
		// lower-priority advert; it says so only when the instance asked.
		for _, f := range []string{"garp_lower_prio_repeat", "garp_lower_prio_delay"} {
			if _, set := k.ps.lines[p+"."+f]; set {
				k.warnAt(at(v, p+"."+f), "vrrp_instance %s: vrrp_strict: %s ignored, as keepalived does", v.Name, f)
			}
		}
		v.GARP.LowerPrioRepeat, v.GARP.LowerPrioDelay = 0, 0
		if v.VMACXmitBase {
			k.warnAt(at(v, p+".vmac_xmit_base"), "vrrp_instance %s: vrrp_strict: vmac_xmit_base ignored, as keepalived does (the adverts go from the VMAC)", v.Name)
			v.VMACXmitBase = false
		}
		k.strictAdverts(v, p, at)
		if v.Version == 2 && len(v.VirtualAddrs) > 0 && v.VirtualAddrs[0].Is6() {
			k.warnAt(v.Line, "vrrp_instance %s: vrrp_strict: IPv6 needs VRRP version 3; using it, as keepalived does", v.Name)
			v.Version = 3
		}
	}
}

// strictAdverts does to an instance in strict mode what keepalived does:
// no advert in answer to a lower priority, none before yielding to a
// higher one, saying so where the instance asked otherwise.
func (k *kconv) strictAdverts(v *VRRPInstance, p string, at func(*VRRPInstance, string) int) {
	if _, set := k.ps.lines[p+".lower_prio_no_advert"]; set && !v.LowerPrioNoAdvert {
		k.warnAt(at(v, p+".lower_prio_no_advert"), "vrrp_instance %s: vrrp_strict: lower_prio_no_advert off ignored, as keepalived does", v.Name)
	}
	if _, set := k.ps.lines[p+".higher_prio_send_advert"]; set && v.HigherPrioSendAdvert {
		k.warnAt(at(v, p+".higher_prio_send_advert"), "vrrp_instance %s: vrrp_strict: higher_prio_send_advert ignored, as keepalived does", v.Name)
	}
	v.LowerPrioNoAdvert, v.HigherPrioSendAdvert = true, false
}

// lvsTimeouts reads "lvs_timeouts tcp 900 tcpfin 120 udp 300" (ipvsadm --set).
func (k *kconv) lvsTimeouts(s *kstmt) {
	if !k.noBlock(s, "timeouts") {
		return
	}
	if len(s.args) == 0 || len(s.args)%2 != 0 {
		k.fail(s, "timeouts", "want pairs such as: tcp 900 tcpfin 120 udp 300")
		return
	}
	for i := 0; i < len(s.args); i += 2 {
		var dst *time.Duration
		var field string
		switch s.args[i] {
		case "tcp":
			dst, field = &k.c.Timeouts.TCP, "timeouts.tcp"
		case "tcpfin":
			dst, field = &k.c.Timeouts.TCPFin, "timeouts.tcp_fin"
		case "udp":
			dst, field = &k.c.Timeouts.UDP, "timeouts.udp"
		default:
			k.fail(s, "timeouts", "unknown timeout %q (want tcp, tcpfin or udp)", s.args[i])
			continue
		}
		d, err := parseSeconds(s.args[i+1])
		if err != nil {
			k.fail(s, field, "%s: %v", s.args[i], err)
			continue
		}
		k.mark(s, field)
		*dst = d
	}
}

// harmlessVRRP reports keywords of vrrp_instance that only affect
// notifications or logging, never which director holds a VIP.
// linkbeatNote is why keepalived's linkbeat polling (an MII or ethtool
// ioctl for drivers that do not report their carrier) may be ignored.
const linkbeatNote = "xlb follows every followed interface's state itself (up and carrier, from netlink events and a 0.5 s poll); an interface whose driver reports no carrier counts as up"

func harmlessVRRP(key string) bool {
	switch key {
	case "notify_deleted", "smtp_alert", "debug",
		"lvs_sync_daemon_interface":
		return true
	}
	return false
}

func (k *kconv) vrrpInstance(is *kstmt) {
	i := len(k.c.VRRP)
	p := fmt.Sprintf("vrrp[%d]", i)
	v := newVRRP()
	v.Line = is.line
	if len(is.args) != 1 {
		k.fail(is, p+".name", "needs exactly one name, got %d", len(is.args))
	} else {
		v.Name = is.args[0]
	}
	if !is.hasBlock {
		k.fail(is, p, "needs a { block }")
	}
	versionSet := false
	var tracked []*kstmt        // track_interface entries, as v.TrackInterfaces
	var scripts, files []*kstmt // track_script and track_file entries
	var xmitBase *kstmt         // vmac_xmit_base
	var trackSrc *kstmt         // track_src_ip
	var nativeV6 *kstmt         // native_ipv6
	for _, s := range is.block {
		switch s.key {
		case "state":
			if st, ok := k.oneArg(s, p+".state"); ok {
				v.State = strings.ToUpper(st)
			}
		case "interface":
			if st, ok := k.oneArg(s, p+".interface"); ok {
				v.Interface = st
			}
		case "virtual_router_id":
			k.intArg(s, p+".virtual_router_id", &v.VirtualRouterID)
		case "priority":
			k.intArg(s, p+".priority", &v.Priority)
		case "advert_int":
			k.secondsArg(s, p+".advert_int", &v.AdvertInterval)
		case "version", "vrrp_version":
			versionSet = true
			k.intArg(s, p+".version", &v.Version)
		case "nopreempt":
			if k.noArgs(s, p+".preempt") {
				v.Preempt = false
			}
		case "preempt":
			if k.noArgs(s, p+".preempt") {
				v.Preempt = true
			}
		case "preempt_delay":
			k.secondsArg(s, p+".preempt_delay", &v.PreemptDelay)
		case "down_timer_adverts":
			k.intArg(s, p+".down_timer_adverts", &v.DownTimerAdverts)
			if !k.ps.broken[p+".down_timer_adverts"] && (v.DownTimerAdverts < 1 || v.DownTimerAdverts > maxDownTimerAdverts) {
				k.fail(s, p+".down_timer_adverts", "must be 1..%d, got %d", maxDownTimerAdverts, v.DownTimerAdverts)
			}
		case "authentication":
			k.authentication(s, p, &v)
		case "virtual_ipaddress":
			k.virtualAddresses(s, p+".virtual_ipaddress", &v, &v.VirtualAddrs)
		case "virtual_ipaddress_excluded":
			k.virtualAddresses(s, p+".virtual_ipaddress_excluded", &v, &v.ExcludedAddrs)
		case "virtual_routes":
			v.VirtualRoutes = append(v.VirtualRoutes, k.lineBlock(s, p+".virtual_routes", routeLine)...)
		case "virtual_rules":
			v.VirtualRules = append(v.VirtualRules, k.lineBlock(s, p+".virtual_rules", ruleLine)...)
		case "dont_track_primary":
			if k.noArgs(s, p+".dont_track_primary") {
				v.DontTrackPrimary = true
			}
		case "promote_secondaries":
			if k.noArgs(s, p+".promote_secondaries") {
				v.PromoteSecondaries = true
			}
		case "accept", "check_unicast_src":
			// What xlb does anyway: a master's VIPs take traffic, and
			// only the unicast peers are heard.
			k.noArgs(s, p+"."+s.key)
		case "no_accept":
			k.warn(s, "vrrp_instance %s: no_accept ignored: xlb adds no firewall rules (the services are forwarded before netfilter); a master answers on its VIPs", v.Name)
		case "skip_check_adv_addr":
			k.warn(s, "vrrp_instance %s: skip_check_adv_addr ignored: xlb checks the addresses of every advert", v.Name)
		case "strict_mode":
			on := len(s.args) == 0 || kBool(s.args[0])
			k.instanceStrict = append(k.instanceStrict, instanceStrict{i, on, s})
		case "track_interface":
			tracked = append(tracked, k.trackInterfaces(s, p, &v.TrackInterfaces)...)
		case "track_script":
			scripts = append(scripts, k.trackBlock(s, p, v.tracking())...)
		case "track_file":
			files = append(files, k.trackBlock(s, p, v.tracking())...)
		case "track_process":
			k.trackBlock(s, p, v.tracking())
		case "unicast_src_ip", "mcast_src_ip":
			// keepalived reads both as the adverts' source address.
			if a, ok := k.oneArg(s, p+".unicast_src_ip"); ok {
				k.addrArg(s, p+".unicast_src_ip", a, &v.UnicastSrcIP)
			}
		case "unicast_peer":
			k.unicastPeers(s, p, &v)
		case "unicast_ttl":
			k.rangeArg(s, p+".unicast_ttl", 1, maxUnicastTTL, &v.UnicastTTL)
		case "unicast_fault_no_peer":
			if k.noArgs(s, p+".unicast_fault_no_peer") {
				v.UnicastFaultNoPeer = true
			}
		case "native_ipv6":
			if k.noArgs(s, p+".native_ipv6") {
				nativeV6 = s
			}
		case "track_src_ip":
			if k.noArgs(s, p+".track_src_ip") {
				v.TrackSrcIP = true
				trackSrc = s
			}
		case "old_unicast_checksum":
			k.oldUnicastChecksum(s, p, &v)
		case "mcast_dst_ip":
			if a, ok := k.oneArg(s, p+".mcast_dst_ip"); ok {
				k.addrArg(s, p+".mcast_dst_ip", a, &v.McastDstIP)
			}
		case "kernel_rx_buf_size":
			k.rangeArg(s, p+".kernel_rx_buf_size", 0, maxRxBufSize, &v.KernelRxBufSize)
		case "lower_prio_no_advert":
			if on, ok := k.optBool(s, p+".lower_prio_no_advert"); ok {
				v.LowerPrioNoAdvert = on
			}
		case "higher_prio_send_advert":
			if on, ok := k.optBool(s, p+".higher_prio_send_advert"); ok {
				v.HigherPrioSendAdvert = on
			}
		case "use_vmac":
			k.useVMAC(s, p, &v)
		case "vmac_xmit_base":
			if k.noArgs(s, p+".vmac_xmit_base") {
				v.VMACXmitBase = true
				xmitBase = s
			}
		case "garp_extra_if", "vmac_garp_intvl":
			k.warn(s, "vrrp_instance %s: %s ignored: it repeats gratuitous ARPs on VMAC interfaces (or, with all, on the VIPs' other interfaces) that are not the instance's own, and xlb puts every VIP on the instance's interface or use_vmac VMAC, where keepalived does not repeat them", v.Name, s.key)
		case "notify_master", "notify_backup", "notify_fault":
			k.vrrpNotify(s, p, &v.NotifyMaster, &v.NotifyBackup, &v.NotifyFault, &v.NotifyUsers)
		case "notify":
			k.notifyScript(s, p+".notify", &v.Notify, &v.NotifyUsers.Notify)
		case "notify_stop":
			k.notifyScript(s, p+".notify_stop", &v.NotifyStop, &v.NotifyUsers.Stop)
		case "notify_master_rx_lower_pri":
			k.notifyScript(s, p+".notify_master_rx_lower_pri", &v.NotifyMasterRxLowerPri, &v.NotifyUsers.MasterRxLowerPri)
		case "notify_priority_changes":
			if on, ok := k.optBool(s, p+".notify_priority_changes"); ok {
				v.NotifyPriorityChanges = &on
			}
		case "garp_master_delay", "garp_master_repeat", "garp_master_refresh",
			"garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat":
			k.garpArg(s, p+"."+s.key, s.key, &v.GARP)
		default:
			if s.key == "linkbeat_use_polling" {
				k.warn(s, "vrrp_instance %s: linkbeat_use_polling ignored: %s", v.Name, linkbeatNote)
			} else if harmlessVRRP(s.key) {
				k.warn(s, "vrrp_instance %s: %s ignored", v.Name, s.key)
			} else {
				k.unsupported(s, "vrrp_instance")
			}
		}
	}
	if !versionSet {
		k.versionUnset = append(k.versionUnset, i)
	}
	tracked = k.dropOwnInterface(p, &v, tracked)
	k.vmacRules(is, xmitBase, &v)
	if nativeV6 != nil && slices.ContainsFunc(v.VirtualAddrs, func(a netip.Addr) bool { return a.Unmap().Is4() }) {
		// keepalived drops them ("address family must match VRRP
		// instance - ignoring"), leaving an instance without them.
		k.fail(nativeV6, p+".native_ipv6", "native_ipv6 makes %s an IPv6 instance, but it has IPv4 virtual addresses (keepalived would drop them)", v.Name)
	}
	if v.TrackSrcIP && !v.UnicastSrcIP.IsValid() {
		// keepalived clears it ("Clear track_saddr if no saddr
		// specified"): the default source is followed anyway.
		k.warn(trackSrc, "vrrp_instance %s: track_src_ip ignored without unicast_src_ip (mcast_src_ip), as keepalived ignores it: the interface's own address is followed anyway", v.Name)
		v.TrackSrcIP = false
	}
	if k.instTracks == nil {
		k.instTracks = map[int]map[string][]*kstmt{}
	}
	k.instTracks[i] = map[string][]*kstmt{"track_interface": tracked, "track_script": scripts, "track_file": files}
	k.c.VRRP = append(k.c.VRRP, v)
}

// useVMAC reads "use_vmac [NAME]". keepalived 2.2.7 ignores a name that
// is no interface name (too long, or with a / or space) and uses its
// default vrrp.VRID; so does xlb, with its warning. A MAC address of the
// VMAC's own is refused: xlb only uses the RFC's virtual MAC.
func (k *kconv) useVMAC(s *kstmt, p string, v *VRRPInstance) {
	field := p + ".use_vmac"
	if !k.noBlock(s, field) {
		return
	}
	if len(s.args) > 1 || (len(s.args) == 1 && looksLikeMAC(s.args[0])) {
		k.fail(s, field, "use_vmac with a MAC address is not supported by xlb: its VMAC is always 00:00:5e:00:01:VRID")
		return
	}
	k.mark(s, field)
	v.UseVMAC = true
	if len(s.args) == 0 {
		return
	}
	if why := ifaceNameProblem(s.args[0]); why != "" {
		k.warn(s, "vrrp_instance %s: VMAC interface name %q ignored (%s): vrrp.VRID is used, as keepalived does", v.Name, s.args[0], why)
		return
	}
	v.VMACName = s.args[0]
}

// looksLikeMAC reports whether a is a MAC address of 5 or 6 octets, which
// use_vmac takes after (or instead of) the interface name.
func looksLikeMAC(a string) bool {
	if _, err := net.ParseMAC(a); err == nil {
		return true
	}
	_, err := net.ParseMAC(a + ":00")
	return err == nil && strings.Count(a, ":") == 4
}

// vmacRules applies keepalived's own corrections: vmac_xmit_base without
// use_vmac is ignored, and unicast adverts with use_vmac go from the base
// interface (keepalived sets vmac_xmit_base for them), both with its
// warning.
func (k *kconv) vmacRules(is *kstmt, xmitBase *kstmt, v *VRRPInstance) {
	if v.VMACXmitBase && !v.UseVMAC {
		k.warn(xmitBase, "vrrp_instance %s: vmac_xmit_base ignored: it is only valid with use_vmac", v.Name)
		v.VMACXmitBase = false
	}
	if v.UseVMAC && !v.VMACXmitBase && len(v.UnicastPeers) > 0 {
		k.warn(is, "vrrp_instance %s: unicast with use_vmac requires vmac_xmit_base: set, as keepalived does", v.Name)
		v.VMACXmitBase = true
	}
}

// dropOwnInterface removes a track_interface naming the instance's own
// interface, as keepalived 2.2.7 does ("Ignoring track_interface … since
// own interface", weighted or not, dont_track_primary or not): a file that
// behaved one way under keepalived must not start moving xlb's priority.
// It returns the statements of the entries kept.
func (k *kconv) dropOwnInterface(p string, v *VRRPInstance, tracked []*kstmt) []*kstmt {
	if v.Interface == "" || len(tracked) != len(v.TrackInterfaces) {
		return tracked
	}
	kept := v.TrackInterfaces[:0]
	var keptStmts []*kstmt
	for n, t := range v.TrackInterfaces {
		if t.Name == v.Interface {
			k.warn(tracked[n], "vrrp_instance %s: track_interface %s ignored, as keepalived ignores it: it is the instance's own interface", v.Name, t.Name)
			continue
		}
		// Later problems name the entry by its new index.
		f := fmt.Sprintf("%s.track_interface[%d]", p, len(kept))
		k.mark(tracked[n], f)
		if t.Weight != 0 || len(tracked[n].args) > 0 {
			k.mark(tracked[n], f+".weight")
		}
		kept = append(kept, t)
		keptStmts = append(keptStmts, tracked[n])
	}
	v.TrackInterfaces = kept
	return keptStmts
}

// memberWeights reads the own tracking of sync group members as keepalived
// 2.2.7 does in a group without sync_group_tracking_weight (each checked
// on a running 2.2.7): a weighted track_interface is tracked with weight 0
// ("ignoring veth9 tracked interface weight due to SYNC group": its loss
// faults the group); a weighted track_script is dropped ("ignoring tracked
// script chk with weights"), so is a track_file whose weight someone set
// ("ignoring tracked file tf with weight -5"), while one left at the
// default weight 1 is tracked with weight 0 ("ignoring weight from tracked
// file tf3 … specify weight 0"). Weighted track_process entries stay, as
// they do there.
func (k *kconv) memberWeights() {
	scripts := map[string]int{}
	for _, sc := range k.c.VRRPScripts {
		scripts[sc.Name] = sc.Weight
	}
	files := map[string]int{}
	for _, f := range k.c.VRRPTrackFiles {
		files[f.Name] = f.Weight
	}
	for _, g := range k.c.VRRPSyncGroups {
		if g.TrackingWeight {
			continue
		}
		for i := range k.c.VRRP {
			v := &k.c.VRRP[i]
			st := k.instTracks[i]
			if !slices.Contains(g.Group, v.Name) || st == nil {
				continue
			}
			p := fmt.Sprintf("vrrp[%d]", i)
			if ss := st["track_interface"]; len(ss) == len(v.TrackInterfaces) {
				for n := range v.TrackInterfaces {
					if t := &v.TrackInterfaces[n]; t.Weight != 0 {
						k.warn(ss[n], "vrrp_instance %s: weight of track_interface %s ignored (tracked with weight 0: its loss faults sync group %s), as keepalived does in a sync group without sync_group_tracking_weight", v.Name, t.Name, g.Name)
						t.Weight = 0
					}
				}
			}
			if ss := st["track_script"]; len(ss) == len(v.TrackScripts) {
				var kept []TrackScript
				for n, t := range v.TrackScripts {
					w, _ := t.over(scripts[t.Name], false)
					if k.keepMember(p+".track_script", len(kept), ss[n], &t, w, false, v.Name, g.Name, "track_script") {
						kept = append(kept, t)
					}
				}
				v.TrackScripts = kept
			}
			if ss := st["track_file"]; len(ss) == len(v.TrackFiles) {
				var kept []TrackFile
				for n, e := range v.TrackFiles {
					t := TrackScript(e)
					w, _ := t.over(files[t.Name], false)
					// keepalived's default weight 1: one no block set.
					dflt := !t.WeightSet && !k.fileWeights[t.Name]
					if k.keepMember(p+".track_file", len(kept), ss[n], &t, w, dflt, v.Name, g.Name, "track_file") {
						kept = append(kept, TrackFile(t))
					}
				}
				v.TrackFiles = kept
			}
		}
	}
}

// keepMember judges one track_script or track_file entry t (kind) of a
// sync group member for memberWeights, w its weight (its own or else its
// definition's): kept when that is 0; tracked with weight 0 when it is a
// track_file's default (dflt); dropped otherwise. A kept entry's fields are
// marked at its new index n of field, for later messages.
func (k *kconv) keepMember(field string, n int, s *kstmt, t *TrackScript, w int, dflt bool, inst, group, kind string) bool {
	switch {
	case w == 0:
	case dflt:
		k.warn(s, "vrrp_instance %s: default weight of %s %s ignored (tracked with weight 0: a non-zero value faults sync group %s), as keepalived does in a sync group without sync_group_tracking_weight", inst, kind, t.Name, group)
		t.Weight, t.WeightSet = 0, true
	default:
		k.warn(s, "vrrp_instance %s: %s %s with weight %d ignored, as keepalived ignores it in sync group %s without sync_group_tracking_weight (it neither faults nor moves the instance)", inst, kind, t.Name, w, group)
		return false
	}
	f := fmt.Sprintf("%s[%d]", field, n)
	k.mark(s, f)
	if t.WeightSet {
		k.mark(s, f+".weight")
	}
	return true
}

func (k *kconv) authentication(a *kstmt, p string, v *VRRPInstance) {
	if !a.hasBlock || len(a.args) != 0 {
		k.fail(a, p+".auth_type", "want authentication { auth_type PASS auth_pass SECRET }")
		return
	}
	for _, s := range a.block {
		switch s.key {
		case "auth_type":
			if t, ok := k.oneArg(s, p+".auth_type"); ok {
				v.AuthType = strings.ToUpper(t)
			}
		case "auth_pass":
			if t, ok := k.oneArg(s, p+".auth_pass"); ok {
				v.AuthPass = t
			}
		default:
			k.unsupported(s, "authentication")
		}
	}
}

// virtualAddresses reads lines "A.B.C.D[/len] [dev IF] [label L] [brd B] [scope S]".
// virtualAddresses reads virtual_ipaddress (or virtual_ipaddress_excluded,
// into dst under field) { ADDRESS [dev IF] ... }.
func (k *kconv) virtualAddresses(b *kstmt, field string, v *VRRPInstance, dst *[]netip.Addr) {
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want %s { ADDRESS ... }", b.key)
		return
	}
	k.mark(b, field)
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, len(*dst))
		k.mark(s, f)
		if s.hasBlock {
			k.failAs(s, b.key, f, "an address takes no { block }")
			continue
		}
		text, bits, hasPrefix := strings.Cut(s.key, "/")
		var a netip.Addr
		if parsed, err := parseAddr(text); err != nil {
			k.failAs(s, b.key, f, "%v", err)
		} else {
			a = parsed
		}
		if a.IsValid() && hasPrefix {
			if n, err := strconv.Atoi(bits); err != nil || n < 0 || n > a.BitLen() {
				k.failAs(s, b.key, f, "invalid prefix length %q", bits)
			} else if n != a.BitLen() {
				k.warn(s, "prefix /%d of %s ignored: xlb holds a VIP as a host address (/%d), so no subnet route is added", n, a, a.BitLen())
			}
		}
		for i := 0; i < len(s.args); i += 2 {
			opt := s.args[i]
			if i+1 >= len(s.args) {
				k.failAs(s, b.key, f, "%s needs a value", opt)
				break
			}
			val := s.args[i+1]
			switch opt {
			case "dev":
				if v.Interface != "" && val != v.Interface {
					k.failAs(s, b.key, f, "dev %s differs from the instance's interface %s; xlb puts every VIP of an instance on its interface", val, v.Interface)
				}
			case "label", "brd", "broadcast", "scope":
				k.warn(s, "%s %s of %s ignored", opt, val, s.key)
			default:
				k.failAs(s, b.key, f, "unsupported address option %q", opt)
			}
		}
		*dst = append(*dst, a)
	}
}

// lineBlock reads a block of route, rule or address lines (virtual_routes,
// static_ipaddress…) under field: each entry, as check returns it, must
// read with package iproute's parser, which validation uses again for
// native YAML.
func (k *kconv) lineBlock(b *kstmt, field string, check func(string) (string, error)) []string {
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want %s { LINE ... }", b.key)
		return nil
	}
	k.mark(b, field)
	var out []string
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, len(out))
		k.mark(s, f)
		if s.hasBlock {
			k.failAs(s, b.key, f, "an entry takes no { block }")
			continue
		}
		l, err := check(strings.Join(append([]string{s.key}, s.args...), " "))
		if err != nil {
			k.failAs(s, b.key, f, "%s: %v", l, err)
		}
		out = append(out, l)
	}
	return out
}

func routeLine(l string) (string, error) { return l, routeProblem(l) }

func ruleLine(l string) (string, error) { return l, ruleProblem(l) }

// trackInterfaces reads a track_interface block of a vrrp_instance or
// vrrp_sync_group (p) into dst and returns the statements of the entries
// it added, in their order.
func (k *kconv) trackInterfaces(b *kstmt, p string, dst *[]TrackInterface) []*kstmt {
	field := p + ".track_interface"
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want track_interface { IFNAME ... }")
		return nil
	}
	var added []*kstmt
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, len(*dst))
		k.mark(s, f)
		if s.hasBlock {
			k.failAs(s, b.key, f, "an interface takes no { block }")
			continue
		}
		// "eth1 weight -10" moves the priority instead of faulting;
		// keepalived 2.2.7 takes only "reverse" after it here (not
		// "noreverse", which it does take in track_script and track_file).
		w, rev, _, ok := k.trackWeight(s, b.key, f, false)
		if !ok {
			continue
		}
		*dst = append(*dst, TrackInterface{Name: s.key, Weight: w, Reverse: rev})
		added = append(added, s)
	}
	return added
}

// trackWeight reads the words after the name of a track_interface,
// track_script or track_file entry: nothing, or "weight W" optionally
// followed by "reverse" (or, where noreverse is allowed, "noreverse").
// revSet says a reverse or noreverse word was given.
func (k *kconv) trackWeight(s *kstmt, shown, f string, noreverse bool) (w int, rev, revSet, ok bool) {
	want := "want NAME [weight W [reverse]]"
	if noreverse {
		want = "want NAME [weight W [reverse|noreverse]]"
	}
	switch {
	case len(s.args) == 0:
		return 0, false, false, true
	case s.args[0] != "weight" || len(s.args) < 2 || len(s.args) > 3:
		k.failAs(s, shown, f, "%s, got %q", want, strings.Join(append([]string{s.key}, s.args...), " "))
		return 0, false, false, false
	}
	n, err := strconv.Atoi(s.args[1])
	if err != nil {
		k.failAs(s, shown, f+".weight", "must be an integer, got %q", s.args[1])
		return 0, false, false, false
	}
	k.mark(s, f+".weight")
	if len(s.args) == 3 {
		switch {
		case s.args[2] == "reverse":
			rev, revSet = true, true
		case s.args[2] == "noreverse" && noreverse:
			revSet = true
		default:
			k.failAs(s, shown, f+".reverse", "%s, got %q after the weight", want, s.args[2])
			return 0, false, false, false
		}
	}
	return n, rev, revSet, true
}

// vrrpNotify reads notify_master, notify_backup or notify_fault (s's key)
// of a vrrp_instance or vrrp_sync_group into its script and user.
func (k *kconv) vrrpNotify(s *kstmt, p string, master, backup, fault *string, users *NotifyUsers) {
	dst := map[string]*string{"notify_master": master, "notify_backup": backup, "notify_fault": fault}[s.key]
	user := map[string]*ScriptUser{"notify_master": &users.Master, "notify_backup": &users.Backup, "notify_fault": &users.Fault}[s.key]
	k.notifyScript(s, p+"."+s.key, dst, user)
}

// notifyScript reads keepalived 2's "KEYWORD SCRIPT [USERNAME [GROUPNAME]]"
// of a notify script: the first word (a quoted string is one) is the
// script, the words after it the user and group it runs as. keepalived
// 2.2.7 reads an unquoted "notify_master /x.sh master" as /x.sh run as the
// user master (and runs nothing when there is no such user); xlb reads it
// the same way, and validation says so when the user does not exist.
func (k *kconv) notifyScript(s *kstmt, field string, script *string, user *ScriptUser) {
	words, ok := k.scriptArgs(s, field)
	if !ok {
		return
	}
	if len(words) > 3 {
		k.fail(s, field, "want %s SCRIPT [USERNAME [GROUPNAME]], got %d words: quote a script with arguments (\"/path/script arg\"), as keepalived 2 reads the words after it as the user and group", s.key, len(words))
		return
	}
	k.mark(s, field)
	*script = words[0]
	if len(words) > 1 {
		if !scriptQuoted(s) {
			k.warn(s, "%s runs %q as the user %s, as keepalived 2 reads the words after a script; to pass them as arguments quote the script with them (%s \"%s\")",
				s.key, words[0], strings.Join(words[1:], ":"), s.key, strings.Join(words, " "))
		}
		k.mark(s, field+".user")
		*user = ScriptUser{User: words[1]}
		if len(words) == 3 {
			user.Group = words[2]
		}
	}
}

// syncGroup reads "vrrp_sync_group NAME { group { VI_1 VI_2 } notify_*
// track_* }".
func (k *kconv) syncGroup(b *kstmt) {
	i := len(k.c.VRRPSyncGroups)
	p := fmt.Sprintf("vrrp_sync_groups[%d]", i)
	g := VRRPSyncGroup{Line: b.line}
	if len(b.args) != 1 || !b.hasBlock {
		k.fail(b, p, "want vrrp_sync_group NAME { group { INSTANCE ... } }")
		return
	}
	g.Name = b.args[0]
	k.mark(b, p+".name")
	stmts := map[string][]*kstmt{}
	for _, s := range b.block {
		switch s.key {
		case "track_interface":
			stmts[s.key] = append(stmts[s.key], k.trackInterfaces(s, p, &g.TrackInterfaces)...)
		case "track_script", "track_file", "track_process":
			stmts[s.key] = append(stmts[s.key], k.trackBlock(s, p, g.tracking())...)
		case "group":
			k.mark(s, p+".group")
			if !s.hasBlock || len(s.args) != 0 {
				k.fail(s, p+".group", "want group { INSTANCE ... }")
				continue
			}
			for _, m := range s.block {
				// Names may share a line ("VI_1 VI_2") or stand one a line.
				for _, name := range append([]string{m.key}, m.args...) {
					k.mark(m, fmt.Sprintf("%s.group[%d]", p, len(g.Group)))
					g.Group = append(g.Group, name)
				}
				if m.hasBlock {
					k.failAs(m, s.key, p+".group", "want instance names, not a block")
				}
			}
		case "notify_master", "notify_backup", "notify_fault":
			k.vrrpNotify(s, p, &g.NotifyMaster, &g.NotifyBackup, &g.NotifyFault, &g.NotifyUsers)
		case "notify":
			k.notifyScript(s, p+".notify", &g.Notify, &g.NotifyUsers.Notify)
		case "notify_priority_changes":
			if on, ok := k.optBool(s, p+".notify_priority_changes"); ok {
				g.NotifyPriorityChanges = &on
			}
		case "sync_group_tracking_weight":
			if k.noArgs(s, p+".sync_group_tracking_weight") {
				g.TrackingWeight = true
			}
		case "global_tracking":
			// keepalived 2.2.7 reads it as sync_group_tracking_weight.
			if k.noArgs(s, p+".sync_group_tracking_weight") {
				g.TrackingWeight = true
				k.warn(s, "vrrp_sync_group %s: global_tracking is deprecated (keepalived: use track_interface/script/file on the sync group); read as sync_group_tracking_weight, as keepalived reads it", g.Name)
			}
		case "notify_stop", "smtp_alert", "notify_deleted":
			// As an instance's notify_deleted: a notification only.
			k.warn(s, "vrrp_sync_group: %s ignored", s.key)
		default:
			// track_bfd would move priorities and faults: not ignored.
			k.unsupported(s, "vrrp_sync_group")
		}
	}
	if k.groupTracks == nil {
		k.groupTracks = map[int]map[string][]*kstmt{}
	}
	k.groupTracks[i] = stmts
	k.c.VRRPSyncGroups = append(k.c.VRRPSyncGroups, g)
}

// groupTrackingWarnings says which of a sync group's tracking entries a
// member does not take (Config.MemberTracking), as keepalived logs them:
// those naming what the member tracks itself, whose entry applies, and a
// track_interface of the member's own interface.
func (k *kconv) groupTrackingWarnings() {
	for i := range k.c.VRRPSyncGroups {
		g := &k.c.VRRPSyncGroups[i]
		for _, v := range k.c.VRRP {
			if !slices.Contains(g.Group, v.Name) {
				continue
			}
			g.merge(v, func(kind string, n int, ownIface bool) {
				ss := k.groupTracks[i][kind]
				if n >= len(ss) {
					return
				}
				if ownIface {
					k.warn(ss[n], "vrrp_sync_group %s: track_interface %s ignored for %s, as keepalived ignores it: it is the instance's own interface (which it follows already)", g.Name, ss[n].key, v.Name)
					return
				}
				k.warn(ss[n], "vrrp_sync_group %s: %s %s ignored for %s, as keepalived ignores it: the instance tracks it itself, and its own entry applies", g.Name, kind, ss[n].key, v.Name)
			})
		}
	}
}

// vrrpScript reads "vrrp_script NAME { script ...; interval N; ... }".
func (k *kconv) vrrpScript(b *kstmt) {
	p := fmt.Sprintf("vrrp_scripts[%d]", len(k.c.VRRPScripts))
	sc := newVRRPScript()
	sc.Line = b.line
	if len(b.args) != 1 || !b.hasBlock {
		k.fail(b, p, "want vrrp_script NAME { script ... }")
		return
	}
	sc.Name = b.args[0]
	k.mark(b, p+".name")
	for _, s := range b.block {
		switch s.key {
		case "script":
			if v, ok := k.scriptCommand(s, p+".script"); ok {
				sc.Script = v
			}
		case "interval":
			k.secondsArg(s, p+".interval", &sc.Interval)
		case "timeout":
			k.secondsArg(s, p+".timeout", &sc.Timeout)
		case "weight":
			k.weightArg(s, p, &sc.Weight, &sc.Reverse)
		case "rise":
			k.intArg(s, p+".rise", &sc.Rise)
		case "fall":
			k.intArg(s, p+".fall", &sc.Fall)
		case "init_fail":
			if k.noArgs(s, p+".init_fail") {
				sc.InitFail = true
			}
		case "user":
			if u, ok := k.scriptUser(s, p+".user"); ok {
				sc.User = u
			}
		default:
			k.unsupported(s, "vrrp_script")
		}
	}
	if sc.Timeout == 0 {
		sc.Timeout = sc.Interval
	}
	k.c.VRRPScripts = append(k.c.VRRPScripts, sc)
}

// unicastPeers reads "unicast_peer { IP ... }".
func (k *kconv) unicastPeers(b *kstmt, p string, v *VRRPInstance) {
	field := p + ".unicast_peer"
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want unicast_peer { IP ... }")
		return
	}
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, len(v.UnicastPeers))
		k.mark(s, f)
		if s.hasBlock || len(s.args) != 0 {
			// keepalived 2's per-peer min_ttl / max_ttl: not supported.
			k.failAs(s, b.key, f, "only a plain address is supported, got %q", strings.Join(append([]string{s.key}, s.args...), " "))
			continue
		}
		var a netip.Addr
		k.addrArg(s, f, s.key, &a)
		v.UnicastPeers = append(v.UnicastPeers, a)
	}
}

// weightArg reads "weight W [reverse]" of a vrrp_script or track_file
// block (keepalived 2.2.7 takes no "noreverse" there).
func (k *kconv) weightArg(s *kstmt, p string, w *int, rev *bool) {
	if !k.noBlock(s, p+".weight") {
		return
	}
	if len(s.args) < 1 || len(s.args) > 2 || len(s.args) == 2 && s.args[1] != "reverse" {
		k.fail(s, p+".weight", "want weight W [reverse], got %q", strings.Join(s.args, " "))
		return
	}
	n, err := strconv.Atoi(s.args[0])
	if err != nil {
		k.fail(s, p+".weight", "must be an integer, got %q", s.args[0])
		return
	}
	k.mark(s, p+".weight")
	*w = n
	*rev = len(s.args) == 2
	if *rev {
		k.mark(s, p+".reverse")
	}
}

// trackBlock reads a track_script, track_file or track_process block
// (b's key) of a vrrp_instance or vrrp_sync_group (p) into t, and returns
// the statements of the entries it added, in their order.
func (k *kconv) trackBlock(b *kstmt, p string, t tracking) []*kstmt {
	switch b.key {
	case "track_script":
		es, ss := k.trackEntries(b, p, len(*t.scripts))
		*t.scripts = append(*t.scripts, es...)
		return ss
	case "track_file":
		es, ss := k.trackEntries(b, p, len(*t.files))
		for _, e := range es {
			*t.files = append(*t.files, TrackFile(e))
		}
		return ss
	default:
		es, ss := k.trackEntries(b, p, len(*t.procs))
		for _, e := range es {
			*t.procs = append(*t.procs, TrackProcess(e))
		}
		return ss
	}
}

// trackEntries reads a "track_script|track_file|track_process { NAME
// [weight N [reverse|noreverse]] ... }" (b's key); the three entry types
// share one layout. first is how many entries the instance or group
// already has (an earlier block of the same kind), for field paths. It
// returns the entries and their statements.
func (k *kconv) trackEntries(b *kstmt, p string, first int) ([]TrackScript, []*kstmt) {
	field := p + "." + b.key
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, field, "want %s { NAME ... }", b.key)
		return nil, nil
	}
	var out []TrackScript
	var stmts []*kstmt
	for _, s := range b.block {
		f := fmt.Sprintf("%s[%d]", field, first+len(out))
		k.mark(s, f)
		if s.hasBlock {
			k.failAs(s, b.key, f, "want NAME [weight N]")
			continue
		}
		w, rev, revSet, ok := k.trackWeight(s, b.key, f, true)
		if !ok {
			continue
		}
		out = append(out, TrackScript{Name: s.key, Weight: w, WeightSet: len(s.args) > 0, Reverse: rev, ReverseSet: revSet})
		stmts = append(stmts, s)
	}
	return out, stmts
}

// trackProcess reads "vrrp_track_process NAME { process PATH [PARAMS...];
// param_match [initial|partial]; weight W [reverse]; quorum N;
// quorum_max M; fork_delay S; terminate_delay S; delay S; full_command }",
// keepalived 2.2.7's keywords.
func (k *kconv) trackProcess(b *kstmt) {
	p := fmt.Sprintf("vrrp_track_processes[%d]", len(k.c.VRRPTrackProcesses))
	tp := newVRRPTrackProcess()
	tp.Line = b.line
	if len(b.args) != 1 || !b.hasBlock {
		k.fail(b, p, "want vrrp_track_process NAME { process NAME ... }")
		return
	}
	tp.Name = b.args[0]
	k.mark(b, p+".name")
	// keepalived keeps the first of these and complains about the next;
	// refusing the second says which one counts.
	var processAt, weightAt *kstmt
	for _, s := range b.block {
		switch s.key {
		case "process":
			if !k.noBlock(s, p+".process") {
				continue
			}
			if k.again(s, p+".process", processAt) {
				continue
			}
			processAt = s
			if len(s.args) == 0 {
				k.fail(s, p+".process", "want process NAME [PARAMS...]")
				continue
			}
			k.mark(s, p+".process")
			tp.Process = s.args[0]
			if len(s.args) > 1 {
				k.mark(s, p+".params")
				tp.Params = slices.Clone(s.args[1:])
			}
		case "param_match":
			if !k.noBlock(s, p+".param_match") {
				continue
			}
			k.mark(s, p+".param_match")
			switch {
			case len(s.args) == 0:
				tp.ParamMatch = ParamExact // keepalived's bare param_match
			case len(s.args) == 1 && s.args[0] == "initial":
				tp.ParamMatch = ParamInitial
			case len(s.args) == 1 && s.args[0] == "partial":
				tp.ParamMatch = ParamPartial
			default:
				k.fail(s, p+".param_match", "want param_match [initial|partial] (alone it is an exact match), got %q", strings.Join(s.args, " "))
			}
		case "weight":
			if k.again(s, p+".weight", weightAt) {
				continue
			}
			weightAt = s
			k.weightArg(s, p, &tp.Weight, &tp.Reverse)
		case "quorum":
			k.intArg(s, p+".quorum", &tp.Quorum)
		case "quorum_max":
			k.intArg(s, p+".quorum_max", &tp.QuorumMax)
			tp.HasQuorumMax = true
		case "fork_delay":
			k.secondsArg(s, p+".fork_delay", &tp.ForkDelay)
		case "terminate_delay":
			k.secondsArg(s, p+".terminate_delay", &tp.TerminateDelay)
		case "delay":
			// keepalived's delay sets both.
			k.secondsArg(s, p+".fork_delay", &tp.ForkDelay)
			tp.TerminateDelay = tp.ForkDelay
			k.mark(s, p+".terminate_delay")
		case "full_command":
			if k.noArgs(s, p+".full_command") {
				tp.FullCommand = true
			}
		default:
			k.unsupported(s, "vrrp_track_process")
		}
	}
	tp.Normalize()
	k.c.VRRPTrackProcesses = append(k.c.VRRPTrackProcesses, tp)
}

// trackFile reads "track_file NAME { file PATH; weight W [reverse];
// init_file [VALUE] [overwrite] }" (or vrrp_track_file NAME { ... }).
func (k *kconv) trackFile(b *kstmt) {
	p := fmt.Sprintf("vrrp_track_files[%d]", len(k.c.VRRPTrackFiles))
	tf := newVRRPTrackFile()
	tf.Line = b.line
	if len(b.args) != 1 || !b.hasBlock {
		k.fail(b, p, "want %s NAME { file PATH ... }", b.key)
		return
	}
	tf.Name = b.args[0]
	k.mark(b, p+".name")
	var weightAt *kstmt
	for _, s := range b.block {
		switch s.key {
		case "file":
			if v, ok := k.restArgs(s, p+".file"); ok {
				tf.File = v
			}
		case "weight":
			// keepalived keeps the first weight and complains about the
			// next; refusing the second says which one counts.
			if k.again(s, p+".weight", weightAt) {
				continue
			}
			weightAt = s
			k.weightArg(s, p, &tf.Weight, &tf.Reverse)
			if k.fileWeights == nil {
				k.fileWeights = map[string]bool{}
			}
			k.fileWeights[tf.Name] = true
		case "init_file":
			k.initFile(s, p, &tf)
		default:
			k.unsupported(s, "track_file")
		}
	}
	k.c.VRRPTrackFiles = append(k.c.VRRPTrackFiles, tf)
}

// initFile reads "init_file [VALUE] [overwrite]", the words in any order.
func (k *kconv) initFile(s *kstmt, p string, tf *VRRPTrackFile) {
	field := p + ".init_file"
	if !k.noBlock(s, field) {
		return
	}
	k.mark(s, field)
	tf.InitFile = true
	for _, a := range s.args {
		switch {
		case a == "overwrite":
			k.mark(s, field+".overwrite")
			tf.InitOverwrite = true
		case a != "" && (a[0] == '-' || a[0] >= '0' && a[0] <= '9'):
			n, err := strconv.ParseInt(a, 10, 32)
			if err != nil {
				k.fail(s, field+".value", "must be an integer, got %q", a)
				continue
			}
			k.mark(s, field+".value")
			tf.InitValue = int(n)
			if n < -254 || n > 254 {
				// keepalived writes it too, with the same remark.
				k.warn(s, "track_file %s: init_file value %d is outside the sensible range -254..254", tf.Name, n)
			}
		default:
			k.fail(s, field, "want init_file [VALUE] [overwrite], got %q", a)
		}
	}
}

// harmlessVS reports keywords of virtual_server that xlb may ignore: nat_mask
// only applies to NAT, the rest are alerts and scripts that do not touch the
// service table.
func harmlessVS(key string) bool {
	switch key {
	case "nat_mask", "smtp_alert", "snmp_name", "flag-3":
		return true
	}
	return false
}

// virtualServerGroup reads "virtual_server_group NAME { IP PORT; IP-N PORT
// ... }": VIP:PORT pairs, a range of the address's last byte (IPv4) or
// last group (IPv6) standing for every address in it.
func (k *kconv) virtualServerGroup(g *kstmt) {
	if len(g.args) != 1 || !g.hasBlock {
		k.ps.at(g.line, g.key, "want virtual_server_group NAME { IP PORT ... }")
		return
	}
	if k.groups == nil {
		k.groups = map[string][]groupMember{}
	}
	name := g.args[0]
	if _, dup := k.groups[name]; dup {
		k.ps.at(g.line, g.key, "duplicate virtual_server_group %q", name)
		return
	}
	var members []groupMember
	for _, s := range g.block {
		if s.key == "fwmark" {
			k.ps.at(s.line, s.key, "fwmark members are not supported: the datapath runs before netfilter marks packets")
			continue
		}
		if s.hasBlock || len(s.args) != 1 {
			k.ps.at(s.line, s.key, "want IP PORT or IP-LAST PORT in virtual_server_group")
			continue
		}
		vips, err := expandRange(s.key)
		if err != nil {
			k.ps.at(s.line, s.key, "%v", err)
			continue
		}
		for _, v := range vips {
			members = append(members, groupMember{vip: v, port: s.args[0], line: s.line})
		}
	}
	k.groups[name] = members
}

// maxGroupRange bounds one range of a virtual_server_group.
const maxGroupRange = 256

// expandRange reads "10.0.0.1-10" (the last byte) or "2001:db8::1-ff"
// (the last group, hex) into every address of the range; a plain address
// is itself.
func expandRange(v string) ([]string, error) {
	base, last, isRange := strings.Cut(v, "-")
	if !isRange {
		return []string{v}, nil
	}
	a, err := netip.ParseAddr(base)
	if err != nil {
		return nil, fmt.Errorf("invalid address %q in range %q", base, v)
	}
	b := a.AsSlice()
	var first, end uint64
	if a.Is4() {
		first = uint64(b[3])
		end, err = strconv.ParseUint(last, 10, 8)
	} else {
		first = uint64(b[14])<<8 | uint64(b[15])
		end, err = strconv.ParseUint(last, 16, 16)
	}
	if err != nil || end < first {
		return nil, fmt.Errorf("range %q: the end must be a number at or above %d", v, first)
	}
	if end-first >= maxGroupRange {
		return nil, fmt.Errorf("range %q has more than %d addresses", v, maxGroupRange)
	}
	var out []string
	for n := first; n <= end; n++ {
		if a.Is4() {
			b[3] = byte(n)
		} else {
			b[14], b[15] = byte(n>>8), byte(n)
		}
		ip, _ := netip.AddrFromSlice(b)
		out = append(out, ip.String())
	}
	return out, nil
}

func (k *kconv) virtualServer(vs *kstmt) {
	if len(vs.args) >= 1 && vs.args[0] == "fwmark" {
		k.ps.at(vs.line, vs.key, "virtual_server fwmark is not supported: the datapath runs before netfilter marks packets; write one virtual_server per VIP and port")
		return
	}
	if len(vs.args) == 2 && vs.args[0] == "group" {
		members, ok := k.groups[vs.args[1]]
		if !ok {
			k.ps.at(vs.line, vs.key, "no virtual_server_group %q", vs.args[1])
			return
		}
		// One service per member, each with the whole block.
		for _, m := range members {
			k.virtualServerAt(vs, &kstmt{key: vs.key, args: []string{m.vip, m.port}, line: m.line, hasBlock: vs.hasBlock, block: vs.block})
		}
		return
	}
	k.virtualServerAt(vs, vs)
}

// virtualServerAt reads one service: the block of vs, for the VIP and port
// of at (vs itself, or one member of its group).
func (k *kconv) virtualServerAt(vs, at *kstmt) {
	i := len(k.c.Services)
	p := fmt.Sprintf("services[%d]", i)
	s := newService()
	s.Line = at.line
	// The protocol comes from the block (keepalived's default, UDP, is
	// set at its end with its warning); the forwarding method has none
	// that xlb supports (keepalived defaults to NAT), so it must be written.
	s.Protocol = ""
	s.Forward = ""
	if len(at.args) != 2 {
		k.fail(at, p, "want virtual_server IP PORT { ... }")
		return
	}
	k.mark(at, p+".vip")
	k.mark(at, p+".port")
	k.addrArg(at, p+".vip", at.args[0], &s.VIP)
	k.portArg(at, p+".port", at.args[1], &s.Port)
	if !vs.hasBlock {
		k.fail(vs, p, "needs a { block }")
		return
	}
	type rsInfo struct {
		inhibit *kstmt // the inhibit_on_failure statement, if any
		method  *kstmt // its own lvs_method, if any
	}
	var rss []rsInfo
	var sorryMethod *kstmt
	lbKindSeen, sorryInhibit := false, false
	defaults := inherited(vs.block, false)
	for _, st := range vs.block {
		if checkDefault(st.key, false) {
			continue // read by each real server's check
		}
		switch st.key {
		case "delay_loop":
			k.secondsArg(st, p+".delay_loop", &s.DelayLoop)
		case "lb_algo", "lvs_sched":
			if v, ok := k.oneArg(st, p+".scheduler"); ok {
				s.Scheduler = Scheduler(strings.ToLower(v))
			}
		case "lb_kind", "lvs_method":
			lbKindSeen = true
			s.Forward, s.TunnelType, s.TunnelPort = k.lvsMethod(st, p)
		case "persistence_timeout":
			// keepalived's default when the value is left out is 6 minutes.
			if len(st.args) == 0 && k.noBlock(st, p+".persistence_timeout") {
				k.mark(st, p+".persistence_timeout")
				s.PersistenceTimeout = 360 * time.Second
			} else {
				k.secondsArg(st, p+".persistence_timeout", &s.PersistenceTimeout)
			}
		case "ip_family":
			// keepalived: the family of a fwmark service, else a check
			// that it is the VIP's ("Virtual server specified family
			// inet6 conflicts with server family").
			if v, ok := k.oneArg(st, p+".ip_family"); ok {
				switch {
				case v != "inet" && v != "inet6":
					k.fail(st, p+".ip_family", "unknown address family %q (want inet or inet6)", v)
				case s.VIP.IsValid() && (v == "inet6") != (s.VIP.Is6() && !s.VIP.Is4In6()):
					k.fail(st, p+".ip_family", "%s conflicts with the virtual_server's address %s, as keepalived refuses it", v, s.VIP)
				}
			}
		case "persistence_granularity":
			if v, ok := k.oneArg(st, p+".persistence_granularity"); ok {
				if n, err := PrefixLen(v); err != nil {
					k.fail(st, p+".persistence_granularity", "%v", err)
				} else {
					s.PersistenceGranularity = n
				}
			}
		case "protocol":
			if v, ok := k.oneArg(st, p+".protocol"); ok {
				s.Protocol = Protocol(strings.ToLower(v))
			}
		case "ha_suspend":
			if k.noArgs(st, p+".ha_suspend") {
				s.HASuspend = true
			}
		case "sh-port", "mh-port", "flag-2":
			// flag-2 is sh-port / mh-port spelt as ipvsadm -b flag-2.
			if k.noArgs(st, p+".hash_port") {
				s.HashPort = true
			}
		case "sh-fallback", "mh-fallback", "flag-1":
			// xlb's sh and mh tables hold only the servers that can take
			// new flows, so a flow never hashes to one that cannot: the
			// fallback these ask for is what always happens.
			k.noArgs(st, p+".scheduler")
		case "omega":
			k.warn(st, "omega ignored: xlb runs no notify_down or quorum_down scripts at shutdown")
		case "ops":
			if k.noArgs(st, p+".ops") {
				s.OPS = true
			}
		case "inhibit_on_failure":
			if k.noArgs(st, p+".inhibit_on_failure") {
				s.InhibitOnFailure = true
			}
		case "sorry_server":
			k.sorryServer(st, p+".sorry_server", &s)
		case "quorum":
			k.intArg(st, p+".quorum", &s.Quorum)
		case "hysteresis":
			k.intArg(st, p+".hysteresis", &s.Hysteresis)
		case "quorum_up":
			k.notifyScript(st, p+".quorum_up", &s.QuorumUp, &s.QuorumUpUser)
		case "quorum_down":
			k.notifyScript(st, p+".quorum_down", &s.QuorumDown, &s.QuorumDownUser)
		case "sorry_server_lvs_method":
			sorryMethod = st // compared with the service's once it is read
		case "sorry_server_inhibit":
			if k.noArgs(st, p+".sorry_server.inhibit") {
				sorryInhibit = true
			}
		case "real_server":
			j := len(s.RealServers)
			rs, inhibit, method := k.realServer(st, fmt.Sprintf("%s.real_servers[%d]", p, j), s.Port, defaults)
			s.RealServers = append(s.RealServers, rs)
			rss = append(rss, rsInfo{inhibit, method})
		default:
			if harmlessVS(st.key) {
				k.warn(st, "virtual_server %s %s: %s ignored", vs.args[0], vs.args[1], st.key)
			} else {
				k.unsupported(st, "virtual_server")
			}
		}
	}
	if sorryInhibit && s.SorryServer != nil {
		s.SorryServer.Inhibit = true
	}
	// A real server (or the sorry server) may forward its own way
	// (keepalived's lvs_method in a real_server, sorry_server_lvs_method),
	// as IPVS forwards per real server; the others take the service's.
	methods := []*kstmt{sorryMethod}
	for _, r := range rss {
		methods = append(methods, r.method)
	}
	own := make([]Forward, len(methods))
	tun := make([]TunnelType, len(methods))
	ports := make([]uint16, len(methods))
	for n, m := range methods {
		if m == nil {
			continue
		}
		at := p + ".sorry_server"
		if n > 0 {
			at = fmt.Sprintf("%s.real_servers[%d]", p, n-1)
		}
		own[n], tun[n], ports[n] = k.lvsMethod(m, at)
	}
	if !lbKindSeen {
		// keepalived's default is NAT: only a service whose servers all
		// say how they are forwarded to does without lb_kind.
		if n := slices.Index(own[1:], ""); n >= 0 || len(own) == 1 || (s.SorryServer != nil && own[0] == "") {
			k.fail(vs, p+".forward", "lb_kind is missing: keepalived would use NAT, which xlb does not support; add lb_kind DR")
		} else {
			s.Forward, s.TunnelType, s.TunnelPort = own[1], tun[1], ports[1]
		}
	}
	for n, f := range own {
		if f == "" || (f == s.Forward && tun[n] == s.TunnelType && ports[n] == s.TunnelPort) {
			continue // the service's anyway
		}
		if n == 0 {
			if s.SorryServer != nil {
				s.SorryServer.Forward, s.SorryServer.TunnelType, s.SorryServer.TunnelPort = f, tun[n], ports[n]
			}
			continue
		}
		r := &s.RealServers[n-1]
		r.Forward, r.TunnelType, r.TunnelPort = f, tun[n], ports[n]
	}
	// inhibit_on_failure of a real server wins over its virtual server's;
	// when every server ends up with it, it is the service's.
	all := len(rss) > 0
	for j, r := range rss {
		on := s.InhibitOnFailure
		if r.inhibit != nil {
			on = len(r.inhibit.args) == 0 || kBool(r.inhibit.args[0])
		}
		s.RealServers[j].InhibitOnFailure = on
		all = all && on
	}
	if all || len(rss) == 0 {
		s.InhibitOnFailure = s.InhibitOnFailure || all
		for j := range s.RealServers {
			s.RealServers[j].InhibitOnFailure = false
		}
	} else {
		s.InhibitOnFailure = false
	}
	k.keepaliveDefaults(at, &s)
	s.Name = defaultName(&s)
	k.c.Services = append(k.c.Services, s)
}

// keepaliveDefaults settles what keepalived 2.2.7 settles at the end of a
// virtual_server, with its warnings (as `keepalived -t` prints them): no
// protocol is UDP; a quorum above the real servers' total weight comes
// down to it; a hysteresis not below the quorum comes down to quorum-1.
// (At a total weight of 0 keepalived lowers the quorum to 0 and its
// hysteresis wraps around; xlb keeps the quorum at 1, lost until a
// server has weight.)
func (k *kconv) keepaliveDefaults(at *kstmt, s *Service) {
	name := fmt.Sprintf("virtual_server %s %s", at.args[0], at.args[1])
	if s.Protocol == "" {
		k.warnAt(at.line, "%s: no protocol set: UDP, as keepalived defaults to (write \"protocol TCP\" for a TCP service)", name)
		s.Protocol = UDP
	}
	total := 0
	for _, r := range s.RealServers {
		total += max(r.Weight, 0)
	}
	if total > 0 && s.Quorum > total {
		k.warnAt(at.line, "%s: quorum %d exceeds the real servers' total weight %d: reducing it to %d, as keepalived does", name, s.Quorum, total, total)
		s.Quorum = total
	}
	if q := max(s.Quorum, 1); s.Hysteresis >= q {
		k.warnAt(at.line, "%s: hysteresis %d >= quorum %d: setting it to %d, as keepalived does", name, s.Hysteresis, q, q-1)
		s.Hysteresis = q - 1
	}
}

// sorryServer reads "sorry_server IP PORT" (keepalived requires both).
func (k *kconv) sorryServer(st *kstmt, p string, s *Service) {
	if !k.noBlock(st, p) {
		return
	}
	if len(st.args) != 2 {
		k.fail(st, p, "want sorry_server IP PORT")
		return
	}
	if s.SorryServer != nil {
		k.ps.at(st.line, st.key, "only one sorry_server per virtual_server (first%s)", k.ps.lineRef(s.SorryServer.Line))
		return
	}
	ss := &SorryServer{Line: st.line}
	k.mark(st, p+".address")
	k.mark(st, p+".port")
	k.addrArg(st, p+".address", st.args[0], &ss.Address)
	k.portArg(st, p+".port", st.args[1], &ss.Port)
	s.SorryServer = ss
}

func (k *kconv) realServer(rs *kstmt, p string, svcPort uint16, defaults []*kstmt) (r RealServer, inhibit, method *kstmt) {
	r = newRealServer()
	r.Line = rs.line
	r.Port = svcPort // keepalived lets the port be left out
	switch len(rs.args) {
	case 2:
		k.mark(rs, p+".port")
		k.portArg(rs, p+".port", rs.args[1], &r.Port)
		fallthrough
	case 1:
		k.mark(rs, p+".address")
		k.addrArg(rs, p+".address", rs.args[0], &r.Address)
	default:
		k.fail(rs, p, "want real_server IP [PORT] { ... }")
		return r, nil, nil
	}
	if !rs.hasBlock {
		// keepalived accepts a real_server without a block: weight 1, no check.
		return r, nil, nil
	}
	defaults = append(slices.Clone(defaults), inherited(rs.block, true)...)
	nChecks := 0
	for _, st := range rs.block {
		if checkDefault(st.key, true) {
			continue // read by the check
		}
		switch st.key {
		case "weight":
			k.intArg(st, p+".weight", &r.Weight)
		case "uthreshold":
			k.intArg(st, p+".uthreshold", &r.UThreshold)
		case "lthreshold":
			k.intArg(st, p+".lthreshold", &r.LThreshold)
		case "inhibit_on_failure":
			// keepalived 2: inhibit_on_failure [<BOOL>], over the
			// virtual_server's.
			if k.noBlock(st, p+".inhibit_on_failure") && len(st.args) <= 1 {
				k.mark(st, p+".inhibit_on_failure")
				inhibit = st
			} else if len(st.args) > 1 {
				k.fail(st, p+".inhibit_on_failure", "takes at most one value (on or off)")
			}
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "UDP_CHECK", "PING_CHECK", "DNS_CHECK", "FILE_CHECK":
			// Several checkers: the server is up while all of them pass.
			ck := k.check(st, CheckField(p, nChecks), defaults)
			if nChecks == 0 {
				r.Check = ck
			} else {
				r.MoreChecks = append(r.MoreChecks, *ck)
			}
			nChecks++
		case "notify_up":
			k.notifyScript(st, p+".notify_up", &r.NotifyUp, &r.NotifyUpUser)
		case "notify_down":
			k.notifyScript(st, p+".notify_down", &r.NotifyDown, &r.NotifyDownUser)
		case "lvs_method", "lb_kind":
			method = st // compared with the service's once it is read
		case "snmp_name", "smtp_alert":
			k.warn(st, "real_server: %s ignored", st.key)
		default:
			k.unsupported(st, "real_server")
		}
	}
	return r, inhibit, method
}

// checkDefaults are the checker settings keepalived 2 also takes in a
// virtual_server or real_server, for every check below it (a check's own
// setting wins, then its real server's, then its virtual server's).
// delay_loop of a virtual_server is the service's (Service.DelayLoop).
func checkDefault(key string, inRealServer bool) bool {
	switch key {
	case "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "virtualhost", "alpha", "warmup":
		return true
	case "delay_loop":
		return inRealServer
	}
	return false
}

// inherited collects a block's checker defaults (see checkDefault).
func inherited(block []*kstmt, inRealServer bool) []*kstmt {
	var out []*kstmt
	for _, st := range block {
		if checkDefault(st.key, inRealServer) {
			out = append(out, st)
		}
	}
	return out
}

// kBool reads keepalived's <BOOL>: on|off|true|false|yes|no.
func kBool(v string) bool {
	switch strings.ToLower(v) {
	case "off", "false", "no":
		return false
	}
	return true
}

// check reads a checker block; defaults are the virtual_server's and
// real_server's checker settings, applied first so its own win.
func (k *kconv) check(cs *kstmt, p string, defaults []*kstmt) *Check {
	if cs.key == "FILE_CHECK" {
		// keepalived's FILE_CHECK takes none of the checker settings, nor
		// those of the servers above it.
		return k.fileCheck(cs, p)
	}
	ck := newCheck()
	ck.Line = cs.line
	switch cs.key {
	case "TCP_CHECK":
		ck.Type = TCPCheck
	case "HTTP_GET":
		ck.Type = HTTPCheck
	case "SSL_GET":
		ck.Type = HTTPSCheck
	case "MISC_CHECK":
		ck.Type = MiscCheck
	case "SMTP_CHECK":
		ck.Type = SMTPCheck
	case "UDP_CHECK":
		ck.Type = UDPCheck
	case "PING_CHECK":
		ck.Type = PingCheck
	case "DNS_CHECK":
		ck.Type = DNSCheck
	}
	// keepalived 2's per-checker defaults: HTTP_GET and SSL_GET wait 3 s
	// before a retry, MISC_CHECK does not retry, DNS_CHECK retries 3 times
	// (after delay_loop: see dnsRetryDelays). A UDP reply may be 255 bytes.
	switch {
	case ck.Type.IsHTTP():
		ck.DelayBeforeRetry = 3 * time.Second
	case ck.Type == MiscCheck:
		ck.Retry = 0
	case ck.Type == DNSCheck:
		ck.Retry = DefaultDNSRetry
	case ck.Type == UDPCheck:
		ck.MaxReplyLength = DefaultMaxReplyLength
	}
	if !cs.hasBlock || len(cs.args) != 0 {
		// Without the space before '{' keepalived itself misreads the rest
		// of the file (the seed guide warns about it).
		k.fail(cs, p, "want %s { ... }", cs.key)
		return ck
	}
	var urls []CheckURL
	var vhost *kstmt
	var lengths []*kstmt // UDP_CHECK's min_reply_length, max_reply_length
	for n, st := range append(slices.Clone(defaults), cs.block...) {
		isDefault := n < len(defaults)
		switch {
		case st.key == "alpha":
			// xlb works as alpha does for a server new to the
			// configuration: down until its check passes.
			if len(st.args) > 0 && !kBool(st.args[0]) {
				k.warn(st, "alpha off ignored: xlb starts a real server new to the configuration down until its check passes (alpha mode); one already serving keeps serving when a reload gives it a check")
			}
		case st.key == "warmup":
			k.warn(st, "warmup ignored: xlb checks each real server at once when it starts (the server is down until then)")
		case st.key == "log_all_failures", st.key == "http_protocol" && ck.Type.IsHTTP(), st.key == "fast_recovery" && ck.Type.IsHTTP():
			k.warn(st, "%s ignored (xlb logs every state change; its HTTP checks are HTTP/1.1 with Connection: close, one url each)", st.key)
		case st.key == "delay_loop":
			k.secondsArg(st, p+".delay_loop", &ck.DelayLoop)
		case (st.key == "connect_port" || st.key == "bind_port") && ck.Type == PingCheck:
			k.warn(st, "%s ignored: PING_CHECK sends ICMP, which has no ports", st.key)
		case st.key == "bindto" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".bindto"); ok {
				k.addrArg(st, p+".bindto", v, &ck.BindTo)
			}
		case st.key == "bind_port" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".bind_port"); ok {
				k.portArg(st, p+".bind_port", v, &ck.BindPort)
			}
		case st.key == "bind_if" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".bind_if"); ok {
				ck.BindIf = v
			}
		case st.key == "fwmark" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".fwmark"); ok {
				if n, err := strconv.ParseUint(v, 0, 32); err != nil {
					k.fail(st, p+".fwmark", "must be 0..4294967295, got %q", v)
				} else {
					ck.FWMark = uint32(n)
				}
			}
		case isDefault && (st.key == "virtualhost" && !ck.Type.IsHTTP() || st.key == "connect_timeout" && ck.Type == MiscCheck):
			// A default that does not apply to this kind of check.
		case st.key == "connect_timeout" && ck.Type != MiscCheck:
			k.secondsArg(st, p+".connect_timeout", &ck.ConnectTimeout)
		case st.key == "nb_get_retry" || st.key == "retry":
			k.intArg(st, p+".retry", &ck.Retry)
		case st.key == "delay_before_retry":
			k.secondsArg(st, p+".delay_before_retry", &ck.DelayBeforeRetry)
		case st.key == "connect_port" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".connect_port"); ok {
				k.portArg(st, p+".connect_port", v, &ck.ConnectPort)
			}
		case st.key == "connect_ip" && ck.Type != MiscCheck:
			if v, ok := k.oneArg(st, p+".connect_ip"); ok {
				k.addrArg(st, p+".connect_ip", v, &ck.ConnectIP)
			}
		case st.key == "url" && ck.Type.IsHTTP():
			// Several url blocks: each must pass (keepalived checks them all).
			urls = append(urls, k.url(st, URLField(p, len(urls))))
		case st.key == "virtualhost" && ck.Type.IsHTTP():
			vhost = st // read after the url, whose own virtualhost wins
		case st.key == "enable_sni" && ck.Type == HTTPSCheck:
			if k.noArgs(st, p+".enable_sni") {
				ck.EnableSNI = true
			}
		case st.key == "misc_path" && ck.Type == MiscCheck:
			if v, ok := k.scriptCommand(st, p+".script"); ok {
				ck.Script = v
			}
		case st.key == "misc_dynamic" && ck.Type == MiscCheck:
			if k.noArgs(st, p+".dynamic") {
				ck.Dynamic = true
			}
		case st.key == "misc_timeout" && ck.Type == MiscCheck:
			k.secondsArg(st, p+".timeout", &ck.Timeout)
		case st.key == "user" && ck.Type == MiscCheck:
			if u, ok := k.scriptUser(st, p+".user"); ok {
				ck.User = u
			}
		case st.key == "helo_name" && ck.Type == SMTPCheck:
			if v, ok := k.oneArg(st, p+".helo_name"); ok {
				ck.HeloName = v
			}
		case st.key == "host" && ck.Type == SMTPCheck:
			// keepalived 2 turns each host block into a checker of its
			// own, and its versions differ on whether the SMTP_CHECK's
			// own address is checked as well: spelling it out is the only
			// way to be sure which servers are checked.
			k.ps.at(st.line, st.key, "the deprecated SMTP_CHECK host block is not supported by xlb: write one SMTP_CHECK per host (with its connect_ip / connect_port)")
		case st.key == "payload" && ck.Type == UDPCheck:
			if v, ok := k.restArgs(st, p+".payload"); ok {
				ck.Payload = v
			}
		case st.key == "require_reply" && ck.Type == UDPCheck:
			if k.noBlock(st, p+".require_reply") {
				k.mark(st, p+".require_reply")
				ck.RequireReply = true
				ck.ReplyPattern = strings.Join(st.args, " ")
			}
		case st.key == "min_reply_length" && ck.Type == UDPCheck:
			lengths = append(lengths, st)
			k.intArg(st, p+".min_reply_length", &ck.MinReplyLength)
		case st.key == "max_reply_length" && ck.Type == UDPCheck:
			lengths = append(lengths, st)
			k.intArg(st, p+".max_reply_length", &ck.MaxReplyLength)
		case st.key == "type" && ck.Type == DNSCheck:
			if v, ok := k.oneArg(st, p+".query_type"); ok {
				ck.QueryType = strings.ToUpper(v) // keepalived ignores case
			}
		case st.key == "name" && ck.Type == DNSCheck:
			if v, ok := k.oneArg(st, p+".query_name"); ok {
				ck.QueryName = v
			}
		default:
			k.unsupported(st, cs.key)
		}
	}
	if ck.ReplyPattern == "" && len(lengths) > 0 {
		// keepalived compares the length of a reply only with a pattern.
		for _, st := range lengths {
			k.warn(st, "%s ignored: keepalived checks the length of a reply only against a require_reply pattern", st.key)
		}
		ck.MinReplyLength, ck.MaxReplyLength = 0, DefaultMaxReplyLength
	}
	if vhost != nil {
		// The checker's (or real or virtual server's) virtualhost, for
		// the urls without their own.
		if v, ok := k.oneArg(vhost, p+".virtualhost"); ok {
			for i := range urls {
				if urls[i].VirtualHost == "" {
					urls[i].VirtualHost = v
				}
			}
		}
	}
	if len(urls) > 0 {
		ck.SetFirstURL(urls[0])
		ck.MoreURLs = urls[1:]
		if len(ck.MoreURLs) == 0 {
			ck.MoreURLs = nil
		}
	}
	if ck.Type.IsHTTP() && len(urls) == 0 {
		k.fail(cs, p+".path", "%s needs a url { path ... } block", cs.key)
	}
	typeDefaults(ck)
	return ck
}

// fileCheck reads "FILE_CHECK { track_file NAME; weight W [reverse|noreverse] }"
// (keepalived 2.2.7's keywords; the "dynamic" of its man page is an unknown
// keyword to it, and so to xlb).
func (k *kconv) fileCheck(cs *kstmt, p string) *Check {
	ck := &Check{Type: FileCheck, Line: cs.line}
	if !cs.hasBlock || len(cs.args) != 0 {
		k.fail(cs, p, "want FILE_CHECK { track_file NAME ... }")
		return ck
	}
	var trackAt, weightAt *kstmt
	for _, st := range cs.block {
		switch st.key {
		case "track_file":
			// keepalived takes the last one silently; refusing the second
			// says which file counts.
			if k.again(st, p+".track_file", trackAt) {
				continue
			}
			trackAt = st
			if v, ok := k.oneArg(st, p+".track_file"); ok {
				ck.TrackFile = v
			}
		case "weight":
			if k.again(st, p+".weight", weightAt) {
				continue
			}
			weightAt = st
			k.fileCheckWeight(st, p, ck)
		default:
			k.unsupported(st, "FILE_CHECK")
		}
	}
	if trackAt == nil {
		// keepalived drops such a checker, leaving the server unchecked.
		k.fail(cs, p+".track_file", "needs track_file NAME")
	}
	return ck
}

// fileCheckWeight reads a FILE_CHECK's "weight W [reverse|noreverse]";
// unlike a track_file block's, keepalived takes noreverse here.
func (k *kconv) fileCheckWeight(s *kstmt, p string, ck *Check) {
	if !k.noBlock(s, p+".weight") {
		return
	}
	if len(s.args) < 1 || len(s.args) > 2 || len(s.args) == 2 && s.args[1] != "reverse" && s.args[1] != "noreverse" {
		k.fail(s, p+".weight", "want weight W [reverse|noreverse], got %q", strings.Join(s.args, " "))
		return
	}
	n, err := strconv.Atoi(s.args[0])
	if err != nil {
		k.fail(s, p+".weight", "must be an integer, got %q", s.args[0])
		return
	}
	k.mark(s, p+".weight")
	ck.FileWeight, ck.FileWeightSet = n, true
	if len(s.args) == 2 {
		k.mark(s, p+".reverse")
		ck.FileReverse = s.args[1] == "reverse"
	}
}

// dnsRetryDelays gives each DNS_CHECK without a delay_before_retry (its
// own, its real or virtual server's) keepalived's default for it: the
// check's delay_loop. That is known only once the whole virtual_server is
// read, as its delay_loop may come after the real servers.
func (k *kconv) dnsRetryDelays() {
	for i := range k.c.Services {
		s := &k.c.Services[i]
		for j := range s.RealServers {
			for n, ck := range s.RealServers[j].Checks() {
				f := CheckField(fmt.Sprintf("services[%d].real_servers[%d]", i, j), n) + ".delay_before_retry"
				if _, set := k.ps.lines[f]; ck.Type != DNSCheck || set {
					continue
				}
				ck.DelayBeforeRetry = s.DelayLoop
				if ck.DelayLoop > 0 {
					ck.DelayBeforeRetry = ck.DelayLoop
				}
			}
		}
	}
}

// url reads one url { path ...; digest ...; status_code ...; virtualhost ...;
// regex ... } block; p is its field path (check, or check.urls[N] for the
// later ones).
func (k *kconv) url(u *kstmt, p string) CheckURL {
	var cu CheckURL
	if !u.hasBlock || len(u.args) != 0 {
		k.fail(u, p+".path", "want url { path /PATH ... }")
		return cu
	}
	var rx kregex
	for _, st := range u.block {
		if strings.HasPrefix(st.key, "regex") && k.regexStmt(st, p, &rx, &cu.Regex) {
			continue
		}
		switch st.key {
		case "path":
			if v, ok := k.oneArg(st, p+".path"); ok {
				cu.Path = v
			}
		case "digest":
			if v, ok := k.oneArg(st, p+".digest"); ok {
				cu.Digest = strings.ToLower(v)
			}
		case "status_code":
			// keepalived 2 takes codes and ranges: "200-299 400-499 503",
			// and adds each status_code line's to the url's (a set).
			if len(st.args) == 0 {
				k.fail(st, p+".status_code", "want status codes or ranges such as 200 or 200-299")
			} else if codes, err := ParseStatusCodes(strings.TrimSpace(string(cu.StatusCodes) + " " + strings.Join(st.args, " "))); err != nil {
				k.fail(st, p+".status_code", "%v", err)
			} else {
				cu.StatusCodes = codes
			}
		case "virtualhost":
			if v, ok := k.oneArg(st, p+".virtualhost"); ok {
				cu.VirtualHost = v
			}
		default:
			k.unsupported(st, "url")
		}
	}
	k.regexEnd(&rx, &cu.Regex)
	return cu
}

// kregex holds a url's regex statements, for what keepalived decides
// once the url block ends (url_check in its check_http.c).
type kregex struct {
	pattern, min, max *kstmt
	options           []string
	params            []*kstmt // regex_no_match, regex_options and the offsets
}

// regexStmt reads one of a url's regex keywords into r; false for a key
// that is not one. keepalived reads the pattern as it reads a script's
// line (quotes, and backslash escapes: "\\d" is \d, "\d" is d).
func (k *kconv) regexStmt(st *kstmt, p string, rx *kregex, r *URLRegex) bool {
	field := p + "." + st.key
	switch st.key {
	case "regex":
		if k.again(st, field, rx.pattern) || !k.noBlock(st, field) {
			return true
		}
		rx.pattern = st
		words, err := scriptWords(st.rawArgs())
		if err == nil && len(words) != 1 {
			err = fmt.Errorf("takes one pattern (quote one with spaces), got %d words", len(words))
		}
		if err != nil {
			// keepalived logs it and checks no regex.
			k.fail(st, field, "%v", err)
			return true
		}
		k.mark(st, field)
		r.Pattern = words[0]
	case "regex_no_match":
		if k.noBlock(st, field) {
			k.mark(st, field)
			rx.params = append(rx.params, st)
			r.NoMatch = true
		}
	case "regex_options":
		k.regexOptions(st, field, rx)
		r.Options, _ = CanonRegexOptions(rx.options) // only known words
	case "regex_min_offset":
		if !k.again(st, field, rx.min) {
			rx.min = st
			k.regexOffset(st, field, rx, &r.MinOffset)
		}
	case "regex_max_offset":
		if !k.again(st, field, rx.max) {
			rx.max = st
			r.MaxOffsetSet = k.regexOffset(st, field, rx, &r.MaxOffset)
		}
	case "regex_stack":
		k.warn(st, "regex_stack ignored: it sizes PCRE2's JIT stack, and Go's regexp, which xlb matches with, needs none")
	default:
		return false
	}
	return true
}

// again refuses a second statement of a keyword a block takes once (a
// url's regex or offsets, a track file's or process's weight…), naming
// the line of the first: keepalived keeps the first or the last
// silently, refusing says which one counts.
func (k *kconv) again(st *kstmt, field string, first *kstmt) bool {
	if first != nil {
		k.fail(st, field, "%s is already set%s", st.key, k.ps.lineRef(first.line))
	}
	return first != nil
}

// regexOptions reads regex_options words; keepalived adds up several
// lines, and skips a word it does not know without a word.
func (k *kconv) regexOptions(st *kstmt, field string, rx *kregex) {
	if !k.noBlock(st, field) {
		return
	}
	k.mark(st, field)
	rx.params = append(rx.params, st)
	for _, w := range st.args {
		if !slices.Contains(RegexOptions(), w) {
			k.warn(st, "regex_options %s ignored: not a keepalived 2.2.7 regex option, which keepalived ignores too (its options are %s)", w, strings.Join(RegexOptions(), ", "))
			continue
		}
		rx.options = append(rx.options, w)
	}
}

// regexOffset reads a byte offset into the body.
func (k *kconv) regexOffset(st *kstmt, field string, rx *kregex, dst *int) bool {
	v, ok := k.oneArg(st, field)
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		// keepalived logs it and takes 0 (for regex_max_offset: a
		// match must start at the first byte).
		k.fail(st, field, "must be a byte offset into the body (0 or more), got %q", v)
		return false
	}
	rx.params = append(rx.params, st)
	*dst = int(n)
	return true
}

// regexEnd drops what keepalived drops once the url is read: the regex
// settings of a url without regex, and offsets that leave no room.
func (k *kconv) regexEnd(rx *kregex, r *URLRegex) {
	if r.Pattern == "" {
		if rx.pattern == nil {
			for _, st := range rx.params {
				k.warn(st, "%s ignored: the url has no regex (keepalived ignores it too)", st.key)
			}
		}
		*r = URLRegex{}
		return
	}
	if r.MaxOffsetSet && r.MinOffset > r.MaxOffset {
		k.warn(rx.max, "regex_min_offset %d is beyond regex_max_offset %d: both ignored, as keepalived ignores them", r.MinOffset, r.MaxOffset)
		r.MinOffset, r.MaxOffset, r.MaxOffsetSet = 0, 0, false
	}
}

// PrefixLen reads a persistence granularity as keepalived and ipvsadm -M
// write it: an IPv4 netmask (255.255.255.0) or a prefix length (24, or 64
// for IPv6).
func PrefixLen(v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	m, err := netip.ParseAddr(v)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("want a netmask such as 255.255.255.0 or a prefix length, got %q", v)
	}
	b := m.As4()
	bits := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for bits&(1<<31) != 0 {
		n++
		bits <<= 1
	}
	if bits != 0 {
		return 0, fmt.Errorf("netmask %s is not contiguous", v)
	}
	return n, nil
}
