package config

import (
	"fmt"
	"strconv"
	"strings"
)

// CodeRange is HTTP status codes Lo..Hi inclusive (Lo == Hi for one code).
type CodeRange struct{ Lo, Hi int }

// StatusCodes are the answers an HTTP check accepts, as keepalived's
// status_code takes them: codes and ranges, held in the canonical form
// ParseStatusCodes writes ("200-299 302"). Empty accepts any 2xx,
// keepalived's default. A string keeps Check comparable, which the health
// checker relies on to tell a changed check from an unchanged one.
type StatusCodes string

// Ranges returns the codes as ranges; nil for the default (any 2xx).
func (s StatusCodes) Ranges() ([]CodeRange, error) {
	if s == "" {
		return nil, nil
	}
	return parseCodeRanges(string(s))
}

// MatchCodes reports whether an answer with this status passes (ranges
// from Ranges, parsed once by a prober); none accepts any 2xx.
func MatchCodes(ranges []CodeRange, code int) bool {
	if len(ranges) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range ranges {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// Describe writes the codes for messages: "2xx" for the default.
func (s StatusCodes) Describe() string {
	if s == "" {
		return "2xx"
	}
	return string(s)
}

// ParseStatusCodes reads codes and ranges separated by spaces or commas
// ("200", "200-299 302", "200,301-302"), each code 100..599, and returns
// them in canonical form.
func ParseStatusCodes(text string) (StatusCodes, error) {
	ranges, err := parseCodeRanges(text)
	if err != nil {
		return "", err
	}
	words := make([]string, len(ranges))
	for i, r := range ranges {
		words[i] = strconv.Itoa(r.Lo)
		if r.Hi != r.Lo {
			words[i] += "-" + strconv.Itoa(r.Hi)
		}
	}
	return StatusCodes(strings.Join(words, " ")), nil
}

func parseCodeRanges(text string) ([]CodeRange, error) {
	words := strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	if len(words) == 0 {
		return nil, fmt.Errorf("want status codes or ranges such as 200 or 200-299, got %q", text)
	}
	var out []CodeRange
	for _, w := range words {
		lo, hi, isRange := strings.Cut(w, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		switch {
		case errA != nil || errB != nil:
			return nil, fmt.Errorf("%q is not a status code or a range such as 200-299", w)
		case a < 100 || a > 599 || b < 100 || b > 599:
			return nil, fmt.Errorf("status codes are 100..599, got %q", w)
		case a > b:
			return nil, fmt.Errorf("range %q ends before it starts", w)
		}
		out = append(out, CodeRange{a, b})
	}
	return out, nil
}
