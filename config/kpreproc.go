package config

import (
	"os"
	"strings"
)

// This file implements keepalived's "advanced configuration": conditional
// lines and parameter substitution, applied to each line before it is
// read (see keepalived.conf(5), ADVANCED CONFIGURATION):
//
//   - A line starting "@ID" (after any blanks) is kept, without that word,
//     only on the director whose config id is ID; "@^ID" only on the
//     others. The config id is keepalived's: the host name up to its first
//     dot, or what --config-id says (keepalived -i).
//   - "$NAME=VALUE" defines a parameter (nothing but blanks before the
//     '$', no space before the '='; a value ending in '\' goes on over the
//     next lines); "$NAME" followed by a blank or the line's end, and
//     "${NAME}" anywhere, are then replaced by the value, repeatedly (a
//     value may use other parameters). An undefined parameter stays as it
//     is, so a '$' in a script is left alone.

// maxSubstitutions bounds the rounds of replacement on one line: a
// parameter that uses itself would otherwise never end.
const maxSubstitutions = 32

// DefaultConfigID is keepalived's default config id: the host name up to
// its first dot.
func DefaultConfigID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(h, ".")
	return id
}

// kpreproc holds the parameters defined so far (they apply to the lines
// after the definition, in included files too) and the config id.
type kpreproc struct {
	id     string
	params map[string]string
	// cont is the parameter whose multiline value the next line goes on.
	cont string
}

// line turns one raw line into the text to read ("" for a line that is
// dropped or only defines a parameter).
func (p *kpreproc) line(raw string) string {
	if p.cont != "" {
		v, more := strings.CutSuffix(raw, `\`)
		p.params[p.cont] += "\n" + v
		if !more {
			p.cont = ""
		}
		return ""
	}
	text := strings.TrimLeft(raw, " \t")
	if rest, ok := strings.CutPrefix(text, "@"); ok {
		word, after, _ := strings.Cut(rest, " ")
		if w, neg := strings.CutPrefix(word, "^"); neg {
			if w == p.id {
				return ""
			}
		} else if word != p.id {
			return ""
		}
		text = strings.TrimLeft(after, " \t")
	}
	if name, value, ok := paramDefinition(text); ok {
		if p.params == nil {
			p.params = map[string]string{}
		}
		v, more := strings.CutSuffix(value, `\`)
		p.params[name] = strings.TrimSpace(v)
		if more {
			p.cont = name
		}
		return ""
	}
	return p.substitute(text)
}

// paramDefinition reads "$NAME=VALUE".
func paramDefinition(text string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(text, "$")
	if !ok {
		return "", "", false
	}
	name, value, ok = strings.Cut(rest, "=")
	if !ok || !isParamName(name) {
		return "", "", false
	}
	return name, value, true
}

func isParamName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// substitute replaces the defined parameters of text.
func (p *kpreproc) substitute(text string) string {
	if len(p.params) == 0 || !strings.Contains(text, "$") {
		return text
	}
	for range maxSubstitutions {
		next := p.once(text)
		if next == text {
			break
		}
		text = next
	}
	return text
}

// once makes one pass of replacements over text.
func (p *kpreproc) once(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		if text[i] != '$' {
			b.WriteByte(text[i])
			i++
			continue
		}
		if strings.HasPrefix(text[i:], "${") {
			if end := strings.IndexByte(text[i:], '}'); end > 0 {
				if v, ok := p.params[text[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end + 1
					continue
				}
			}
		} else {
			end := i + 1
			for end < len(text) && isParamName(text[i+1:end+1]) {
				end++
			}
			name := text[i+1 : end]
			if v, ok := p.params[name]; ok && (end == len(text) || text[end] == ' ' || text[end] == '\t') {
				b.WriteString(v)
				i = end
				continue
			}
		}
		b.WriteByte('$')
		i++
	}
	return b.String()
}
