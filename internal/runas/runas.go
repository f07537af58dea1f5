// Package runas starts keepalived-style scripts (MISC_CHECK, vrrp_script,
// notify scripts) as the user keepalived 2 would run them as, with its
// enable_script_security rule, while the daemon itself stays root.
//
// What keepalived 2.2.7 does and this package does too (lib/notify.c and a
// run of 2.2.7): the child gets the script's uid and gid, and that gid as
// its only supplementary group (setgroups(1, &gid), not initgroups); its
// environment is the daemon's, unchanged (no HOME or USER of the script's
// user), and it runs in / (keepalived's daemon has chdir'ed there).
package runas

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultUser is the user keepalived 2 runs scripts as when no script_user
// is configured, if it exists (else root).
const DefaultUser = "keepalived_script"

// defaultPath is searched for a bare command name when the daemon has no
// PATH, as glibc's confstr(_CS_PATH) that keepalived falls back to.
const defaultPath = "/bin:/usr/bin"

// Cred is who a script runs as. The zero value is root without script
// security, which is what xlb did before script users existed.
type Cred struct {
	// User and Group are the names, for messages.
	User, Group string
	UID, GID    uint32
	// Secure is keepalived's enable_script_security: a script that would
	// run with root's uid or gid is refused while its executable, or a
	// directory above it, can be changed by a user other than root.
	Secure bool
	// Refused, when set, refuses every run with this reason: a user that
	// could not be resolved must not fall back to root.
	Refused string
}

// Refuse is a Cred that runs nothing, saying why.
func Refuse(err error) Cred { return Cred{Refused: err.Error()} }

// Root is the daemon's own user.
func Root() Cred { return Cred{User: "root", Group: "root"} }

// String is "user:group (uid:gid)" for messages.
func (c Cred) String() string {
	if c.Refused != "" {
		return "refused: " + c.Refused
	}
	return fmt.Sprintf("%s:%s (%d:%d)", c.User, c.Group, c.UID, c.GID)
}

// Lookup resolves a user and a group name (or numeric ids); an empty group
// is the user's primary group, as keepalived's script_user and user take
// them.
func Lookup(name, group string) (Cred, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
				u, err = user.LookupId(name)
			}
		}
		if err != nil {
			return Cred{}, fmt.Errorf("user %q: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Cred{}, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gidText := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			if _, nerr := strconv.ParseUint(group, 10, 32); nerr != nil {
				return Cred{}, fmt.Errorf("group %q: %w", group, err)
			}
			if g, err = user.LookupGroupId(group); err != nil {
				return Cred{}, fmt.Errorf("group %q: %w", group, err)
			}
		}
		gidText = g.Gid
	}
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if err != nil {
		return Cred{}, fmt.Errorf("user %q: gid %q: %w", name, gidText, err)
	}
	c := Cred{User: u.Username, UID: uint32(uid), GID: uint32(gid), Group: group}
	if c.Group == "" {
		c.Group = gidText
		if g, err := user.LookupGroupId(gidText); err == nil {
			c.Group = g.Name
		}
	}
	return c, nil
}

// Default is keepalived 2's default script user: DefaultUser when it
// exists (found), else root.
func Default() (c Cred, found bool, err error) {
	c, err = Lookup(DefaultUser, "")
	if err == nil {
		return c, true, nil
	}
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return Root(), false, nil
	}
	return Cred{}, false, err
}

// Apply makes cmd, a /bin/sh -c command running script, run as c in /
// (keeping any SysProcAttr already set, such as Setpgid). With Secure it
// first checks the script (CheckSecure), so a refused script never starts.
func (c Cred) Apply(cmd *exec.Cmd, script string) error {
	if c.Refused != "" {
		return fmt.Errorf("script not run: %s", c.Refused)
	}
	if c.Secure {
		if err := CheckSecure(script, c); err != nil {
			return fmt.Errorf("script not run (enable_script_security): %w", err)
		}
	}
	cmd.Dir = "/"
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// An unprivileged process (tests; xlb run needs root) can change no
	// credentials, setgroups included: a script as its own user, or as
	// root - more than it has - runs as itself, with no more rights.
	if euid := os.Geteuid(); euid != 0 && (c.UID == 0 && c.GID == 0 || int(c.UID) == euid && int(c.GID) == os.Getegid()) {
		return nil
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: []uint32{c.GID}}
	return nil
}

// Command is the executable a script starts with, as keepalived finds it
// (its first word; a bare name is searched in PATH for a file c may
// execute), or "" for keepalived's "</file" open test, which runs nothing.
func Command(script string, c Cred) (string, error) {
	word := firstWord(script)
	switch {
	case word == "":
		return "", errors.New("empty script")
	case strings.HasPrefix(word, "<"):
		return "", nil
	case strings.Contains(word, "/"):
		if !filepath.IsAbs(word) {
			word = filepath.Join("/", word) // scripts run in /
		}
		return filepath.Clean(word), nil
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, word)
		if !filepath.IsAbs(p) {
			p = filepath.Join("/", p)
		}
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().IsRegular() && executable(st, c) {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", fmt.Errorf("%q found in PATH but not executable by %s", word, c)
	}
	return "", fmt.Errorf("%q not found in PATH %s (the first word of a script must be an executable file to be checked)", word, path)
}

// firstWord is the command word of a shell command line: up to the first
// blank or shell operator, without the quotes around it.
func firstWord(script string) string {
	s := strings.TrimLeft(script, " \t\n")
	if s == "" {
		return ""
	}
	if q := s[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(s[1:], q); end >= 0 {
			return s[1 : 1+end]
		}
	}
	if s[0] == '<' {
		return s
	}
	if end := strings.IndexAny(s, " \t\n;|&()<>"); end >= 0 {
		return s[:end]
	}
	return s
}

// CheckSecure applies keepalived 2's check_script_secure to the command a
// script starts with: the file must exist and be executable by c. When it
// runs with root's uid or gid (or is set-uid / set-gid root), the file and
// every directory above it - along the path as written, with its
// directories' symbolic links resolved, and along the file's real path -
// must be owned by root and not writable by a group other than root's or
// by others; a directory with the sticky bit (/tmp) only has to be owned
// by root.
func CheckSecure(script string, c Cred) error {
	path, err := Command(script, c)
	if err != nil || path == "" {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("script %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("script %s is not a regular file", path)
	}
	if !executable(st, c) {
		return fmt.Errorf("script %s is not executable by %s", path, c)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("script %s: no file owner information", path)
	}
	m := sys.Mode
	setRoot := (sys.Uid == 0 && m&syscall.S_IXUSR != 0 && m&syscall.S_ISUID != 0) ||
		(sys.Gid == 0 && m&syscall.S_IXGRP != 0 && m&syscall.S_ISGID != 0)
	if c.UID != 0 && c.GID != 0 && !setRoot {
		return nil // it cannot gain root: nothing to protect
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("script %s: %w", path, err)
	}
	written := filepath.Join(dir, filepath.Base(path))
	if err := checkPath(written); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("script %s: %w", path, err)
	}
	if real != written {
		return checkPath(real)
	}
	return nil
}

// checkPath checks every component of the absolute path p, "/" first,
// without following a final symbolic link (keepalived's check_security).
func checkPath(p string) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		last := i == len(parts)-1
		st, err := os.Lstat(cur)
		if err != nil {
			return fmt.Errorf("script path %s: %w", p, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("script path %s: no owner information for %s", p, cur)
		}
		mode := st.Mode()
		if !last && !mode.IsDir() || last && !mode.IsRegular() && mode&os.ModeSymlink == 0 {
			return fmt.Errorf("script path %s: %s is not a %s", p, cur, map[bool]string{true: "file", false: "directory"}[last])
		}
		if sys.Uid != 0 {
			return fmt.Errorf("script %s runs as root but %s is owned by uid %d, not root", p, cur, sys.Uid)
		}
		if mode.IsDir() && mode&os.ModeSticky != 0 || mode&os.ModeSymlink != 0 {
			continue // only its owner can rename or delete root's entries in it
		}
		if sys.Mode&syscall.S_IWOTH != 0 {
			return fmt.Errorf("script %s runs as root but %s is writable by any user (mode %04o)", p, cur, sys.Mode&07777)
		}
		if sys.Gid != 0 && sys.Mode&syscall.S_IWGRP != 0 {
			return fmt.Errorf("script %s runs as root but %s is writable by group %d (mode %04o)", p, cur, sys.Gid, sys.Mode&07777)
		}
	}
	return nil
}

// executable is keepalived's is_executable: root needs any x bit, the
// file's owner its owner's, a member of its group (by the script's gid)
// the group's, anyone else the others'.
func executable(st os.FileInfo, c Cred) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	m := sys.Mode
	switch {
	case c.UID == 0:
		return m&0o111 != 0
	case c.UID == sys.Uid:
		return m&syscall.S_IXUSR != 0
	case c.GID == sys.Gid:
		return m&syscall.S_IXGRP != 0
	default:
		return m&syscall.S_IXOTH != 0
	}
}
