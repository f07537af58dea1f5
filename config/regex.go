package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// URLRegex is keepalived's regex check of an HTTP or HTTPS url: the
// answer's body (after the headers) must contain a match of Pattern, or
// with NoMatch must not. keepalived 2.2.7 compiles it with PCRE2; xlb
// with Go's regexp (RE2 syntax), and refuses what that cannot do rather
// than match something else. The zero value is no regex check.
type URLRegex struct {
	Pattern string
	NoMatch bool // regex_no_match: a match fails the check
	// Options are keepalived's regex_options words, space separated, in
	// the order of RegexOptions.
	Options string
	// The match must start at or after byte MinOffset of the body and,
	// with MaxOffsetSet, at or before byte MaxOffset (keepalived's
	// regex_min_offset and regex_max_offset).
	MinOffset    int
	MaxOffset    int
	MaxOffsetSet bool
}

// RegexOptions are the regex_options words keepalived 2.2.7 knows (its
// check_http.c regex_options table), in that table's order.
func RegexOptions() []string {
	return []string{"allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly", "dotall",
		"dupnames", "extended", "firstline", "match_unset_backref", "multiline", "never_ucp", "never_utf",
		"no_auto_capture", "no_auto_possess", "no_dotstar_anchor", "no_start_optimize", "ucp", "ungreedy",
		"utf", "never_backslash_c", "alt_circumflex", "alt_verbnames", "use_offset_limit"}
}

// regexOptionFlag is what a keepalived regex_options word becomes in Go's
// regexp: a flag of (?flags), or "" when the option changes nothing Go's
// regexp does (it tunes PCRE2's optimiser or unlocks syntax RE2 lacks
// anyway, or Go already behaves so: it matches UTF-8, and its (?m)^
// matches after a final newline); dollar_endonly and firstline are
// applied by CompileRegex. An error says RE2 cannot do it.
func regexOptionFlag(word string) (string, error) {
	switch word {
	case "caseless":
		return "i", nil
	case "multiline":
		return "m", nil
	case "dotall":
		return "s", nil
	case "ungreedy":
		return "U", nil
	case "extended":
		return "", errors.New("extended (whitespace and # comments in the pattern) has no equivalent in RE2 syntax, as Go's regexp; write the pattern without them")
	case "ucp":
		return "", errors.New(`ucp (Unicode \d, \w, \s and \b) has no equivalent in RE2 syntax, as Go's regexp; use \pN, \pL or \p{...} classes`)
	case "allow_empty_class":
		return "", errors.New("allow_empty_class ([] as an empty class) has no equivalent in RE2 syntax, as Go's regexp")
	case "alt_bsux":
		return "", errors.New(`alt_bsux (JavaScript's \u, \U and \x) has no equivalent in RE2 syntax, as Go's regexp`)
	}
	if slices.Contains(RegexOptions(), word) {
		return "", nil
	}
	return "", unknownRegexOption(word)
}

func unknownRegexOption(word string) error {
	return fmt.Errorf("unknown regex option %q; keepalived's are %s", word, strings.Join(RegexOptions(), ", "))
}

// CanonRegexOptions reads regex_options words (spaces or a list) into
// URLRegex.Options' form: known words once each, in RegexOptions' order.
// An unknown word is an error; words RE2 cannot do are kept, for
// CompileRegex to refuse where the pattern is known.
func CanonRegexOptions(words []string) (string, error) {
	var out []string
	for _, known := range RegexOptions() {
		if slices.Contains(words, known) {
			out = append(out, known)
		}
	}
	for _, w := range words {
		if !slices.Contains(RegexOptions(), w) {
			return "", unknownRegexOption(w)
		}
	}
	return strings.Join(out, " "), nil
}

// BodyRegex is a compiled URLRegex: what an HTTP check's prober keeps to
// judge bodies with.
type BodyRegex struct {
	re *regexp.Regexp // the pattern, searched from the body's start
	// shifted is "(?s:.)(pattern)", searched from the byte before
	// MinOffset: Go's regexp cannot start a search at an offset, and
	// cutting the body there would make ^, \A and \b see a start of text
	// that PCRE2 (given the offset) does not. nil when MinOffset is 0.
	shifted   *regexp.Regexp
	noMatch   bool
	min, max  int // max < 0: no limit
	firstLine bool
}

// CompileRegex compiles r, or says why xlb cannot match it as PCRE2 would.
// Validation calls it, so a configuration with a bad pattern is refused as
// a whole; the HTTP prober calls it again for the regexp it keeps.
func CompileRegex(r URLRegex) (*BodyRegex, error) {
	if r.Pattern == "" {
		return nil, errors.New("empty pattern")
	}
	if r.MinOffset < 0 || r.MaxOffsetSet && (r.MaxOffset < 0 || r.MaxOffset < r.MinOffset) {
		return nil, fmt.Errorf("offsets must satisfy 0 <= regex_min_offset <= regex_max_offset, got %d and %d", r.MinOffset, r.MaxOffset)
	}
	// Go's own error, on the pattern as written (the flags below never
	// make a pattern invalid).
	if _, err := regexp.Compile(r.Pattern); err != nil {
		return nil, fmt.Errorf("%w (xlb matches with RE2 syntax, as Go's regexp: no backreferences, lookaround, atomic groups, possessive quantifiers or \\Z)", err)
	}
	flags, opts, err := regexFlags(r.Options)
	if err != nil {
		return nil, err
	}
	tree, err := syntax.Parse(flags+r.Pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if !opts["dollar_endonly"] {
		tree = pcreDollar(tree)
	}
	b := &BodyRegex{noMatch: r.NoMatch, min: r.MinOffset, max: -1, firstLine: opts["firstline"]}
	if r.MaxOffsetSet {
		b.max = r.MaxOffset
	}
	if b.re, err = regexp.Compile(tree.String()); err != nil {
		return nil, err
	}
	if r.MinOffset > 0 {
		if b.shifted, err = regexp.Compile(`(?s:.)(` + tree.String() + `)`); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// regexFlags turns option words into a (?flags) prefix and the set of
// words given.
func regexFlags(options string) (string, map[string]bool, error) {
	flags := ""
	opts := map[string]bool{}
	for _, w := range strings.Fields(options) {
		f, err := regexOptionFlag(w)
		if err != nil {
			return "", nil, err
		}
		flags += f
		opts[w] = true
	}
	if flags != "" {
		flags = "(?" + flags + ")"
	}
	return flags, opts, nil
}

// pcreDollar gives $ (outside multiline) PCRE2's meaning: the end of the
// body or before a newline that ends it; Go's $ is only the very end.
// It becomes \n?\z, which moves no match's start, and so changes nothing
// the check looks at unless the pattern goes on matching after its $.
func pcreDollar(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpEndText && re.Flags&syntax.WasDollar != 0 {
		nl := &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{'\n'}}
		return &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
			{Op: syntax.OpQuest, Sub: []*syntax.Regexp{nl}},
			{Op: syntax.OpEndText},
		}}
	}
	for i, sub := range re.Sub {
		re.Sub[i] = pcreDollar(sub)
	}
	return re
}

// Passes says whether a body passes the check: it holds a match starting
// within the offsets (and, with firstline, at or before the first newline
// from the min offset), or with regex_no_match it does not.
func (b *BodyRegex) Passes(body []byte) bool {
	return b.matches(body) != b.noMatch
}

func (b *BodyRegex) matches(body []byte) bool {
	// keepalived runs the match only on data after the headers: an empty
	// body matches nothing, not even an empty pattern.
	if len(body) == 0 || b.min > len(body) {
		return false
	}
	start := b.leftmost(body)
	if start < 0 {
		return false
	}
	limit := b.max
	if b.firstLine {
		if nl := bytes.IndexByte(body[b.min:], '\n'); nl >= 0 && (limit < 0 || b.min+nl < limit) {
			limit = b.min + nl
		}
	}
	return limit < 0 || start <= limit
}

// leftmost is where the leftmost match at or after the min offset starts,
// -1 for none. PCRE2 finds the same start: both try start positions left
// to right, so a later limit on the start needs no other match.
func (b *BodyRegex) leftmost(body []byte) int {
	if b.shifted == nil {
		if loc := b.re.FindIndex(body); loc != nil {
			return loc[0]
		}
		return -1
	}
	if loc := b.shifted.FindSubmatchIndex(body[b.min-1:]); loc != nil {
		return b.min - 1 + loc[2]
	}
	return -1
}
