package model

import (
	"fmt"
	"strings"
)

// Delta is the difference between two models.
type Delta struct {
	// OnlyA and OnlyB are the states found in only one model, in file order.
	OnlyA, OnlyB []string
	// PseudonymsOnlyA and PseudonymsOnlyB are the pseudonyms found in only
	// one model.
	PseudonymsOnlyA, PseudonymsOnlyB []string
	// BaseA/BaseB and AggregateA/AggregateB are set when the values differ.
	BaseA, BaseB           string
	AggregateA, AggregateB string
	// SealChanged is true when exactly one model seals; SealA and SealB
	// then say which.
	SealChanged  bool
	SealA, SealB bool
}

// Diff compares the content of a and b that the kernel or a signature
// sees: states and pseudonyms as sets, base, aggregate and seal. Order,
// duplicates and comments are ignored.
func Diff(a, b *Model) Delta {
	var d Delta
	d.OnlyA, d.OnlyB = setDiff(a.States, b.States)
	d.PseudonymsOnlyA, d.PseudonymsOnlyB = setDiff(a.Pseudonyms, b.Pseudonyms)
	if a.Base != b.Base {
		d.BaseA, d.BaseB = a.Base, b.Base
	}
	if a.Aggregate != b.Aggregate {
		d.AggregateA, d.AggregateB = a.Aggregate, b.Aggregate
	}
	if a.Seal != b.Seal {
		d.SealChanged, d.SealA, d.SealB = true, a.Seal, b.Seal
	}
	return d
}

// setDiff returns the members of a not in b and of b not in a, each once
// and in order.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	inA, inB := set(a), set(b)
	onlyA = missing(a, inB)
	onlyB = missing(b, inA)
	return onlyA, onlyB
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func missing(xs []string, in map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !in[x] && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Empty reports whether the models are the same.
func (d Delta) Empty() bool {
	return len(d.OnlyA) == 0 && len(d.OnlyB) == 0 && len(d.PseudonymsOnlyA) == 0 &&
		len(d.PseudonymsOnlyB) == 0 && d.BaseA == d.BaseB && d.AggregateA == d.AggregateB && !d.SealChanged
}

// String describes the difference, one line per changed item:
//
//	aggregate: 0000… -> 1111…
//	- state 3d1c…
//	+ state 9f00…
//
// "-" lines are only in the first model, "+" lines only in the second.
func (d Delta) String() string { return d.Annotated(nil, nil) }

// Annotated is String with a note after each state line: notesA[state]
// for the states only in the first model, notesB[state] for those only in
// the second (tsemlab puts a summary of the event behind the state
// there). States without a note are printed as in String.
func (d Delta) Annotated(notesA, notesB map[string]string) string {
	if d.Empty() {
		return "models are the same\n"
	}
	var b strings.Builder
	change := func(name, a, c string) {
		if a != c {
			fmt.Fprintf(&b, "%s: %s -> %s\n", name, orNone(a), orNone(c))
		}
	}
	change("base", d.BaseA, d.BaseB)
	change("aggregate", d.AggregateA, d.AggregateB)
	if d.SealChanged {
		fmt.Fprintf(&b, "seal: %t -> %t\n", d.SealA, d.SealB)
	}
	list := func(sign, name string, xs []string, notes map[string]string) {
		for _, x := range xs {
			if note := notes[x]; note != "" {
				fmt.Fprintf(&b, "%s %s %s  %s\n", sign, name, x, note)
			} else {
				fmt.Fprintf(&b, "%s %s %s\n", sign, name, x)
			}
		}
	}
	list("-", "pseudonym", d.PseudonymsOnlyA, nil)
	list("+", "pseudonym", d.PseudonymsOnlyB, nil)
	list("-", "state", d.OnlyA, notesA)
	list("+", "state", d.OnlyB, notesB)
	fmt.Fprintf(&b, "%d states only in the first model, %d only in the second\n", len(d.OnlyA), len(d.OnlyB))
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
