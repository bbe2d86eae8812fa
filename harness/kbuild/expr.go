package kbuild

import (
	"strings"

	"github.com/tsemlab/tsemlab/harness/kernel"
)

// Kconfig dependency expressions, evaluated against a .config in
// tristate logic (n=0, m=1, y=2): enough to say which part of a
// `depends on` line is unmet.

// tokenize splits a Kconfig expression into symbols, quoted strings and
// the operators && || ! = != < <= > >= ( ).
func tokenize(expr string) []string {
	var out []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			j := strings.IndexByte(expr[i+1:], '"')
			if j < 0 {
				j = len(expr) - i - 1
			}
			out = append(out, expr[i:i+j+2])
			i += j + 2
		case strings.ContainsRune("&|!=<>", rune(c)):
			j := i + 1
			if j < len(expr) && strings.ContainsRune("&|=", rune(expr[j])) {
				j++
			}
			out = append(out, expr[i:j])
			i = j
		case c == '(' || c == ')':
			out = append(out, string(c))
			i++
		default:
			j := i
			for j < len(expr) && !strings.ContainsRune(" \t\"&|!=<>()", rune(expr[j])) {
				j++
			}
			out = append(out, expr[i:j])
			i = j
		}
	}
	return out
}

// isSymbol says whether a token names a config symbol.
func isSymbol(tok string) bool {
	if tok == "" || tok == "y" || tok == "n" || tok == "m" || strings.HasPrefix(tok, `"`) || strings.HasPrefix(tok, "$(") {
		return false
	}
	for _, c := range tok {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// conjuncts splits expr at its top-level && (outside parentheses).
func conjuncts(expr string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(expr); i++ {
		switch {
		case expr[i] == '(':
			depth++
		case expr[i] == ')':
			depth--
		case depth == 0 && strings.HasPrefix(expr[i:], "&&"):
			out = append(out, strings.TrimSpace(expr[start:i]))
			start = i + 2
			i++
		}
	}
	return append(out, strings.TrimSpace(expr[start:]))
}

// evalExpr evaluates expr against cfg: 0 (n), 1 (m) or 2 (y). Anything it
// cannot parse counts as met (2): the index explains, it must not invent
// a cause.
func evalExpr(expr string, cfg *kernel.Fragment) int {
	p := &exprParser{toks: tokenize(expr), cfg: cfg}
	v := p.or()
	if p.bad || p.pos != len(p.toks) {
		return 2
	}
	return v
}

type exprParser struct {
	toks []string
	pos  int
	cfg  *kernel.Fragment
	bad  bool
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) or() int {
	v := p.and()
	for p.peek() == "||" {
		p.pos++
		v = max(v, p.and())
	}
	return v
}

func (p *exprParser) and() int {
	v := p.unary()
	for p.peek() == "&&" {
		p.pos++
		v = min(v, p.unary())
	}
	return v
}

func (p *exprParser) unary() int {
	switch p.peek() {
	case "!":
		p.pos++
		return 2 - p.unary()
	case "(":
		p.pos++
		v := p.or()
		if p.peek() != ")" {
			p.bad = true
		}
		p.pos++
		return v
	}
	left := p.value()
	switch op := p.peek(); op {
	case "=", "!=":
		p.pos++
		right := p.value()
		if (left == right) == (op == "=") {
			return 2
		}
		return 0
	case "<", "<=", ">", ">=":
		p.pos++
		p.value()
		return 2
	}
	return tristate(left)
}

// value is a token's value: a symbol's in cfg ("n" when unset), a
// literal's own.
func (p *exprParser) value() string {
	tok := p.peek()
	if tok == "" || strings.ContainsAny(tok[:1], "&|!=<>()") {
		p.bad = true
		return "n"
	}
	p.pos++
	if strings.HasPrefix(tok, `"`) {
		return strings.Trim(tok, `"`)
	}
	if tok == "y" || tok == "m" || tok == "n" {
		return tok
	}
	if v, ok := p.cfg.Options["CONFIG_"+tok]; ok {
		return strings.Trim(v, `"`)
	}
	return "n"
}

func tristate(v string) int {
	switch v {
	case "y":
		return 2
	case "m":
		return 1
	}
	return 0
}
