package config

import (
	"strings"
	"testing"
)

// TestBodyRegexAsPCRE2 matches bodies as PCRE2 does: every row's want is
// what pcre2_match (libpcre2-8 10.42, given the min offset as its start
// offset, without partial matching) says, with the match's start then
// held to the max offset as keepalived holds it.
func TestBodyRegexAsPCRE2(t *testing.T) {
	for _, tc := range []struct {
		pattern, options string
		min, max         int // max -1: none
		body             string
		want             bool
	}{
		{`ok`, "", 0, -1, "status: ok", true},
		{`OK`, "", 0, -1, "status: ok", false},
		{`OK`, "caseless", 0, -1, "status: ok", true},
		// PCRE2's $ is also before a newline that ends the body.
		{`ok$`, "", 0, -1, "ok\n", true},
		{`ok$`, "dollar_endonly", 0, -1, "ok\n", false},
		{`ok$`, "", 0, -1, "ok\nmore", false},
		{`^ok$`, "multiline", 0, -1, "a\nok\nb", true},
		{`^ok$`, "", 0, -1, "a\nok\nb", false},
		{`a.b`, "", 0, -1, "a\nb", false},
		{`a.b`, "dotall", 0, -1, "a\nb", true},
		{`<b>.*</b>`, "ungreedy", 0, -1, "<b>1</b><b>2</b>", true},
		// From a min offset, ^ and \b still see the byte before it.
		{`^ok`, "", 1, -1, "xok", false},
		{`^ok`, "multiline", 2, -1, "x\nok", true},
		{`\bok`, "", 1, -1, "xok", false},
		{`\bok`, "", 1, -1, " ok", true},
		{`ok`, "", 3, -1, "ok ok", true},
		{`ok`, "", 4, -1, "ok ok", false},
		{`ok`, "", 0, 2, "xxok", true},
		{`ok`, "", 0, 1, "xxok", false},
		{`ok`, "", 2, 2, "xxok", true},
		{`ok`, "", 9, -1, "xxok", false},
		{`b`, "firstline", 0, -1, "ab\nb", true},
		{`b`, "firstline", 0, -1, "a\nb", false},
		{`b`, "firstline", 2, -1, "a\nxb\nb", true},
		{`x*`, "", 0, -1, "abc", true},
		// keepalived matches only data after the headers.
		{`x*`, "", 0, -1, "", false},
	} {
		r := URLRegex{Pattern: tc.pattern, Options: tc.options, MinOffset: tc.min}
		if tc.max >= 0 {
			r.MaxOffset, r.MaxOffsetSet = tc.max, true
		}
		b, err := CompileRegex(r)
		if err != nil {
			t.Errorf("%+v: %v", r, err)
			continue
		}
		if got := b.Passes([]byte(tc.body)); got != tc.want {
			t.Errorf("%+v on %q: passes %v, want %v", r, tc.body, got, tc.want)
		}
		r.NoMatch = true
		if b, _ := CompileRegex(r); b.Passes([]byte(tc.body)) == tc.want {
			t.Errorf("%+v on %q: regex_no_match does not invert", r, tc.body)
		}
	}
}

// TestCompileRegexRefuses: what RE2 cannot match as PCRE2 would is an
// error naming the cause, not a different match.
func TestCompileRegexRefuses(t *testing.T) {
	for _, tc := range []struct {
		r    URLRegex
		want string
	}{
		{URLRegex{Pattern: `(?<=a)b`}, "RE2 syntax, as Go's regexp"},
		{URLRegex{Pattern: `(a)\1`}, "invalid escape sequence"},
		{URLRegex{Pattern: `a++`}, "RE2 syntax, as Go's regexp"},
		{URLRegex{Pattern: `a(?=b)`}, "unsupported Perl syntax"},
		{URLRegex{Pattern: `a(b`}, "missing closing )"},
		{URLRegex{Pattern: `ok`, Options: "extended"}, "extended"},
		{URLRegex{Pattern: `ok`, Options: "ucp"}, "RE2 syntax, as Go's regexp"},
		{URLRegex{Pattern: `ok`, Options: "anchored"}, `unknown regex option "anchored"`},
		{URLRegex{Pattern: `ok`, MinOffset: 5, MaxOffset: 3, MaxOffsetSet: true}, "regex_min_offset <= regex_max_offset"},
		{URLRegex{Options: "caseless"}, "empty pattern"},
	} {
		_, err := CompileRegex(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one with %q", tc.r, err, tc.want)
		}
	}
}

func TestCanonRegexOptions(t *testing.T) {
	got, err := CanonRegexOptions([]string{"multiline", "caseless", "multiline"})
	if err != nil || got != "caseless multiline" {
		t.Errorf("CanonRegexOptions = %q, %v; want keepalived's order, once each", got, err)
	}
	if _, err := CanonRegexOptions([]string{"caseles"}); err == nil {
		t.Error("CanonRegexOptions(caseles): no error")
	}
}
