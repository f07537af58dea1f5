package config

import (
	"fmt"
	"strings"

	"github.com/xlb-project/xlb/internal/runas"
)

// ScriptCred is who a script whose own user is own (zero: none) runs as,
// as keepalived 2 decides it: own, else ScriptUser, else the user
// keepalived_script if it exists, else root. With EnableScriptSecurity and
// neither set, a missing keepalived_script is an error instead of root:
// keepalived then refuses every script without a user of its own.
//
// On an error the returned Cred refuses to run anything (runas.Refuse), so
// a user deleted after validation never falls back to root.
func (c *Config) ScriptCred(own ScriptUser) (runas.Cred, error) {
	var global ScriptUser
	secure := false
	if c != nil {
		global, secure = c.ScriptUser, c.EnableScriptSecurity
	}
	u, field := own, "user"
	if u.IsZero() {
		u, field = global, "script_user"
	}
	var cred runas.Cred
	var err error
	if u.IsZero() {
		var found bool
		cred, found, err = runas.Default()
		if err == nil && !found && secure {
			err = fmt.Errorf("no script_user is set and the default user %s does not exist: with enable_script_security keepalived runs no script without a user of its own", runas.DefaultUser)
		}
	} else if cred, err = runas.Lookup(u.User, u.Group); err != nil {
		err = fmt.Errorf("%s %q: %w", field, u.String(), err)
	}
	if err != nil {
		return runas.Refuse(err), err
	}
	cred.Secure = secure
	return cred, nil
}

// scriptRef is one script of a configuration, for validation and warnings.
type scriptRef struct {
	line   int
	field  string // its YAML field, e.g. vrrp_scripts[0].script
	userAt string // the YAML field of its own user
	script string
	own    ScriptUser
	// notify scripts are only started; keepalived refuses an insecure one
	// by not running it, where a vrrp_script or MISC_CHECK would be dropped.
	notify bool
	// runs is false for a vrrp_script no instance tracks.
	runs bool
}

// scripts lists every script xlb may run, in file order by kind.
func (c *Config) scripts() []scriptRef {
	var out []scriptRef
	tracked, _, _ := c.trackedNames()
	for i, sc := range c.VRRPScripts {
		p := fmt.Sprintf("vrrp_scripts[%d]", i)
		out = append(out, scriptRef{line: sc.Line, field: p + ".script", userAt: p + ".user", script: sc.Script, own: sc.User, runs: tracked[sc.Name]})
	}
	notify := func(line int, field, script string, own ScriptUser) {
		if script != "" {
			out = append(out, scriptRef{line: line, field: field, userAt: field + ".user", script: script, own: own, notify: true, runs: true})
		}
	}
	// Not run when security refuses them, as keepalived's.
	notify(0, "startup_script", c.StartupScript.Script, c.StartupScript.User)
	notify(0, "shutdown_script", c.ShutdownScript.Script, c.ShutdownScript.User)
	for _, f := range c.fifos() {
		if f.f.Path != "" {
			notify(0, f.field+"_script", f.f.Script, f.f.ScriptUser)
		}
	}
	for i, s := range c.Services {
		p := fmt.Sprintf("services[%d]", i)
		notify(s.Line, p+".quorum_up", s.QuorumUp, s.QuorumUpUser)
		notify(s.Line, p+".quorum_down", s.QuorumDown, s.QuorumDownUser)
		for j, r := range s.RealServers {
			rp := fmt.Sprintf("%s.real_servers[%d]", p, j)
			for n, ck := range r.Checks() {
				if ck.Type != MiscCheck {
					continue
				}
				cp := CheckField(rp, n)
				line := ck.Line
				if line == 0 {
					line = r.Line
				}
				out = append(out, scriptRef{line: line, field: cp + ".script", userAt: cp + ".user", script: ck.Script, own: ck.User, runs: true})
			}
			notify(r.Line, rp+".notify_up", r.NotifyUp, r.NotifyUpUser)
			notify(r.Line, rp+".notify_down", r.NotifyDown, r.NotifyDownUser)
		}
	}
	for i, v := range c.VRRP {
		p := fmt.Sprintf("vrrp[%d]", i)
		u := v.NotifyUsers
		notify(v.Line, p+".notify_master", v.NotifyMaster, u.Master)
		notify(v.Line, p+".notify_backup", v.NotifyBackup, u.Backup)
		notify(v.Line, p+".notify_fault", v.NotifyFault, u.Fault)
		notify(v.Line, p+".notify_stop", v.NotifyStop, u.Stop)
		notify(v.Line, p+".notify", v.Notify, u.Notify)
		notify(v.Line, p+".notify_master_rx_lower_pri", v.NotifyMasterRxLowerPri, u.MasterRxLowerPri)
	}
	for i, g := range c.VRRPSyncGroups {
		p := fmt.Sprintf("vrrp_sync_groups[%d]", i)
		u := g.NotifyUsers
		notify(g.Line, p+".notify_master", g.NotifyMaster, u.Master)
		notify(g.Line, p+".notify_backup", g.NotifyBackup, u.Backup)
		notify(g.Line, p+".notify_fault", g.NotifyFault, u.Fault)
		notify(g.Line, p+".notify", g.Notify, u.Notify)
	}
	return out
}

// validateScripts checks that every script user exists and, with
// EnableScriptSecurity, that each vrrp_script an instance tracks and each
// MISC_CHECK passes keepalived's security rule. keepalived only disables
// such a script at startup: the instances then run as if they did not
// track it and the real server as if it had no such check - a failover or
// a pool that silently stops depending on what the script tested - so xlb
// refuses the configuration instead. Notify scripts are left to
// scriptWarnings: keepalived's refusal to run one changes no forwarding.
func (c *Config) validateScripts(ps *problems) {
	globalOK := true
	if !c.ScriptUser.IsZero() {
		if _, err := runas.Lookup(c.ScriptUser.User, c.ScriptUser.Group); err != nil {
			ps.field(0, "script_user", "%v", err)
			globalOK = false
		}
	}
	for _, s := range c.scripts() {
		if strings.TrimSpace(s.script) == "" {
			continue // an empty script is reported where it is required
		}
		if !s.own.IsZero() {
			if _, err := runas.Lookup(s.own.User, s.own.Group); err != nil {
				ps.field(s.line, s.userAt, "%v", err)
				continue
			}
		} else if !globalOK {
			continue
		}
		if !s.runs || s.notify {
			continue
		}
		cred, err := c.ScriptCred(s.own)
		if err != nil {
			ps.field(s.line, s.field, "%v", err)
			continue
		}
		if cred.Secure {
			if err := runas.CheckSecure(s.script, cred); err != nil {
				ps.field(s.line, s.field, "refused by enable_script_security (running as %s): %v", cred, err)
			}
		}
	}
}

// scriptWarnings are what keepalived 2 would log about the scripts but
// xlb, like it, goes on with: notify scripts that will not run (no default
// user with enable_script_security, or refused by it).
func (c *Config) scriptWarnings() []scriptWarning {
	var out []scriptWarning
	for _, s := range c.scripts() {
		if !s.notify || strings.TrimSpace(s.script) == "" {
			continue
		}
		cred, err := c.ScriptCred(s.own)
		if err == nil && cred.Secure {
			err = runas.CheckSecure(s.script, cred)
		}
		if err != nil {
			out = append(out, scriptWarning{s.line, s.field, fmt.Sprintf("%s will not run, as in keepalived: %v", s.field, err)})
		}
	}
	return out
}

// RootByDefault names a script that runs as root only because neither it
// nor the configuration names a user and the user keepalived_script does
// not exist ("" when there is none): keepalived 2 warns about that at
// startup, and so does xlb's daemon.
func (c *Config) RootByDefault() string {
	if !c.ScriptUser.IsZero() {
		return ""
	}
	for _, s := range c.scripts() {
		if !s.runs || !s.own.IsZero() || strings.TrimSpace(s.script) == "" {
			continue
		}
		if cred, found, err := runas.Default(); err == nil && !found && cred.UID == 0 {
			return s.field
		}
		return ""
	}
	return ""
}

// scriptWarning is one of scriptWarnings, at a recorded line.
type scriptWarning struct {
	line  int // of the enclosing block
	field string
	msg   string
}
