package config

import (
	"bytes"
	"fmt"
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
	// src[rawStart:rawEnd] is the source text of args, quotes, escapes and
	// spacing kept: keepalived reads a script's line again with its own
	// quoting rules (see scriptWords).
	src              string
	rawStart, rawEnd int
}

// rawArgs returns the source text of s's arguments.
func (s *kstmt) rawArgs() string {
	return s.src[s.rawStart:s.rawEnd]
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
	// src[start:end] is the token as written (quotes included).
	src        string
	start, end int
}

// ktokenize splits keepalived.conf into words, braces and line ends. '#' and
// '!' start a comment anywhere outside double quotes, as in keepalived; a
// quoted string is one word (quotes removed) and may contain spaces and
// comment characters; a backslash in it keeps the next character from
// ending it (keepalived's decomment: "a \" # b" is one string). Single
// quotes are ordinary characters here, as in keepalived's reading of a
// line: only a script's line is read again with them (scriptWords). Unicode spaces (the no-break spaces that web pages and
// forum posts put into copied configurations) separate words like ASCII
// spaces; oddSpace returns the first line holding one so the caller can warn.
// Lines are numbered from base+1 (see sourceMap).
func ktokenize(ps *problems, data []byte, base int) (toks []ktoken, oddSpace int) {
	line := base + 1
	src := string(data)
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
				if data[end] == '\\' && end+1 < len(data) && data[end+1] != '\n' {
					end++
				}
				end++
			}
			if end >= len(data) || data[end] != '"' {
				ps.at(line, "", "unterminated quoted string")
				i = end
				continue
			}
			toks = append(toks, ktoken{kind: 'w', line: line, text: string(data[i+1 : end]), quoted: true, src: src, start: i, end: end + 1})
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
			toks = append(toks, ktoken{kind: 'w', line: line, text: word, src: src, start: start, end: i})
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
					cur.src, cur.rawStart = t.src, t.start
				}
				if t.src == cur.src {
					cur.rawEnd = t.end
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

// scriptWords splits the arguments of a script's line (s.rawArgs()) as
// keepalived 2 does for every script keyword (its
// alloc_strvec_quoted_escaped, applied to the whole line): words are
// separated by unquoted blanks; '...' and "..." quote, anywhere in a word
// (a"b c"d is one word: ab cd); a backslash escapes, inside quotes or not:
// \a \b \E \f \n \r \t \v, \NNN (up to three octal digits), \xHH... (all
// the hex digits that follow, the last two count), \cC (control-C), and
// \C for any other C is C itself. keepalived.conf(5) "Quoted strings".
// The first word is the script's command line; keepalived splits it once
// more into the program and its arguments by the same rules, xlb hands it
// to /bin/sh -c, which splits it the same way for everything but shell
// syntax ($, |, ;, >, globs, and backslashes inside single quotes).
func scriptWords(raw string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(raw) && isKBlank(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return words, nil
		}
		var w []byte
		var quote byte
	word:
		for ; i < len(raw); i++ {
			c := raw[i]
			switch {
			case c == '\\':
				if i+1 >= len(raw) {
					return nil, fmt.Errorf("backslash at the end of %q escapes nothing", raw)
				}
				var b byte
				b, i = kescape(raw, i+1)
				w = append(w, b)
				i-- // the loop's i++ moves past the escape
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				w = append(w, c)
			case c == '"' || c == '\'':
				quote = c
			case isKBlank(c):
				break word
			default:
				w = append(w, c)
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("%q is missing its closing %c", raw, quote)
		}
		// keepalived copies each word with strndup: an escaped NUL ends it.
		if n := bytes.IndexByte(w, 0); n >= 0 {
			w = w[:n]
		}
		words = append(words, string(w))
	}
}

// isKBlank reports keepalived's word separators (WHITE_SPACE_STR).
func isKBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r' || c == '\v'
}

// kescape decodes the escape whose character (after the backslash) is at
// raw[i]; it returns the byte and the index after the escape. As in
// keepalived the value is a C char: longer hex or octal values keep their
// low eight bits.
func kescape(raw string, i int) (byte, int) {
	c := raw[i]
	switch {
	case c == 'x' && i+1 < len(raw) && isHex(raw[i+1]):
		var v byte
		for i++; i < len(raw) && isHex(raw[i]); i++ {
			v = v<<4 | hexVal(raw[i])
		}
		return v, i
	case c == 'c' && i+1 < len(raw):
		return raw[i+1] & 0x1f, i + 2
	case c >= '0' && c <= '7':
		v := c - '0'
		i++
		for n := 0; n < 2 && i < len(raw) && raw[i] >= '0' && raw[i] <= '7'; n++ {
			v = v<<3 + (raw[i] - '0')
			i++
		}
		return v, i
	}
	if b, ok := map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[c]; ok {
		return b, i + 1
	}
	return c, i + 1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
