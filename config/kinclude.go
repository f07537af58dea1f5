package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// This file reads keepalived's `include FILENAME` lines: the named files'
// text takes the place of the line, wherever it is (keepalived's include is
// textual, so an included file may hold whole virtual_servers or only the
// real_servers of one). A relative name is relative to the directory of the
// file that includes it, and wildcards and {a,b} alternatives are expanded,
// as keepalived does.

// maxIncludeDepth bounds nested includes; keepalived's own configurations
// nest one or two levels, and a bound stops a file including itself through
// a wildcard from looping.
const maxIncludeDepth = 8

// maxIncludeSize bounds one included file (keepalived configurations of
// thousands of real servers are a few MB).
const maxIncludeSize = 64 << 20

// source is one file of a configuration read with includes. The positions
// the parser records are single ints: a file's line n is recorded as base+n,
// so one number still names a file and a line, and problems sort in the
// order the files were read.
type source struct {
	file        string
	base, lines int
}

// sourceMap is every file of one configuration, in the order read.
type sourceMap []source

// locate turns a recorded position back into a file and its line.
func (m sourceMap) locate(pos int) (string, int) {
	if len(m) == 0 || pos <= 0 {
		if len(m) > 0 {
			return m[0].file, pos
		}
		return "", pos
	}
	i := sort.Search(len(m), func(i int) bool { return m[i].base+m[i].lines >= pos })
	if i == len(m) {
		i = len(m) - 1
	}
	return m[i].file, pos - m[i].base
}

// kreader reads the main file and everything it includes into one token
// stream.
type kreader struct {
	ps  *problems
	pre *kpreproc
	// next is the base of the next file read.
	next     int
	oddSpace int
	warns    []Warning
}

// read tokenizes data (the text of file) and splices in its includes.
// stack holds the absolute names of the files including this one, to
// refuse a cycle.
func (r *kreader) read(file string, data []byte, stack []string) []ktoken {
	base := r.next
	lines := 1 + bytes.Count(data, []byte("\n"))
	r.next += lines
	r.ps.srcs = append(r.ps.srcs, source{file: file, base: base, lines: lines})
	if !utf8.Valid(data) {
		// Names and scripts end up in logs and in converted YAML, which
		// must be UTF-8; a binary file is not a configuration.
		bad := 0
		for i := 0; i < len(data); {
			ch, size := utf8.DecodeRune(data[i:])
			if ch == utf8.RuneError && size == 1 {
				bad = i
				break
			}
			i += size
		}
		r.ps.at(base+1+bytes.Count(data[:bad], []byte("\n")), "", "file is not valid UTF-8")
		return nil
	}
	// Line by line: a parameter defined on one line applies from the
	// next (in files included after it too), as keepalived reads.
	var out []ktoken
	for n, raw := range strings.Split(string(data), "\n") {
		line := base + n + 1
		toks, odd := ktokenize(r.ps, []byte(r.pre.line(raw)+"\n"), line-1)
		if odd > 0 && r.oddSpace == 0 {
			r.oddSpace = line
		}
		// A multiline parameter brings line ends of its own: its
		// statements are all of the line it is used on.
		for i := range toks {
			toks[i].line = line
		}
		if len(toks) > 0 && toks[0].kind == 'w' && toks[0].text == "include" {
			var args []string
			for _, t := range toks[1:] {
				if t.kind == 'w' {
					args = append(args, t.text)
				}
			}
			out = append(out, r.include(file, line, args, stack)...)
			out = append(out, ktoken{kind: '\n', line: line})
			continue
		}
		out = append(out, toks...)
	}
	return out
}

// include reads the files one include line names. Their tokens end with a
// line end, so the last statement of an included file never runs on into
// the line after the include.
func (r *kreader) include(from string, line int, args []string, stack []string) []ktoken {
	if len(args) != 1 {
		r.ps.at(line, "include", "want one file name (quote a name with spaces), got %d words", len(args))
		return nil
	}
	if len(stack) >= maxIncludeDepth {
		r.ps.at(line, "include", "includes nested deeper than %d", maxIncludeDepth)
		return nil
	}
	pattern := args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	var names []string
	wild := false
	for _, p := range expandBraces(pattern) {
		if !strings.ContainsAny(p, "*?[") {
			names = append(names, p)
			continue
		}
		wild = true
		m, err := filepath.Glob(p)
		if err != nil {
			r.ps.at(line, "include", "bad file name pattern %q: %v", args[0], err)
			return nil
		}
		names = append(names, m...)
	}
	if len(names) == 0 && wild {
		// An empty conf.d is a normal state, not a broken file.
		file, l := r.ps.srcs.locate(line)
		r.warns = append(r.warns, Warning{File: file, Line: l, Msg: fmt.Sprintf("include %s matches no file", args[0])})
		return nil
	}
	var out []ktoken
	for _, name := range names {
		abs, err := filepath.Abs(name)
		if err != nil {
			r.ps.at(line, "include", "%v", err)
			continue
		}
		if i := slices.Index(stack, abs); i >= 0 {
			r.ps.at(line, "include", "%s includes itself: %s", name, strings.Join(append(stack[i:], abs), " → "))
			continue
		}
		st, err := os.Stat(name)
		switch {
		case err != nil:
			r.ps.at(line, "include", "read included file: %v", err)
			continue
		case st.IsDir():
			r.ps.at(line, "include", "%s is a directory (include %s/*.conf reads the files in it)", name, args[0])
			continue
		case !st.Mode().IsRegular():
			// A device or a FIFO could block the reload or never end.
			r.ps.at(line, "include", "%s is not a regular file", name)
			continue
		case st.Size() > maxIncludeSize:
			r.ps.at(line, "include", "%s is %d bytes, more than a configuration file's %d", name, st.Size(), maxIncludeSize)
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			r.ps.at(line, "include", "read included file: %v", err)
			continue
		}
		toks := r.read(name, data, append(stack, abs))
		end := r.next - 1
		out = append(out, toks...)
		out = append(out, ktoken{kind: '\n', line: end})
	}
	return out
}

// expandBraces expands csh-style {a,b} alternatives (nested too), which
// keepalived's glob() accepts and Go's filepath.Glob does not. A brace with
// no comma, or unbalanced, is left as it is.
func expandBraces(p string) []string {
	open := strings.IndexByte(p, '{')
	if open < 0 {
		return []string{p}
	}
	depth, closeAt := 0, -1
	var commas []int
	for i := open; i < len(p) && closeAt < 0; i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				closeAt = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if closeAt < 0 {
		return []string{p}
	}
	prefix, suffix := p[:open], p[closeAt+1:]
	if len(commas) == 0 {
		var out []string
		for _, rest := range expandBraces(suffix) {
			out = append(out, prefix+p[open:closeAt+1]+rest)
		}
		return out
	}
	var out []string
	start := open + 1
	for _, c := range append(commas, closeAt) {
		for _, alt := range expandBraces(p[start:c] + suffix) {
			out = append(out, prefix+alt)
		}
		start = c + 1
	}
	return out
}
