package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// LoadYAML reads and parses a native xlb YAML configuration file.
func LoadYAML(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseYAML(path, data)
}

// ParseYAML parses a native xlb YAML configuration, fills in defaults and
// validates it. name is used in messages. On failure the error is a
// *ValidationError listing every problem with its file, line and field.
func ParseYAML(name string, data []byte) (*Config, error) {
	ps := newProblems(name)
	root, ok := readYAMLDoc(ps, data)
	if !ok {
		return nil, ps.err()
	}
	if root == nil {
		// An empty file is far more often a half-written or truncated one
		// than a wish to forward nothing, and applying it on a reload would
		// take every service and VIP down. No services is "services: []".
		ps.at(0, "", "no configuration in the file (it is empty or only comments); a director with no services says services: []")
		return nil, ps.err()
	}
	c := &Config{Source: name, ConnTableSize: DefaultConnTableSize}
	// Aliases let a small file name the same node many times; the budget
	// bounds the work to a multiple of the text actually written.
	d := &yamlDecoder{ps: ps, budget: 4*len(data) + 4096}
	d.config(root, c)
	if d.spent {
		return nil, ps.err() // validating a half-expanded document helps no one
	}
	set := func(field string) bool {
		_, set := ps.lines[field]
		return set
	}
	resolveGARP(c, set)
	resolveDownTimer(c, d.downTimer, set)
	resolveVRRPGlobals(c, d.globals, set)
	finishDefaults(c, func(check string) bool {
		_, set := ps.lines[check+".timeout"]
		return set
	})
	c.validate(ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// readYAMLDoc returns the root node of the only document in data, nil for an
// empty file (or one that is only comments or a null), and ok=false after
// recording a syntax problem.
func readYAMLDoc(ps *problems, data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		yamlSyntax(ps, err)
		return nil, false
	}
	var extra yaml.Node
	if err := safeDecode(dec, &extra); err == nil {
		// A second document would be ignored; refusing it avoids applying
		// only half of what the operator wrote.
		ps.at(extra.Line, "", "only one YAML document is allowed")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		yamlSyntax(ps, err)
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if root != nil && root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, true
	}
	return root, true
}

// safeDecode turns a panic of the YAML library into an error: the input comes
// from operators and fuzzers, and a crash of the control plane on a bad file
// would be worse than a refusal.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yamlSyntax records a yaml.v3 error, moving its "line N:" into the Problem.
func yamlSyntax(ps *problems, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, found := strings.CutPrefix(msg, "line "); found {
		if num, after, found := strings.Cut(rest, ":"); found {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, strings.TrimSpace(after)
			}
		}
	}
	// yaml.v3 reports parser (not scanner) errors with a 0-based line, and
	// that line is where the enclosing block or list starts, not where the
	// mistake is; say so rather than point one line off.
	switch msg {
	case "did not find expected node content", "did not find expected '-' indicator",
		"did not find expected key", "did not find expected ',' or ']'",
		"did not find expected ',' or '}'", "did not find expected <document start>":
		if line > 0 || strings.Contains(err.Error(), "line 0:") {
			line++
			msg += " (in the block that starts on this line)"
		}
	}
	ps.at(line, "", "invalid YAML: %s", msg)
}

type yamlDecoder struct {
	ps     *problems
	budget int  // mapping entries and list items left to decode
	spent  bool // the budget ran out and this was reported
	// downTimer is the top-level vrrp_down_timer_adverts (0: unset).
	downTimer int
	// globals are the top-level defaults of the VRRP instances' settings.
	globals vrrpGlobals
}

// spend takes n from the budget and reports whether decoding may go on.
func (d *yamlDecoder) spend(n *yaml.Node, count int) bool {
	d.budget -= count
	if d.budget >= 0 {
		return true
	}
	if !d.spent {
		d.spent = true
		d.ps.at(n.Line, "", "aliases expand the document far beyond its size; write the entries out")
	}
	return false
}

// maxAliasHops bounds alias chains; the schema is shallow, so a longer chain
// is a mistake or an attack, not a configuration.
const maxAliasHops = 32

// deref follows aliases; it never returns nil, so callers can read Kind and
// Line of whatever the document held.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{}
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "not a value"
}

// bad records a problem with the value of a field.
func (d *yamlDecoder) bad(n *yaml.Node, field, format string, args ...any) {
	d.ps.parse(n.Line, field, format, args...)
}

// mapping calls each for every key of n in order; each returns false for a
// key it does not know, which is an error: a misspelt key silently ignored
// would leave a default in force that the operator meant to change.
func (d *yamlDecoder) mapping(n *yaml.Node, path string, each func(key, field string, v *yaml.Node) bool) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.bad(n, path, "must be a mapping, got %s", kindName(n))
		return false
	}
	if !d.spend(n, len(n.Content)/2) {
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.bad(k, path, "keys must be plain names")
			continue
		}
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		if prev, dup := seen[k.Value]; dup {
			d.bad(k, field, "duplicate key (first at line %d)", prev)
			continue
		}
		seen[k.Value] = k.Line
		d.ps.seen(field, k.Line)
		if !each(k.Value, field, v) {
			d.bad(k, field, "unknown key %q", k.Value)
		}
	}
	return true
}

// notify reads a notify script: the command line, or {script: ..., user:
// ...} to run it as another user than script_user (keepalived's
// "notify_master SCRIPT USER [GROUP]").
func (d *yamlDecoder) notify(n *yaml.Node, field string, script *string, user *ScriptUser) {
	if deref(n).Kind != yaml.MappingNode {
		d.str(n, field, script)
		return
	}
	d.mapping(n, field, func(key, f string, v *yaml.Node) bool {
		switch key {
		case "script":
			d.str(v, f, script)
		case "user":
			d.scriptUser(v, f, user)
		default:
			return false
		}
		return true
	})
	if *script == "" {
		d.bad(deref(n), field, "needs a script")
	}
}

// fifo reads a notify FIFO: its path, or {path: ..., user: ...} to chown
// it (keepalived's "notify_fifo PATH USER [GROUP]").
func (d *yamlDecoder) fifo(n *yaml.Node, field string, f *NotifyFIFO) {
	if deref(n).Kind != yaml.MappingNode {
		d.str(n, field, &f.Path)
		return
	}
	d.mapping(n, field, func(key, fl string, v *yaml.Node) bool {
		switch key {
		case "path":
			d.str(v, fl, &f.Path)
		case "user":
			d.scriptUser(v, fl, &f.Owner)
		default:
			return false
		}
		return true
	})
	if f.Path == "" {
		d.bad(deref(n), field, "needs a path")
	}
}

// optBool reads a boolean whose absence means "not set here".
func (d *yamlDecoder) optBool(n *yaml.Node, field string) *bool {
	var b bool
	d.boolean(n, field, &b)
	return &b
}

// scriptUser reads who a script runs as: "USER", "USER GROUP" (as
// keepalived writes it) or {user: USER, group: GROUP}.
func (d *yamlDecoder) scriptUser(n *yaml.Node, field string, dst *ScriptUser) {
	if deref(n).Kind == yaml.MappingNode {
		var u ScriptUser
		d.mapping(n, field, func(key, f string, v *yaml.Node) bool {
			switch key {
			case "user":
				d.str(v, f, &u.User)
			case "group":
				d.str(v, f, &u.Group)
			default:
				return false
			}
			return true
		})
		if u.User == "" {
			d.bad(deref(n), field, "needs a user")
		}
		*dst = u
		return
	}
	var text string
	d.str(n, field, &text)
	words := strings.Fields(text)
	if len(words) != 1 && len(words) != 2 {
		d.bad(deref(n), field, "want \"USER\", \"USER GROUP\" or {user: USER, group: GROUP}, got %q", text)
		return
	}
	*dst = ScriptUser{User: words[0]}
	if len(words) == 2 {
		dst.Group = words[1]
	}
}

func (d *yamlDecoder) sequence(n *yaml.Node, field string) []*yaml.Node {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.bad(n, field, "must be a list, got %s", kindName(n))
		return nil
	}
	if !d.spend(n, len(n.Content)) {
		return nil
	}
	return n.Content
}

func (d *yamlDecoder) scalar(n *yaml.Node, field string) (*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.bad(n, field, "must be a single value, got %s", kindName(n))
		return nil, false
	}
	return n, true
}

func (d *yamlDecoder) str(n *yaml.Node, field string, dst *string) {
	if s, ok := d.scalar(n, field); ok {
		*dst = s.Value
	}
}

// strs reads a sequence of strings, each with its own field and line.
func (d *yamlDecoder) strs(n *yaml.Node, field string) []string {
	var out []string
	for i, sn := range d.sequence(n, field) {
		var v string
		f := fmt.Sprintf("%s[%d]", field, i)
		d.ps.seen(f, deref(sn).Line)
		d.str(sn, f, &v)
		out = append(out, v)
	}
	return out
}

func (d *yamlDecoder) integer(n *yaml.Node, field string, min, max int64) (int64, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	var v int64
	if s.Tag != "!!int" || s.Decode(&v) != nil {
		d.bad(s, field, "must be an integer, got %q", s.Value)
		return 0, false
	}
	if v < min || v > max {
		d.bad(s, field, "must be %d..%d, got %d", min, max, v)
		return 0, false
	}
	return v, true
}

// intField reads an int; the range is left to Validate (which names the
// limits of the field), only int overflow is caught here.
func (d *yamlDecoder) intField(n *yaml.Node, field string, dst *int) {
	if v, ok := d.integer(n, field, math.MinInt32, math.MaxInt32); ok {
		*dst = int(v)
	}
}

// urlKeys are the fields of a url, in a check (its one url) or in an
// entry of its urls.
func urlKeys() []string {
	return []string{"path", "status_code", "digest", "virtualhost",
		"regex", "regex_no_match", "regex_options", "regex_min_offset", "regex_max_offset"}
}

// urlField reads one of a url's fields (urlKeys) into u.
func (d *yamlDecoder) urlField(key string, v *yaml.Node, field string, u *CheckURL) {
	switch key {
	case "path":
		d.str(v, field, &u.Path)
	case "status_code":
		d.statusCodes(v, field, &u.StatusCodes)
	case "digest":
		d.str(v, field, &u.Digest)
		u.Digest = strings.ToLower(u.Digest)
	case "virtualhost":
		d.str(v, field, &u.VirtualHost)
	case "regex":
		d.str(v, field, &u.Regex.Pattern)
	case "regex_no_match":
		d.boolean(v, field, &u.Regex.NoMatch)
	case "regex_options":
		d.regexOptions(v, field, &u.Regex.Options)
	case "regex_min_offset":
		d.intField(v, field, &u.Regex.MinOffset)
	case "regex_max_offset":
		u.Regex.MaxOffsetSet = true
		d.intField(v, field, &u.Regex.MaxOffset)
	}
}

// regexOptions reads regex_options as keepalived's words in a string
// ("caseless multiline") or a list of them.
func (d *yamlDecoder) regexOptions(n *yaml.Node, field string, dst *string) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var words []string
	for _, it := range items {
		s, ok := d.scalar(it, field)
		if !ok {
			return
		}
		words = append(words, strings.Fields(s.Value)...)
	}
	opts, err := CanonRegexOptions(words)
	if err != nil {
		d.bad(n, field, "%v", err)
		return
	}
	*dst = opts
}

// statusCodes reads status_code as a code (200), a string of codes and
// ranges ("200-299 302", keepalived's form) or a list of either.
func (d *yamlDecoder) statusCodes(n *yaml.Node, field string, dst *StatusCodes) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.bad(n, field, "want status codes or ranges such as 200 or 200-299, got an empty list")
			return
		}
	}
	var words []string
	for _, it := range items {
		s, ok := d.scalar(it, field)
		if !ok {
			return
		}
		codes, err := ParseStatusCodes(s.Value)
		if err != nil {
			d.bad(s, field, "%v", err)
			return
		}
		words = append(words, string(codes))
	}
	*dst = StatusCodes(strings.Join(words, " "))
}

func (d *yamlDecoder) port(n *yaml.Node, field string, dst *uint16) {
	if v, ok := d.integer(n, field, 0, 65535); ok {
		*dst = uint16(v)
	}
}

func (d *yamlDecoder) boolean(n *yaml.Node, field string, dst *bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	var v bool
	if s.Tag != "!!bool" || s.Decode(&v) != nil {
		d.bad(s, field, "must be true or false, got %q", s.Value)
		return
	}
	*dst = v
}

// useVMAC reads use_vmac: true (the interface is vrrp.VRID), false, or
// the VMAC interface's name, as keepalived's use_vmac [NAME].
func (d *yamlDecoder) useVMAC(n *yaml.Node, field string, v *VRRPInstance) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	if s.Tag == "!!bool" {
		d.boolean(s, field, &v.UseVMAC)
		return
	}
	if s.Value == "" {
		d.bad(s, field, "must be true, false or the VMAC interface's name, got %q", s.Value)
		return
	}
	v.UseVMAC, v.VMACName = true, s.Value
}

// duration reads seconds as an integer or decimal (keepalived's unit, so
// values carry over unchanged) or a Go duration string such as "15m" or "100ms".
func (d *yamlDecoder) duration(n *yaml.Node, field string, dst *time.Duration) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	var v time.Duration
	var err error
	switch s.Tag {
	case "!!int":
		var sec int64
		if s.Decode(&sec) != nil || sec > maxSeconds || sec < -maxSeconds {
			err = fmt.Errorf("%s seconds is out of range", s.Value)
		}
		v = time.Duration(sec) * time.Second
	case "!!float":
		v, err = parseSeconds(s.Value)
	default:
		v, err = time.ParseDuration(s.Value)
		if err != nil {
			err = fmt.Errorf("want seconds (e.g. 30, 0.5) or a duration (e.g. 15m, 100ms), got %q", s.Value)
		}
	}
	if err != nil {
		d.bad(s, field, "%v", err)
		return
	}
	*dst = v
}

// maxSeconds keeps seconds far from overflowing a Duration (about 292 years).
const maxSeconds = math.MaxInt64 / int64(2*time.Second)

// parseSeconds converts decimal seconds to a Duration without overflowing.
func parseSeconds(text string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number of seconds, got %q", text)
	}
	ns := math.Round(f * float64(time.Second))
	if ns > math.MaxInt64/2 || ns < math.MinInt64/2 {
		return 0, fmt.Errorf("%s seconds is out of range", text)
	}
	return time.Duration(ns), nil
}

// parseAddr parses an IP address as xlb stores it: IPv4-mapped IPv6 addresses
// become IPv4, since that is the packet the datapath will see.
func parseAddr(text string) (netip.Addr, error) {
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid IP address %q", text)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zoned address %q is not supported", text)
	}
	return a.Unmap(), nil
}

// group reads a top-level VRRP multicast group (v6: vrrp_mcast_group6),
// which must be a group of its family.
func (d *yamlDecoder) group(n *yaml.Node, field string, v6 bool, dst *netip.Addr) {
	var a netip.Addr
	d.addr(n, field, &a)
	if !a.IsValid() {
		return
	}
	if why := groupProblem(a, v6); why != "" {
		d.bad(deref(n), field, "%s", why)
		return
	}
	*dst = a
}

func (d *yamlDecoder) addr(n *yaml.Node, field string, dst *netip.Addr) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	a, err := parseAddr(s.Value)
	if err != nil {
		d.bad(s, field, "%v", err)
		return
	}
	*dst = a
}

func (d *yamlDecoder) config(root *yaml.Node, c *Config) {
	d.mapping(root, "", func(key, field string, v *yaml.Node) bool {
		switch key {
		case "timeouts":
			d.timeouts(v, field, &c.Timeouts)
		case "conn_table_size":
			d.intField(v, field, &c.ConnTableSize)
		case "services":
			for i, n := range d.sequence(v, field) {
				c.Services = append(c.Services, d.service(n, fmt.Sprintf("services[%d]", i)))
			}
		case "vrrp":
			for i, n := range d.sequence(v, field) {
				c.VRRP = append(c.VRRP, d.vrrp(n, fmt.Sprintf("vrrp[%d]", i)))
			}
		case "vrrp_scripts":
			for i, n := range d.sequence(v, field) {
				c.VRRPScripts = append(c.VRRPScripts, d.vrrpScript(n, fmt.Sprintf("vrrp_scripts[%d]", i)))
			}
		case "vrrp_sync_groups":
			for i, n := range d.sequence(v, field) {
				c.VRRPSyncGroups = append(c.VRRPSyncGroups, d.syncGroup(n, fmt.Sprintf("vrrp_sync_groups[%d]", i)))
			}
		case "vrrp_track_files":
			for i, n := range d.sequence(v, field) {
				c.VRRPTrackFiles = append(c.VRRPTrackFiles, d.vrrpTrackFile(n, fmt.Sprintf("vrrp_track_files[%d]", i)))
			}
		case "vrrp_track_processes":
			for i, n := range d.sequence(v, field) {
				c.VRRPTrackProcesses = append(c.VRRPTrackProcesses, d.vrrpTrackProcess(n, fmt.Sprintf("vrrp_track_processes[%d]", i)))
			}
		case "bgp":
			c.BGP = d.bgp(v, field)
		case "ssl":
			c.SSL = d.ssl(v, field)
		case "script_user":
			d.scriptUser(v, field, &c.ScriptUser)
		case "enable_script_security":
			d.boolean(v, field, &c.EnableScriptSecurity)
		case "startup_script":
			d.notify(v, field, &c.StartupScript.Script, &c.StartupScript.User)
		case "shutdown_script":
			d.notify(v, field, &c.ShutdownScript.Script, &c.ShutdownScript.User)
		case "startup_script_timeout":
			d.duration(v, field, &c.StartupScript.Timeout)
		case "vrrp_startup_delay":
			d.duration(v, field, &c.VRRPStartupDelay)
		case "interface_up_down_delays":
			for i, n := range d.sequence(v, field) {
				c.InterfaceDelays = append(c.InterfaceDelays, d.interfaceDelay(n, fmt.Sprintf("%s[%d]", field, i)))
			}
		case "garp_groups":
			for i, n := range d.sequence(v, field) {
				c.GARPGroups = append(c.GARPGroups, d.garpGroup(n, fmt.Sprintf("%s[%d]", field, i)))
			}
		case "static_ipaddress":
			c.StaticAddrs = d.strs(v, field)
		case "static_routes":
			c.StaticRoutes = d.strs(v, field)
		case "static_rules":
			c.StaticRules = d.strs(v, field)
		case "vrrp_down_timer_adverts":
			if n, ok := d.integer(v, field, 1, maxDownTimerAdverts); ok {
				d.downTimer = int(n)
			}
		case "shutdown_script_timeout":
			d.duration(v, field, &c.ShutdownScript.Timeout)
		case "notify_fifo":
			d.fifo(v, field, &c.NotifyFIFO)
		case "vrrp_notify_fifo":
			d.fifo(v, field, &c.VRRPNotifyFIFO)
		case "lvs_notify_fifo":
			d.fifo(v, field, &c.LVSNotifyFIFO)
		case "notify_fifo_script":
			d.notify(v, field, &c.NotifyFIFO.Script, &c.NotifyFIFO.ScriptUser)
		case "vrrp_notify_fifo_script":
			d.notify(v, field, &c.VRRPNotifyFIFO.Script, &c.VRRPNotifyFIFO.ScriptUser)
		case "lvs_notify_fifo_script":
			d.notify(v, field, &c.LVSNotifyFIFO.Script, &c.LVSNotifyFIFO.ScriptUser)
		case "vrrp_notify_priority_changes":
			d.boolean(v, field, &c.VRRPNotifyPriorityChanges)
		case "vrrp_lower_prio_no_advert":
			d.boolean(v, field, &d.globals.lowerPrioNoAdvert)
		case "vrrp_higher_prio_send_advert":
			d.boolean(v, field, &d.globals.higherPrioSendAdvert)
		case "vrrp_mcast_group4":
			d.group(v, field, false, &d.globals.group4)
		case "vrrp_mcast_group6":
			d.group(v, field, true, &d.globals.group6)
		case "fifo_write_vrrp_states_on_reload":
			d.boolean(v, field, &c.FIFOWriteVRRPStatesOnReload)
		default:
			name, ok := strings.CutPrefix(key, "vrrp_")
			return ok && d.garp(name, v, field, &c.VRRPGARP)
		}
		return true
	})
}

// garpGroup reads {garp_interval, gna_interval, interfaces}.
func (d *yamlDecoder) garpGroup(n *yaml.Node, path string) GARPGroup {
	g := GARPGroup{Line: deref(n).Line}
	spaced := false
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "garp_interval":
			d.duration(v, field, &g.Interval)
			spaced = true
		case "gna_interval":
			d.duration(v, field, &g.NAInterval)
			spaced = true
		case "interfaces":
			g.Interfaces = d.strs(v, field)
		default:
			return false
		}
		return true
	})
	// 0 is a setting (its interfaces unpaced, whatever vrrp_garp_interval
	// says), so only a group saying neither is incomplete.
	if !spaced && deref(n).Kind == yaml.MappingNode {
		d.ps.at(g.Line, path, "a garp_group needs garp_interval or gna_interval")
	}
	return g
}

// interfaceDelay reads {interface, down, up}.
func (d *yamlDecoder) interfaceDelay(n *yaml.Node, path string) InterfaceDelay {
	e := InterfaceDelay{Line: deref(n).Line}
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "interface":
			d.str(v, field, &e.Interface)
		case "down":
			d.duration(v, field, &e.Down)
		case "up":
			d.duration(v, field, &e.Up)
		default:
			return false
		}
		return true
	})
	return e
}

func (d *yamlDecoder) timeouts(n *yaml.Node, path string, t *Timeouts) {
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "tcp":
			d.duration(v, field, &t.TCP)
		case "tcp_fin":
			d.duration(v, field, &t.TCPFin)
		case "udp":
			d.duration(v, field, &t.UDP)
		default:
			return false
		}
		return true
	})
}

func (d *yamlDecoder) service(n *yaml.Node, path string) Service {
	s := newService()
	s.Line = deref(n).Line
	var portSet []bool
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &s.Name)
		case "vip":
			d.addr(v, field, &s.VIP)
		case "port":
			d.port(v, field, &s.Port)
		case "protocol":
			var p string
			d.str(v, field, &p)
			s.Protocol = Protocol(strings.ToLower(p))
		case "scheduler":
			var p string
			d.str(v, field, &p)
			s.Scheduler = Scheduler(strings.ToLower(p))
		case "forward":
			d.forward(v, field, &s.Forward)
		case "tunnel_type":
			d.tunnelType(v, field, &s.TunnelType)
		case "tunnel_port":
			d.port(v, field, &s.TunnelPort)
		case "persistence_timeout":
			d.duration(v, field, &s.PersistenceTimeout)
		case "persistence_granularity":
			d.intField(v, field, &s.PersistenceGranularity)
		case "hash_port":
			d.boolean(v, field, &s.HashPort)
		case "ha_suspend":
			d.boolean(v, field, &s.HASuspend)
		case "ops":
			d.boolean(v, field, &s.OPS)
		case "timeouts":
			d.timeouts(v, field, &s.Timeouts)
		case "delay_loop":
			d.duration(v, field, &s.DelayLoop)
		case "expire_nodest_conn":
			d.boolean(v, field, &s.ExpireNodestConn)
		case "inhibit_on_failure":
			d.boolean(v, field, &s.InhibitOnFailure)
		case "bgp_announce":
			announce := !s.NoAnnounce
			d.boolean(v, field, &announce)
			s.NoAnnounce = !announce
		case "sorry_server":
			s.SorryServer = d.sorryServer(v, field)
		case "quorum":
			d.intField(v, field, &s.Quorum)
		case "hysteresis":
			d.intField(v, field, &s.Hysteresis)
		case "quorum_up":
			d.notify(v, field, &s.QuorumUp, &s.QuorumUpUser)
		case "quorum_down":
			d.notify(v, field, &s.QuorumDown, &s.QuorumDownUser)
		case "real_servers":
			for j, rn := range d.sequence(v, field) {
				rs, set := d.realServer(rn, fmt.Sprintf("%s.real_servers[%d]", path, j))
				s.RealServers = append(s.RealServers, rs)
				portSet = append(portSet, set)
			}
		default:
			return false
		}
		return true
	})
	// DR and TUN cannot change ports, so the real-server port is the
	// service port unless the file says otherwise.
	for j := range s.RealServers {
		if !portSet[j] {
			s.RealServers[j].Port = s.Port
		}
	}
	if s.SorryServer != nil && s.SorryServer.Port == 0 {
		s.SorryServer.Port = s.Port
	}
	if s.Name == "" {
		s.Name = defaultName(&s)
	}
	return s
}

// tunnelType reads a TUN encapsulation (ipip, gre; any case); ipip is
// kept as "", the default.
func (d *yamlDecoder) tunnelType(v *yaml.Node, field string, t *TunnelType) {
	var p string
	d.str(v, field, &p)
	// An unknown word is kept for validation to name.
	var ok bool
	if *t, ok = ParseTunnelType(strings.ToLower(p)); !ok {
		*t = TunnelType(strings.ToLower(p))
	}
}

// forward reads a forwarding method (dr, tun; any case).
func (d *yamlDecoder) forward(v *yaml.Node, field string, f *Forward) {
	var p string
	d.str(v, field, &p)
	*f = Forward(strings.ToLower(p))
}

func (d *yamlDecoder) sorryServer(n *yaml.Node, path string) *SorryServer {
	ss := &SorryServer{Line: deref(n).Line}
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "address":
			d.addr(v, field, &ss.Address)
		case "port":
			d.port(v, field, &ss.Port)
			if ss.Port == 0 {
				// 0 would silently mean "the service port".
				d.ps.parse(deref(v).Line, field, "must be 1..65535")
			}
		case "inhibit":
			d.boolean(v, field, &ss.Inhibit)
		case "forward":
			d.forward(v, field, &ss.Forward)
		case "tunnel_type":
			d.tunnelType(v, field, &ss.TunnelType)
		case "tunnel_port":
			d.port(v, field, &ss.TunnelPort)
		default:
			return false
		}
		return true
	})
	return ss
}

func (d *yamlDecoder) realServer(n *yaml.Node, path string) (rs RealServer, portSet bool) {
	rs = newRealServer()
	rs.Line = deref(n).Line
	var checkField, checksField string
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "address":
			d.addr(v, field, &rs.Address)
		case "port":
			portSet = true
			d.port(v, field, &rs.Port)
		case "weight":
			d.intField(v, field, &rs.Weight)
		case "check":
			checkField = field
			rs.Check = d.check(v, field)
		case "checks":
			// Several checks (keepalived's several checkers): all must pass.
			checksField = field
			for i, cn := range d.sequence(v, field) {
				ck := d.check(cn, CheckField(path, i))
				if i == 0 {
					rs.Check = ck
				} else {
					rs.MoreChecks = append(rs.MoreChecks, *ck)
				}
			}
		case "inhibit_on_failure":
			d.boolean(v, field, &rs.InhibitOnFailure)
		case "uthreshold":
			d.intField(v, field, &rs.UThreshold)
		case "lthreshold":
			d.intField(v, field, &rs.LThreshold)
		case "notify_up":
			d.notify(v, field, &rs.NotifyUp, &rs.NotifyUpUser)
		case "notify_down":
			d.notify(v, field, &rs.NotifyDown, &rs.NotifyDownUser)
		case "forward":
			d.forward(v, field, &rs.Forward)
		case "tunnel_type":
			d.tunnelType(v, field, &rs.TunnelType)
		case "tunnel_port":
			d.port(v, field, &rs.TunnelPort)
		default:
			return false
		}
		return true
	})
	switch {
	case checkField != "" && checksField != "":
		d.ps.parse(d.ps.lines[checksField], checksField, "use either check (one) or checks (a list), not both")
	case checksField != "" && rs.Check == nil:
		d.ps.parse(d.ps.lines[checksField], checksField, "needs at least one check")
	}
	return rs, portSet
}

func (d *yamlDecoder) check(n *yaml.Node, path string) *Check {
	var timeoutField, flatURL, urlsField, reverseField string
	var generic []string // fields a file check does not take
	var urls []CheckURL
	maxSet := false
	ck := newCheck()
	ck.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark", "delay_loop", "connect_timeout", "retry", "delay_before_retry", "rise", "fall":
			generic = append(generic, field)
		}
		if slices.Contains(urlKeys(), key) {
			// The check's one url, written in the check itself.
			flatURL = field
			first := ck.FirstURL()
			d.urlField(key, v, field, &first)
			ck.SetFirstURL(first)
			return true
		}
		switch key {
		case "type":
			var t string
			d.str(v, field, &t)
			ck.Type = CheckType(strings.ToLower(t))
		case "connect_ip":
			d.addr(v, field, &ck.ConnectIP)
		case "connect_port":
			d.port(v, field, &ck.ConnectPort)
		case "bindto":
			d.addr(v, field, &ck.BindTo)
		case "bind_port":
			d.port(v, field, &ck.BindPort)
		case "bind_if":
			d.str(v, field, &ck.BindIf)
		case "fwmark":
			if n, ok := d.integer(v, field, 0, math.MaxUint32); ok {
				ck.FWMark = uint32(n)
			}
		case "delay_loop":
			d.duration(v, field, &ck.DelayLoop)
		case "connect_timeout":
			timeoutField = field
			d.duration(v, field, &ck.ConnectTimeout)
		case "retry":
			d.intField(v, field, &ck.Retry)
		case "delay_before_retry":
			d.duration(v, field, &ck.DelayBeforeRetry)
		case "urls":
			urlsField = field
			for i, un := range d.sequence(v, field) {
				var u CheckURL
				f := fmt.Sprintf("%s[%d]", field, i)
				d.mapping(un, f, func(key, field string, v *yaml.Node) bool {
					if !slices.Contains(urlKeys(), key) {
						return false
					}
					d.urlField(key, v, field, &u)
					return true
				})
				urls = append(urls, u)
			}
		case "enable_sni":
			d.boolean(v, field, &ck.EnableSNI)
		case "script":
			d.str(v, field, &ck.Script)
		case "dynamic":
			d.boolean(v, field, &ck.Dynamic)
		case "user":
			d.scriptUser(v, field, &ck.User)
		case "timeout":
			d.duration(v, field, &ck.Timeout)
		case "helo_name":
			d.str(v, field, &ck.HeloName)
		case "payload":
			d.str(v, field, &ck.Payload)
		case "require_reply":
			d.requireReply(v, field, ck)
		case "min_reply_length":
			d.intField(v, field, &ck.MinReplyLength)
		case "max_reply_length":
			maxSet = true
			d.intField(v, field, &ck.MaxReplyLength)
		case "query_type":
			d.str(v, field, &ck.QueryType)
			ck.QueryType = strings.ToUpper(ck.QueryType)
		case "query_name":
			d.str(v, field, &ck.QueryName)
		case "rise":
			d.intField(v, field, &ck.Rise)
		case "fall":
			d.intField(v, field, &ck.Fall)
		case "track_file":
			d.str(v, field, &ck.TrackFile)
		case "weight":
			ck.FileWeightSet = true
			d.intField(v, field, &ck.FileWeight)
		case "reverse":
			reverseField = field
			d.boolean(v, field, &ck.FileReverse)
		default:
			return false
		}
		return true
	})
	if reverseField != "" && !ck.FileWeightSet {
		// As keepalived's "weight W [reverse]": without a weight of its
		// own the check follows the track file's weight and reverse.
		d.ps.parse(d.ps.lines[reverseField], reverseField, "needs weight: without one the track file's weight and reverse apply")
	}
	if ck.Type == FileCheck {
		for _, f := range generic {
			d.ps.parse(d.ps.lines[f], f, "does not apply to file checks (keepalived's FILE_CHECK takes only track_file and weight: it follows the file, up or down at once)")
		}
		// Nothing to poll: the check has none of the polling settings.
		ck.ConnectTimeout, ck.Retry, ck.DelayBeforeRetry, ck.Rise, ck.Fall = 0, 0, 0, 0, 0
	}
	typeDefaults(ck)
	if ck.Type == UDPCheck && !maxSet {
		ck.MaxReplyLength = DefaultMaxReplyLength
	}
	// urls: [...] lists every url; path & co. are the one url of a check
	// that has one. Both would leave it unclear which comes first.
	switch {
	case urlsField != "" && flatURL != "":
		d.ps.parse(d.ps.lines[flatURL], flatURL, "use either path/status_code/digest/virtualhost/regex (one url) or urls (a list), not both")
	case len(urls) > 0:
		ck.SetFirstURL(urls[0])
		if len(urls) > 1 {
			ck.MoreURLs = urls[1:]
		}
		// Validation names the urls as URLField does (the first one's
		// fields as the check's own): their lines go there.
		for i := range urls {
			for _, f := range urlKeys() {
				if l, ok := d.ps.lines[fmt.Sprintf("%s[%d].%s", urlsField, i, f)]; ok {
					d.ps.seen(URLField(path, i)+"."+f, l)
				}
			}
		}
	case urlsField != "":
		d.ps.parse(d.ps.lines[urlsField], urlsField, "needs at least one url")
	}
	// A misc check runs a script; a connect timeout would be silently
	// unused (misc uses timeout), and the defaulted value is not printed back.
	if ck.Type == MiscCheck && timeoutField != "" {
		d.ps.parse(d.ps.lines[timeoutField], timeoutField, "does not apply to misc checks (use timeout)")
	}
	return ck
}

// requireReply reads a UDP check's require_reply: true or false, or the hex
// pattern the reply must start with (which requires a reply), as keepalived's
// "require_reply [HEX]".
func (d *yamlDecoder) requireReply(n *yaml.Node, field string, ck *Check) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	if s.Tag == "!!bool" {
		d.boolean(s, field, &ck.RequireReply)
		return
	}
	if strings.TrimSpace(s.Value) == "" {
		d.bad(s, field, "want true, false or a hex pattern such as \"01 xx ff\"")
		return
	}
	ck.RequireReply, ck.ReplyPattern = true, s.Value
}

func (d *yamlDecoder) vrrp(n *yaml.Node, path string) VRRPInstance {
	v := newVRRP()
	v.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, val *yaml.Node) bool {
		switch key {
		case "name":
			d.str(val, field, &v.Name)
		case "state":
			d.str(val, field, &v.State)
			v.State = strings.ToUpper(v.State)
		case "interface":
			d.str(val, field, &v.Interface)
		case "virtual_router_id":
			d.intField(val, field, &v.VirtualRouterID)
		case "priority":
			d.intField(val, field, &v.Priority)
		case "advert_int":
			d.duration(val, field, &v.AdvertInterval)
		case "version":
			d.intField(val, field, &v.Version)
		case "preempt":
			d.boolean(val, field, &v.Preempt)
		case "preempt_delay":
			d.duration(val, field, &v.PreemptDelay)
		case "down_timer_adverts":
			if n, ok := d.integer(val, field, 1, maxDownTimerAdverts); ok {
				v.DownTimerAdverts = int(n)
			}
		case "auth_type":
			d.str(val, field, &v.AuthType)
			v.AuthType = strings.ToUpper(v.AuthType)
		case "auth_pass":
			d.str(val, field, &v.AuthPass)
		case "virtual_ipaddress":
			v.VirtualAddrs = d.addrs(val, field)
		case "virtual_ipaddress_excluded":
			v.ExcludedAddrs = d.addrs(val, field)
		case "virtual_routes":
			v.VirtualRoutes = d.strs(val, field)
		case "virtual_rules":
			v.VirtualRules = d.strs(val, field)
		case "dont_track_primary":
			d.boolean(val, field, &v.DontTrackPrimary)
		case "promote_secondaries":
			d.boolean(val, field, &v.PromoteSecondaries)
		case "track_interface", "track_script", "track_file", "track_process":
			d.tracking(key, field, val, v.tracking())
		case "unicast_src_ip":
			d.addr(val, field, &v.UnicastSrcIP)
		case "unicast_peer":
			v.UnicastPeers = d.addrs(val, field)
		case "unicast_ttl":
			if n, ok := d.integer(val, field, 1, maxUnicastTTL); ok {
				v.UnicastTTL = int(n)
			}
		case "unicast_fault_no_peer":
			d.boolean(val, field, &v.UnicastFaultNoPeer)
		case "track_src_ip":
			d.boolean(val, field, &v.TrackSrcIP)
		case "unicast_checksum":
			d.str(val, field, &v.UnicastChecksum)
			if v.UnicastChecksum == "auto" {
				v.UnicastChecksum = "" // the default, spelt out
			}
		case "use_vmac":
			d.useVMAC(val, field, &v)
		case "vmac_xmit_base":
			d.boolean(val, field, &v.VMACXmitBase)
		case "mcast_dst_ip":
			d.addr(val, field, &v.McastDstIP)
		case "kernel_rx_buf_size":
			if n, ok := d.integer(val, field, 0, maxRxBufSize); ok {
				v.KernelRxBufSize = int(n)
			}
		case "lower_prio_no_advert":
			d.boolean(val, field, &v.LowerPrioNoAdvert)
		case "higher_prio_send_advert":
			d.boolean(val, field, &v.HigherPrioSendAdvert)
		case "notify_master":
			d.notify(val, field, &v.NotifyMaster, &v.NotifyUsers.Master)
		case "notify_backup":
			d.notify(val, field, &v.NotifyBackup, &v.NotifyUsers.Backup)
		case "notify_fault":
			d.notify(val, field, &v.NotifyFault, &v.NotifyUsers.Fault)
		case "notify":
			d.notify(val, field, &v.Notify, &v.NotifyUsers.Notify)
		case "notify_stop":
			d.notify(val, field, &v.NotifyStop, &v.NotifyUsers.Stop)
		case "notify_master_rx_lower_pri":
			d.notify(val, field, &v.NotifyMasterRxLowerPri, &v.NotifyUsers.MasterRxLowerPri)
		case "notify_priority_changes":
			v.NotifyPriorityChanges = d.optBool(val, field)
		default:
			return d.garp(key, val, field, &v.GARP)
		}
		return true
	})
	return v
}

// garp reads the gratuitous ARP setting key (a vrrp entry's name for it)
// into g, and reports whether key is one.
func (d *yamlDecoder) garp(key string, val *yaml.Node, field string, g *GARP) bool {
	for _, f := range garpFields() {
		if f.name != key {
			continue
		}
		if f.dur != nil {
			d.duration(val, field, f.dur(g))
		} else {
			d.intField(val, field, f.num(g))
		}
		return true
	}
	return false
}

// addrs reads a sequence of addresses, each with its own field and line.
func (d *yamlDecoder) addrs(n *yaml.Node, field string) []netip.Addr {
	var out []netip.Addr
	for i, an := range d.sequence(n, field) {
		var a netip.Addr
		f := fmt.Sprintf("%s[%d]", field, i)
		d.ps.seen(f, deref(an).Line)
		d.addr(an, f, &a)
		out = append(out, a)
	}
	return out
}

func (d *yamlDecoder) syncGroup(n *yaml.Node, path string) VRRPSyncGroup {
	g := VRRPSyncGroup{Line: deref(n).Line}
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &g.Name)
		case "group":
			g.Group = d.strs(v, field)
		case "notify_master":
			d.notify(v, field, &g.NotifyMaster, &g.NotifyUsers.Master)
		case "notify_backup":
			d.notify(v, field, &g.NotifyBackup, &g.NotifyUsers.Backup)
		case "notify_fault":
			d.notify(v, field, &g.NotifyFault, &g.NotifyUsers.Fault)
		case "notify":
			d.notify(v, field, &g.Notify, &g.NotifyUsers.Notify)
		case "notify_priority_changes":
			g.NotifyPriorityChanges = d.optBool(v, field)
		case "sync_group_tracking_weight":
			d.boolean(v, field, &g.TrackingWeight)
		case "track_interface", "track_script", "track_file", "track_process":
			d.tracking(key, field, v, g.tracking())
		default:
			return false
		}
		return true
	})
	return g
}

// tracking reads the track_interface, track_script, track_file or
// track_process (key) of a vrrp instance or sync group into t.
func (d *yamlDecoder) tracking(key, field string, val *yaml.Node, t tracking) {
	for i, tn := range d.sequence(val, field) {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch key {
		case "track_interface":
			*t.ifaces = append(*t.ifaces, d.trackInterface(tn, f))
		case "track_script":
			*t.scripts = append(*t.scripts, d.trackScript(tn, f))
		case "track_file":
			// The same entry as track_script's, naming a file.
			*t.files = append(*t.files, TrackFile(d.trackScript(tn, f)))
		default:
			// The same entry as track_script's, naming a process.
			*t.procs = append(*t.procs, TrackProcess(d.trackScript(tn, f)))
		}
	}
}

// trackInterface reads a track_interface entry: a name (FAULT when down)
// or {name, weight, reverse} (priority).
func (d *yamlDecoder) trackInterface(tn *yaml.Node, f string) TrackInterface {
	d.ps.seen(f, deref(tn).Line)
	var wi TrackInterface
	if deref(tn).Kind != yaml.MappingNode {
		d.str(tn, f, &wi.Name)
		return wi
	}
	d.mapping(tn, f, func(key, field string, n *yaml.Node) bool {
		switch key {
		case "name":
			d.str(n, field, &wi.Name)
		case "weight":
			d.intField(n, field, &wi.Weight)
		case "reverse":
			d.boolean(n, field, &wi.Reverse)
		default:
			return false
		}
		return true
	})
	return wi
}

func (d *yamlDecoder) vrrpScript(n *yaml.Node, path string) VRRPScript {
	sc := newVRRPScript()
	sc.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &sc.Name)
		case "script":
			d.str(v, field, &sc.Script)
		case "interval":
			d.duration(v, field, &sc.Interval)
		case "timeout":
			d.duration(v, field, &sc.Timeout)
		case "weight":
			d.intField(v, field, &sc.Weight)
		case "reverse":
			d.boolean(v, field, &sc.Reverse)
		case "rise":
			d.intField(v, field, &sc.Rise)
		case "fall":
			d.intField(v, field, &sc.Fall)
		case "init_fail":
			d.boolean(v, field, &sc.InitFail)
		case "user":
			d.scriptUser(v, field, &sc.User)
		default:
			return false
		}
		return true
	})
	if sc.Timeout == 0 {
		sc.Timeout = sc.Interval
	}
	return sc
}

// trackScript reads a track_script (or track_file) entry: a name, or
// {name: NAME, weight: N, reverse: BOOL} to override the script's (file's)
// weight or direction.
func (d *yamlDecoder) trackScript(n *yaml.Node, path string) TrackScript {
	var ts TrackScript
	d.ps.seen(path, deref(n).Line)
	if deref(n).Kind == yaml.ScalarNode {
		d.str(n, path, &ts.Name)
		return ts
	}
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &ts.Name)
		case "weight":
			ts.WeightSet = true
			d.intField(v, field, &ts.Weight)
		case "reverse":
			ts.ReverseSet = true
			d.boolean(v, field, &ts.Reverse)
		default:
			return false
		}
		return true
	})
	return ts
}

// vrrpTrackFile reads a vrrp_track_files entry: {name, file, weight,
// reverse, init_file: {value, overwrite}}.
func (d *yamlDecoder) vrrpTrackFile(n *yaml.Node, path string) VRRPTrackFile {
	tf := newVRRPTrackFile()
	tf.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &tf.Name)
		case "file":
			d.str(v, field, &tf.File)
		case "weight":
			d.intField(v, field, &tf.Weight)
		case "reverse":
			d.boolean(v, field, &tf.Reverse)
		case "init_file":
			tf.InitFile = true
			d.mapping(v, field, func(key, field string, v *yaml.Node) bool {
				switch key {
				case "value":
					d.intField(v, field, &tf.InitValue)
				case "overwrite":
					d.boolean(v, field, &tf.InitOverwrite)
				default:
					return false
				}
				return true
			})
		default:
			return false
		}
		return true
	})
	return tf
}

// vrrpTrackProcess reads a vrrp_track_processes entry: {name, process,
// params, param_match, weight, reverse, quorum, quorum_max, fork_delay,
// terminate_delay, full_command}, with keepalived's implied settings
// applied (see VRRPTrackProcess.Normalize).
func (d *yamlDecoder) vrrpTrackProcess(n *yaml.Node, path string) VRRPTrackProcess {
	tp := newVRRPTrackProcess()
	tp.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "name":
			d.str(v, field, &tp.Name)
		case "process":
			d.str(v, field, &tp.Process)
		case "params":
			tp.Params = d.strs(v, field)
		case "param_match":
			var m string
			d.str(v, field, &m)
			switch ParamMatch(m) {
			case ParamExact, ParamPartial, ParamInitial:
				tp.ParamMatch = ParamMatch(m)
			default:
				d.ps.parse(deref(v).Line, field, "want exact, partial or initial, got %q", m)
			}
		case "weight":
			d.intField(v, field, &tp.Weight)
		case "reverse":
			d.boolean(v, field, &tp.Reverse)
		case "quorum":
			d.intField(v, field, &tp.Quorum)
		case "quorum_max":
			tp.HasQuorumMax = true
			d.intField(v, field, &tp.QuorumMax)
		case "fork_delay":
			d.duration(v, field, &tp.ForkDelay)
		case "terminate_delay":
			d.duration(v, field, &tp.TerminateDelay)
		case "full_command":
			d.boolean(v, field, &tp.FullCommand)
		default:
			return false
		}
		return true
	})
	tp.Normalize()
	return tp
}
