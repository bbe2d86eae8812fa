// Package model reads, writes and compares Quixote security model files: the
// text form in which a learned TSEM model is exported (`quixote -o`) and
// loaded back (`quixote -m`).
//
// A model file is a list of directives, one per line:
//
//	# comment
//	key <base64>         public key of a signed model (starts signed data)
//	base <hex>           sent to the kernel as "base value=<hex>"
//	aggregate <hex>      hardware aggregate; kept for signatures, never sent
//	pseudonym <hex>      sent as "pseudonym value=<hex>"
//	state <hex>          one security coefficient; sent as "state value=<hex>"
//	seal                 sent as "seal": later new events are violations
//	signature <base64>   signature over the lines since "key"
//	end                  end of the model
//
// Quixote's loader rejects any other line, blank lines included, so Parse
// does too. Hex values are digests and must all have the same length (64
// characters for sha256, the kernel's default).
package model

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Model is a parsed security model. Hex values are kept in lower case.
type Model struct {
	// Key is the base64 public key of a signed model ("" when unsigned).
	Key string
	// Base is the model's base nonce ("" when the file sets none).
	Base string
	// Aggregate is the hardware aggregate the model was learned with.
	Aggregate string
	// Pseudonyms are file-path pseudonyms (see Pseudonym), in file order.
	Pseudonyms []string
	// States are the security coefficients, in file order. Duplicates are
	// kept: the kernel ignores them, Lint warns about them.
	States []string
	// Comments are the "#" lines, anchored to the state list so that a
	// rewrite keeps them next to the states they describe.
	Comments []Comment
	// Seal is true when the file contains "seal": loading it seals the
	// namespace.
	Seal bool
	// Signature is the base64 signature of a signed model.
	Signature string
	// End is true when the file contains "end".
	End bool
}

// Comment is a "#" line of a model file.
type Comment struct {
	// Before is the number of states that precede the comment.
	Before int
	// Text is the whole line, "#" included.
	Text string
}

// SyntaxError is a model line that Quixote's loader would reject.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Directives lists the directive words of a model file.
var Directives = []string{"#", "key", "base", "aggregate", "state", "pseudonym", "seal", "signature", "end"}

// digestHexLengths are the hex lengths of the digests a TSEM namespace can
// use (sha1, sha224, sha256, sha384, sha512).
var digestHexLengths = []int{40, 56, 64, 96, 128}

// Parse reads a model file. It stops at the first line Quixote's loader
// would reject and returns a *SyntaxError naming that line. Lines after
// "end" are parsed like any other (Quixote loads them too); Lint warns
// about them.
func Parse(r io.Reader) (*Model, error) {
	p := newParser()
	err := scanLines(r, func(n int, line string) error {
		if d := p.line(n, line); d != nil && d.Severity == SeverityError {
			return &SyntaxError{Line: d.Line, Msg: d.Msg}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p.m, nil
}

// scanLines calls fn with each line (1-based number, without the line end).
func scanLines(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, strings.TrimSuffix(sc.Text(), "\r")); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}

// parser holds the state shared by Parse and Lint.
type parser struct {
	m        *Model
	hexLen   int // 0 until the first hex value
	hexLine  int
	seen     map[string]int // directive -> first line, for once-only ones
	states   map[string]int // state -> first line
	pseudos  map[string]int
	endLine  int
	afterEnd bool // a line other than "signature" followed "end"
	lastLine int
	sealLine int
	warnings []Diagnostic
}

func newParser() *parser {
	return &parser{
		m:       &Model{},
		seen:    map[string]int{},
		states:  map[string]int{},
		pseudos: map[string]int{},
	}
}

func (p *parser) errorf(n int, format string, args ...any) *Diagnostic {
	return &Diagnostic{Line: n, Severity: SeverityError, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) warnf(n int, format string, args ...any) {
	p.warnings = append(p.warnings, Diagnostic{Line: n, Severity: SeverityWarning, Msg: fmt.Sprintf(format, args...)})
}

// line parses one line into p.m. It returns an error diagnostic for a line
// the loader rejects; warnings are collected in p.warnings.
func (p *parser) line(n int, line string) *Diagnostic {
	p.lastLine = n
	if strings.HasPrefix(line, "#") {
		p.m.Comments = append(p.m.Comments, Comment{Before: len(p.m.States), Text: line})
		return nil
	}
	// Trailing white space is dropped: Quixote would pass it on to the
	// kernel, which rejects the value.
	line = strings.TrimRight(line, " \t")
	if line == "" {
		return p.errorf(n, "blank line; Quixote's loader rejects it (delete it or start it with \"#\")")
	}
	word, arg, hasArg := strings.Cut(line, " ")
	if p.endLine != 0 && word != "signature" && !p.afterEnd {
		p.afterEnd = true
		p.warnf(n, "line after \"end\" (line %d); Quixote still loads it", p.endLine)
	}
	switch word {
	case "seal", "end":
		return p.marker(n, word, hasArg)
	case "key", "signature":
		return p.keyLine(n, word, arg)
	case "base", "aggregate", "state", "pseudonym":
		v, d := p.hexArg(n, word, arg)
		if d != nil {
			return d
		}
		return p.value(n, word, v)
	}
	return p.errorf(n, "unknown directive %q; expected one of %s", word, strings.Join(Directives, ", "))
}

// marker handles "seal" and "end", which may each appear once.
func (p *parser) marker(n int, word string, hasArg bool) *Diagnostic {
	if hasArg {
		return p.errorf(n, "%q takes no argument", word)
	}
	if first, ok := p.seen[word]; ok {
		if word == "seal" {
			return p.errorf(n, "second \"seal\" (first on line %d); the kernel refuses a second seal with EPERM", first)
		}
		return p.errorf(n, "second \"end\" (first on line %d)", first)
	}
	p.seen[word] = n
	if word == "seal" {
		p.m.Seal = true
		p.sealLine = n
	} else {
		p.m.End = true
		p.endLine = n
	}
	return nil
}

// keyLine handles "key" and "signature", base64 values that may each
// appear once.
func (p *parser) keyLine(n int, word, arg string) *Diagnostic {
	if arg == "" {
		return p.errorf(n, "%q needs a base64 value", word)
	}
	if _, err := base64.StdEncoding.DecodeString(arg); err != nil {
		return p.errorf(n, "%s value is not valid base64: %v", word, err)
	}
	if first, ok := p.seen[word]; ok {
		return p.errorf(n, "second %q (first on line %d)", word, first)
	}
	p.seen[word] = n
	if word == "key" {
		p.m.Key = arg
		return nil
	}
	p.m.Signature = arg
	if p.m.Key == "" {
		p.warnf(n, "\"signature\" without a preceding \"key\"; Quixote refuses to verify it")
	}
	return nil
}

// value records a validated base, aggregate, state or pseudonym.
func (p *parser) value(n int, word, v string) *Diagnostic {
	switch word {
	case "base", "aggregate":
		if first, ok := p.seen[word]; ok {
			return p.errorf(n, "second %q (first on line %d)", word, first)
		}
		p.seen[word] = n
		if word == "base" {
			p.m.Base = v
		} else {
			p.m.Aggregate = v
		}
	case "state":
		if first, ok := p.states[v]; ok {
			p.warnf(n, "duplicate state (first on line %d); the kernel ignores it", first)
		} else {
			p.states[v] = n
		}
		p.m.States = append(p.m.States, v)
	case "pseudonym":
		if first, ok := p.pseudos[v]; ok {
			p.warnf(n, "duplicate pseudonym (first on line %d)", first)
		} else {
			p.pseudos[v] = n
		}
		p.m.Pseudonyms = append(p.m.Pseudonyms, v)
	}
	return nil
}

// hexArg validates the hex value of a base/aggregate/state/pseudonym line.
func (p *parser) hexArg(n int, word, arg string) (string, *Diagnostic) {
	arg = strings.TrimRight(arg, " \t")
	if arg == "" {
		return "", p.errorf(n, "%q needs a hex value", word)
	}
	if strings.ContainsAny(arg, " \t") {
		return "", p.errorf(n, "%s value %q contains white space; give one hex digest", word, arg)
	}
	if _, err := hex.DecodeString(arg); err != nil {
		return "", p.errorf(n, "%s value %q is not valid hex", word, abbrev(arg))
	}
	if !slices.Contains(digestHexLengths, len(arg)) {
		return "", p.errorf(n, "%s value has %d hex digits; a digest has 40, 56, 64 (sha256), 96 or 128", word, len(arg))
	}
	if p.hexLen == 0 {
		p.hexLen, p.hexLine = len(arg), n
	} else if len(arg) != p.hexLen {
		return "", p.errorf(n, "%s value has %d hex digits but line %d has %d; all digests of a model have one length", word, len(arg), p.hexLine, p.hexLen)
	}
	return strings.ToLower(arg), nil
}

func abbrev(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// WriteTo writes m in the form `quixote -o` writes: aggregate, state lines,
// seal, end. Key, base and pseudonym lines come first when present, so a
// model that was learned with pseudonyms active is loaded with them; the
// signature, when present, comes last. Comments stay next to the states
// they were written between.
//
// A rewrite puts the lines of a hand-edited file into this canonical order,
// which invalidates a signature unless the file was already canonical.
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	comments := m.Comments
	writeComments := func(before int) {
		for len(comments) > 0 && comments[0].Before <= before {
			b.WriteString(comments[0].Text)
			b.WriteByte('\n')
			comments = comments[1:]
		}
	}
	writeComments(0)
	if m.Key != "" {
		fmt.Fprintf(&b, "key %s\n", m.Key)
	}
	if m.Base != "" {
		fmt.Fprintf(&b, "base %s\n", m.Base)
	}
	if m.Aggregate != "" {
		fmt.Fprintf(&b, "aggregate %s\n", m.Aggregate)
	}
	for _, p := range m.Pseudonyms {
		fmt.Fprintf(&b, "pseudonym %s\n", p)
	}
	for i, s := range m.States {
		writeComments(i)
		fmt.Fprintf(&b, "state %s\n", s)
	}
	writeComments(len(m.States) + len(comments)) // the rest
	if m.Seal {
		b.WriteString("seal\n")
	}
	if m.End {
		b.WriteString("end\n")
	}
	if m.Signature != "" {
		fmt.Fprintf(&b, "signature %s\n", m.Signature)
	}
	return b.WriteTo(w)
}

// String returns the model file text (see WriteTo).
func (m *Model) String() string {
	var b strings.Builder
	_, _ = m.WriteTo(&b)
	return b.String()
}

// FromCoefficients builds the model a learn phase exports, as `quixote -o`
// does: the aggregate, one state per line of the namespace's
// trajectory_coefficients file, seal and end. Pseudonyms that were active
// while learning are added so the model loads them again. Values are
// trimmed and lower-cased; empty ones are skipped.
func FromCoefficients(aggregate string, coefficients []string, pseudonyms []string) *Model {
	m := &Model{Aggregate: norm(aggregate), Seal: true, End: true}
	for _, c := range coefficients {
		if c = norm(c); c != "" {
			m.States = append(m.States, c)
		}
	}
	for _, p := range pseudonyms {
		if p = norm(p); p != "" {
			m.Pseudonyms = append(m.Pseudonyms, p)
		}
	}
	return m
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Backprop adds to m the forensic coefficients that are not yet states
// (the "back-propagation" of `quixote-console -M -u`): a comment
// "# N forensic updates" followed by one state per new coefficient, after
// the existing states and so before seal and end. It returns the number of
// states added; with none, m is unchanged.
func Backprop(m *Model, forensicsCoefficients []string) (added int) {
	have := make(map[string]bool, len(m.States))
	for _, s := range m.States {
		have[s] = true
	}
	var add []string
	for _, c := range forensicsCoefficients {
		c = norm(c)
		if c == "" || have[c] {
			continue
		}
		have[c] = true
		add = append(add, c)
	}
	if len(add) == 0 {
		return 0
	}
	m.Comments = append(m.Comments, Comment{Before: len(m.States), Text: fmt.Sprintf("# %d forensic updates", len(add))})
	m.States = append(m.States, add...)
	return len(add)
}

// HexLen returns the number of hex digits of m's digests (from its base,
// aggregate, first pseudonym or first state), or 0 when it has none.
func (m *Model) HexLen() int {
	for _, v := range []string{m.Base, m.Aggregate} {
		if v != "" {
			return len(v)
		}
	}
	for _, l := range [][]string{m.Pseudonyms, m.States} {
		if len(l) > 0 {
			return len(l[0])
		}
	}
	return 0
}

// ReadCoefficients reads security coefficients, one hex digest per line as
// in a phase's forensics_coefficients artifact; blank lines and white
// space around a value are ignored. Each value must be a digest of hexLen
// hex digits (the model's HexLen), or, with hexLen 0, of any digest length
// as long as all have the same. The first bad line is returned as a
// *SyntaxError, so that Backprop never puts a value in a model that Parse
// (and the kernel) would refuse.
func ReadCoefficients(r io.Reader, hexLen int) ([]string, error) {
	var out []string
	first := 0 // line that set hexLen, when the model did not
	err := scanLines(r, func(n int, line string) error {
		v := strings.TrimSpace(line)
		if v == "" {
			return nil
		}
		bad := func(format string, args ...any) error {
			return &SyntaxError{Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		if _, err := hex.DecodeString(v); err != nil || strings.ContainsAny(v, " \t") {
			return bad("coefficient %q is not a hex digest; each line holds one, as in a phase's forensics_coefficients", abbrev(v))
		}
		switch {
		case !slices.Contains(digestHexLengths, len(v)):
			return bad("coefficient has %d hex digits; a digest has 40, 56, 64 (sha256), 96 or 128", len(v))
		case hexLen == 0:
			hexLen, first = len(v), n
		case len(v) != hexLen && first != 0:
			return bad("coefficient has %d hex digits but line %d has %d; all digests of a model have one length", len(v), first, hexLen)
		case len(v) != hexLen:
			return bad("coefficient has %d hex digits but the model's digests have %d; were they taken with another digest?", len(v), hexLen)
		}
		out = append(out, strings.ToLower(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ControlCommands returns the TSEM control-file commands that loading m
// sends, in order: base, pseudonyms, states, and seal when m has "seal".
// The aggregate is not sent. A caller that enforces must write "enforce"
// before these commands: after "seal" the kernel refuses it with EPERM.
func (m *Model) ControlCommands() []string {
	var cmds []string
	if m.Base != "" {
		cmds = append(cmds, "base value="+m.Base)
	}
	for _, p := range m.Pseudonyms {
		cmds = append(cmds, "pseudonym value="+p)
	}
	for _, s := range m.States {
		cmds = append(cmds, "state value="+s)
	}
	if m.Seal {
		cmds = append(cmds, "seal")
	}
	return cmds
}

// Pseudonym returns the TSEM pseudonym of a file path as hex: SHA-256 over
// the path's length as a 32-bit little-endian integer followed by the path
// bytes (what `generate-pseudonym -i PATH` prints, for x86 and other
// little-endian kernels).
//
// Pass the path itself: the published experiment that wrote
// `generate-pseudonym -i -T file` hashed the string "-T".
func Pseudonym(path string) string {
	h := sha256.New()
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(path)))
	h.Write(n[:])
	h.Write([]byte(path))
	return hex.EncodeToString(h.Sum(nil))
}
