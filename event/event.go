// Package event decodes TSEM security event records: the lines of a
// namespace's trajectory and forensics files and the records an export
// namespace queues in external_tma/<id>.
//
// A current record is one line of JSON in which every value is a string:
//
//	{"event": {"process": "cat", "type": "file_open", ...},
//	 "COE": {"uid": "0", ..., "capeff": "0x1ffffffffff"},
//	 "file_open": {"file": {"flags": "32768", "path": {"pathname": "/etc/hostname", ...}, ...}}}
//
// The "event" object describes the task, "COE" its credentials and the
// object named after the hook (the CELL) the hook's arguments. Export
// records wrap the same content with {"export": {"type": "event"|
// "async_event"}}, or carry {"aggregate": {"value": …}} or {"log": {…}}.
// Kernels before 2024 wrote a text form, `event{process=…, type=…}
// COE{…} file{…}`; Parse accepts it too (see Event.Text).
package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Record kinds (Event.Kind).
const (
	KindEvent     = "event"       // a security event (trajectory, forensics, export)
	KindAsync     = "async_event" // an export event from atomic context; the task did not wait
	KindAggregate = "aggregate"   // the first record of an export queue: the hardware aggregate
	KindLog       = "log"         // an export record of an untrusted task's event
)

// Event is one decoded record.
type Event struct {
	// Raw is the record as read, without the line end.
	Raw []byte
	// Kind is one of KindEvent, KindAsync, KindAggregate and KindLog.
	Kind string
	// Exported is true for records with an "export" wrapper.
	Exported bool
	// Text is true for the pre-2024 text form (`event{…} COE{…} …`).
	Text bool
	// Hook is the LSM hook name ("file_open"); for a log record the hook
	// of the logged event; "" for an aggregate record.
	Hook string
	// Header is the "event" object (process, type, task_id, ts, ...).
	Header map[string]string
	// COE holds the task credentials (uid, euid, ..., capeff).
	COE map[string]string
	// CELL holds the hook's arguments, flattened to dotted keys
	// ("file.path.pathname").
	CELL map[string]string
	// Aggregate is the value of an aggregate record.
	Aggregate string
	// Action is LOG or DENY for a log record.
	Action string

	cellOrder []string // CELL keys in record order
	fields    map[string]string
}

// kv is one flattened key and value.
type kv struct{ k, v string }

// Parse decodes one record. Leading and trailing white space is ignored.
func Parse(line []byte) (*Event, error) {
	raw := bytes.TrimRight(line, "\r\n")
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errors.New("empty record")
	}
	var e *Event
	var err error
	if trimmed[0] == '{' || trimmed[0] == '[' {
		e, err = parseJSON(trimmed)
	} else {
		e, err = parseText(trimmed)
	}
	if err != nil {
		return nil, err
	}
	e.Raw = append([]byte(nil), raw...)
	e.buildFields()
	return e, nil
}

// ParseAll decodes a file of records, one per line, skipping blank lines.
// An error names the line.
func ParseAll(r io.Reader) ([]*Event, error) {
	br := bufio.NewReader(r)
	var events []*Event
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := Parse(line)
			if perr != nil {
				return events, fmt.Errorf("line %d: %w", n, perr)
			}
			events = append(events, e)
		}
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// parseJSON decodes the JSON form, keeping the order of keys.
func parseJSON(data []byte) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("parse record: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("parse record: not a JSON object")
	}
	top := map[string][]kv{}
	scalar := map[string]bool{}
	var order []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("parse record: %w", err)
		}
		key, _ := kt.(string)
		var vals []kv
		isObj, err := flatten(dec, "", &vals, 0)
		if err != nil {
			return nil, fmt.Errorf("parse record: %w", err)
		}
		if _, dup := top[key]; !dup {
			order = append(order, key)
		}
		top[key] = vals
		scalar[key] = !isObj
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("parse record: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse record: data after the JSON object")
	}

	obj := func(name string) (map[string]string, error) {
		if scalar[name] {
			return nil, fmt.Errorf("%q is not an object", name)
		}
		m := map[string]string{}
		for _, p := range top[name] {
			m[p.k] = p.v
		}
		return m, nil
	}

	e := &Event{Kind: KindEvent}
	if _, ok := top["export"]; ok {
		exp, err := obj("export")
		if err != nil {
			return nil, err
		}
		e.Exported = true
		e.Kind = exp["type"]
		switch e.Kind {
		case KindEvent, KindAsync, KindAggregate, KindLog:
		default:
			return nil, fmt.Errorf("unknown export type %q; expected event, async_event, aggregate or log", e.Kind)
		}
	} else if _, ok := top["event"]; !ok {
		// Bare aggregate or log records, as a tool may store them.
		for _, k := range []string{KindAggregate, KindLog} {
			if _, ok := top[k]; ok {
				e.Kind = k
			}
		}
	}

	switch e.Kind {
	case KindAggregate:
		agg, err := obj("aggregate")
		if err != nil {
			return nil, err
		}
		if agg["value"] == "" {
			return nil, errors.New(`aggregate record has no "aggregate.value"`)
		}
		e.Aggregate = agg["value"]
		return e, nil
	case KindLog:
		l, err := obj("log")
		if err != nil {
			return nil, err
		}
		if l["event"] == "" {
			return nil, errors.New(`log record has no "log.event"`)
		}
		e.Hook, e.Action = l["event"], l["action"]
		e.Header = map[string]string{"process": l["process"], "type": l["event"]}
		return e, nil
	}

	if _, ok := top["event"]; !ok {
		return nil, errors.New(`record has no "event" object`)
	}
	if e.Header, err = obj("event"); err != nil {
		return nil, err
	}
	if e.COE, err = obj("COE"); err != nil {
		return nil, err
	}
	e.Hook = e.Header["type"]
	if e.Hook == "" {
		// No type in the header: the CELL is the one other object.
		for _, k := range order {
			if k != "event" && k != "COE" && k != "export" {
				e.Hook = k
				break
			}
		}
	}
	if e.Hook == "" {
		return nil, errors.New(`record names no hook: "event.type" is missing`)
	}
	e.CELL = map[string]string{}
	if !scalar[e.Hook] {
		for _, p := range top[e.Hook] {
			e.setCell(p.k, p.v)
		}
	}
	return e, nil
}

// flatten reads one JSON value from dec and appends its scalars under
// dotted keys. It reports whether the value was an object.
func flatten(dec *json.Decoder, prefix string, out *[]kv, depth int) (bool, error) {
	if depth > 64 {
		return false, errors.New("record nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false, err
				}
				k, _ := kt.(string)
				if _, err := flatten(dec, join(k), out, depth+1); err != nil {
					return false, err
				}
			}
			_, err := dec.Token()
			return true, err
		case '[':
			for i := 0; dec.More(); i++ {
				if _, err := flatten(dec, join(strconv.Itoa(i)), out, depth+1); err != nil {
					return false, err
				}
			}
			_, err := dec.Token()
			return false, err
		}
		return false, fmt.Errorf("unexpected %v", t)
	case string:
		*out = append(*out, kv{prefix, t})
	case json.Number:
		*out = append(*out, kv{prefix, t.String()})
	case bool:
		*out = append(*out, kv{prefix, strconv.FormatBool(t)})
	case nil:
		*out = append(*out, kv{prefix, ""})
	}
	return false, nil
}

func (e *Event) setCell(k, v string) {
	if _, ok := e.CELL[k]; !ok {
		e.cellOrder = append(e.cellOrder, k)
	}
	e.CELL[k] = v
}

// parseText decodes the pre-2024 text form:
//
//	[pid{N} ]event{process=…, filename=…, type=…, task_id=…} COE{…} <group>{k=v, …}…
//
// Groups after COE form the CELL; keys of the group named after the hook
// are kept as they are, keys of other groups ("file", "cell") get the
// group name as prefix. `generic_event{type=X}` names hook X.
func parseText(data []byte) (*Event, error) {
	e := &Event{Kind: KindEvent, Text: true, Header: map[string]string{}, COE: map[string]string{}, CELL: map[string]string{}}
	s := string(data)
	type group struct {
		name string
		kvs  []kv
	}
	var groups []group
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		open := strings.IndexByte(s, '{')
		if open <= 0 {
			return nil, fmt.Errorf("parse record: expected name{…} at %q", abbrev(s))
		}
		name := s[:open]
		if strings.ContainsAny(name, " ,=}") {
			return nil, fmt.Errorf("parse record: bad group name %q", abbrev(name))
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("parse record: group %q is not closed", name)
		}
		body := s[open+1 : open+end]
		s = s[open+end+1:]
		g := group{name: name}
		if body != "" {
			for _, part := range strings.Split(body, ",") {
				part = strings.TrimSpace(part)
				k, v, ok := strings.Cut(part, "=")
				if !ok {
					k, v = "", part // pid{1186}, or the oldest event{comm:filename}
				}
				g.kvs = append(g.kvs, kv{k, v})
			}
		}
		groups = append(groups, g)
	}
	if len(groups) == 0 || (groups[0].name != "event" && groups[0].name != "pid") {
		return nil, errors.New(`parse record: text record does not start with "event{"`)
	}
	for _, g := range groups {
		switch g.name {
		case "pid":
			for _, p := range g.kvs {
				e.Header["pid"] = p.v
			}
		case "event":
			for _, p := range g.kvs {
				if p.k == "" {
					p.k = "description"
				}
				e.Header[p.k] = p.v
			}
			e.Hook = e.Header["type"]
		case "COE":
			for _, p := range g.kvs {
				e.COE[p.k] = p.v
			}
		case "generic_event":
			for _, p := range g.kvs {
				if p.k == "type" {
					e.Hook = p.v
				}
				e.setCell("generic_event."+p.k, p.v)
			}
		default:
			for _, p := range g.kvs {
				k := g.name + "." + p.k
				if g.name == e.Hook {
					k = p.k
				}
				e.setCell(k, p.v)
			}
		}
	}
	if e.Hook == "" {
		e.Hook = "unknown"
		for _, g := range groups {
			if g.name != "pid" && g.name != "event" && g.name != "COE" {
				e.Hook = g.name
				break
			}
		}
	}
	return e, nil
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
