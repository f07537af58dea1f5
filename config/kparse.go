package config

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file turns keepalived.conf text into a tree of statements; keepalived.go
// gives the statements their meaning.

// kstmt is one keepalived statement: a keyword, its arguments on the same
// line, and an optional { block }.
type kstmt struct {
	key      string
	args     []string
	line     int
	hasBlock bool
	block    []*kstmt
	// quoted0 says args[0] was a quoted string: keepalived reads the same
	// words, but an unquoted script followed by more words is worth a
	// warning (they are its user and group, not its arguments).
	quoted0 bool
}

// maxDepth bounds nesting; keepalived's deepest block (virtual_server >
// real_server > HTTP_GET > url) is 4, and a bound keeps hostile input from
// exhausting the stack.
const maxDepth = 16

type ktoken struct {
	text string
	line int
	// kind is 'w' for a word (quoted or not), '{', '}' or '\n'.
	kind   byte
	quoted bool
}

// ktokenize splits keepalived.conf into words, braces and line ends. '#' and
// '!' start a comment anywhere outside double quotes, as in keepalived; a
// quoted string is one word (quotes removed) and may contain spaces and
// comment characters. Unicode spaces (the no-break spaces that web pages and
// forum posts put into copied configurations) separate words like ASCII
// spaces; oddSpace returns the first line holding one so the caller can warn.
// Lines are numbered from base+1 (see sourceMap).
func ktokenize(ps *problems, data []byte, base int) (toks []ktoken, oddSpace int) {
	line := base + 1
	isSpace := func(r rune) bool {
		if r == '\n' || !unicode.IsSpace(r) {
			return false
		}
		if r >= utf8.RuneSelf && oddSpace == 0 {
			oddSpace = line
		}
		return true
	}
	// On an include line braces belong to the file names ({a,b}
	// alternatives), as keepalived reads include lines before blocks.
	include := false
	i := 0
	for i < len(data) {
		c := data[i]
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case c == '\n':
			toks = append(toks, ktoken{kind: '\n', line: line})
			line++
			i++
			include = false
		case isSpace(r):
			i += size
		case c == '#' || c == '!':
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case (c == '{' || c == '}') && !include:
			toks = append(toks, ktoken{kind: c, line: line, text: string(c)})
			i++
		case c == '"':
			end := i + 1
			for end < len(data) && data[end] != '"' && data[end] != '\n' {
				end++
			}
			if end >= len(data) || data[end] != '"' {
				ps.at(line, "", "unterminated quoted string")
				i = end
				continue
			}
			toks = append(toks, ktoken{kind: 'w', line: line, text: string(data[i+1 : end]), quoted: true})
			i = end + 1
		default:
			start := i
			for i < len(data) {
				r, size := utf8.DecodeRune(data[i:])
				stop := "\n#!{}\""
				if include {
					stop = "\n#!\""
				}
				if strings.ContainsRune(stop, r) || isSpace(r) {
					break
				}
				i += size
			}
			word := string(data[start:i])
			if word == "include" && (len(toks) == 0 || toks[len(toks)-1].kind == '\n') {
				include = true
			}
			toks = append(toks, ktoken{kind: 'w', line: line, text: word})
		}
	}
	return toks, oddSpace
}

// kparse builds the statement tree. A statement ends at a line end, a '{'
// (which opens its block) or a '}'. A '{' alone on a line opens the block of
// the statement on the line before, which keepalived also accepts.
func kparse(ps *problems, toks []ktoken) []*kstmt {
	p := kparser{ps: ps, toks: toks}
	return p.block(0, 0)
}

type kparser struct {
	ps   *problems
	toks []ktoken
	pos  int
}

// block reads statements until the '}' closing a block opened at openLine
// (depth > 0) or the end of input (depth 0).
func (p *kparser) block(depth, openLine int) []*kstmt {
	var out []*kstmt
	var cur *kstmt
	for p.pos < len(p.toks) {
		t := p.toks[p.pos]
		p.pos++
		switch t.kind {
		case '\n':
			cur = nil
		case 'w':
			if cur == nil {
				cur = &kstmt{key: t.text, line: t.line}
				out = append(out, cur)
			} else {
				if len(cur.args) == 0 {
					cur.quoted0 = t.quoted
				}
				cur.args = append(cur.args, t.text)
			}
		case '{':
			owner := cur
			if owner == nil && len(out) > 0 && !out[len(out)-1].hasBlock {
				owner = out[len(out)-1]
			}
			if owner == nil || owner.hasBlock {
				p.ps.at(t.line, "", "'{' without a keyword before it")
				owner = &kstmt{line: t.line}
			}
			if depth+1 > maxDepth {
				p.ps.at(t.line, "", "blocks nested deeper than %d", maxDepth)
				p.skipBlock()
				cur = nil
				continue
			}
			owner.hasBlock = true
			owner.block = p.block(depth+1, t.line)
			cur = nil
		case '}':
			if depth == 0 {
				p.ps.at(t.line, "", "unexpected '}' with no open block")
				cur = nil
				continue
			}
			return out
		}
	}
	if depth > 0 {
		p.ps.at(openLine, "", "'{' opened here is never closed")
	}
	return out
}

// skipBlock skips the rest of an over-deep block so parsing can go on.
func (p *kparser) skipBlock() {
	for n := 1; p.pos < len(p.toks) && n > 0; p.pos++ {
		switch p.toks[p.pos].kind {
		case '{':
			n++
		case '}':
			n--
		}
	}
}
