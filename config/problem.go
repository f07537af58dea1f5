package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration file. Parsers and Validate
// collect every problem instead of stopping at the first, so an operator can
// fix a file in one pass rather than one error per reload.
type Problem struct {
	File  string // file name as given to the parser ("" when unknown)
	Line  int    // 1-based line, 0 when unknown
	Field string // dotted path in the native YAML schema, e.g. services[0].real_servers[1].weight
	Msg   string
}

// Error prints "file:line: field: message", leaving out the parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError rejects a whole configuration; it lists every problem found.
type ValidationError struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem, so errors.As(err, &Problem{}) finds the first,
// the same way it would through errors.Join.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// problems collects Problems of one file. lines maps a field path to the line
// it was written on, so a problem found later by validation can point at the
// exact line of the offending field rather than at its enclosing block.
type problems struct {
	file  string
	lines map[string]int
	// broken holds fields whose text could not be parsed; validation stays
	// quiet about them, as "vip: is required" after "vip: invalid IP address"
	// would only be noise.
	broken map[string]bool
	list   []Problem
	// srcs, when set, maps the recorded lines back to files: a keepalived
	// configuration with includes records positions across its files.
	srcs sourceMap
}

func newProblems(file string) *problems {
	return &problems{file: file, lines: map[string]int{}, broken: map[string]bool{}}
}

// parse records a problem in the text of a field and marks the field broken.
func (ps *problems) parse(line int, field, format string, args ...any) {
	ps.broken[field] = true
	ps.at(line, field, format, args...)
}

// isBroken reports whether field or an object enclosing it failed to parse.
func (ps *problems) isBroken(field string) bool {
	for {
		if ps.broken[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i <= 0 {
			return false
		}
		field = field[:i]
	}
}

// where turns a recorded line into the file and line to show.
func (ps *problems) where(line int) (string, int) {
	if ps.srcs == nil {
		return ps.file, line
	}
	return ps.srcs.locate(line)
}

// at records a problem at an explicit line.
func (ps *problems) at(line int, field, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// field records a problem of a field, at the line the field was read from, or
// else at fallback (the line of the enclosing object).
func (ps *problems) field(fallback int, field, format string, args ...any) {
	if ps.isBroken(field) {
		return
	}
	line := fallback
	if l, ok := ps.lines[field]; ok {
		line = l
	}
	ps.at(line, field, format, args...)
}

// seen remembers the line of a field for later problems.
func (ps *problems) seen(field string, line int) {
	if line > 0 {
		ps.lines[field] = line
	}
}

// err returns nil or a *ValidationError holding every problem.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	// A statement read more than once (a virtual_server's checker
	// defaults, by every real server's check) says its problem once.
	var list []Problem
	seen := map[Problem]bool{}
	for _, p := range ps.list {
		if !seen[p] {
			seen[p] = true
			list = append(list, p)
		}
	}
	// Parsing and validation find problems in different passes; in file
	// order they are easier to work through. Problems without a line go last.
	sort.SliceStable(list, func(i, j int) bool {
		li, lj := list[i].Line, list[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	for i := range list {
		list[i].File, list[i].Line = ps.where(list[i].Line)
	}
	return &ValidationError{Problems: list}
}
