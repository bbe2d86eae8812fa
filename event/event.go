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
	r, err := readObject(data)
	if err != nil {
		return nil, err
	}
	e := &Event{Kind: KindEvent}
	if err := r.kind(e); err != nil {
		return nil, err
	}
	switch e.Kind {
	case KindAggregate:
		return e, r.aggregate(e)
	case KindLog:
		return e, r.log(e)
	}
	return e, r.event(e)
}

// object is a record's top-level fields, each flattened to dotted keys.
type object struct {
	top    map[string][]kv
	scalar map[string]bool
	order  []string
}

// readObject reads data as exactly one JSON object.
func readObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("parse record: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("parse record: not a JSON object")
	}
	r := &object{top: map[string][]kv{}, scalar: map[string]bool{}}
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
		if _, dup := r.top[key]; !dup {
			r.order = append(r.order, key)
		}
		r.top[key] = vals
		r.scalar[key] = !isObj
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("parse record: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse record: data after the JSON object")
	}
	return r, nil
}

func (r *object) has(name string) bool {
	_, ok := r.top[name]
	return ok
}

// obj returns a top-level object's fields.
func (r *object) obj(name string) (map[string]string, error) {
	if r.scalar[name] {
		return nil, fmt.Errorf("%q is not an object", name)
	}
	m := map[string]string{}
	for _, p := range r.top[name] {
		m[p.k] = p.v
	}
	return m, nil
}

// kind sets the record's kind: an export record says it, a bare aggregate
// or log record is known by its object.
func (r *object) kind(e *Event) error {
	if r.has("export") {
		exp, err := r.obj("export")
		if err != nil {
			return err
		}
		e.Exported = true
		e.Kind = exp["type"]
		switch e.Kind {
		case KindEvent, KindAsync, KindAggregate, KindLog:
			return nil
		}
		return fmt.Errorf("unknown export type %q; expected event, async_event, aggregate or log", e.Kind)
	}
	if !r.has("event") {
		// Bare aggregate or log records, as a tool may store them.
		for _, k := range []string{KindAggregate, KindLog} {
			if r.has(k) {
				e.Kind = k
			}
		}
	}
	return nil
}

func (r *object) aggregate(e *Event) error {
	agg, err := r.obj("aggregate")
	if err != nil {
		return err
	}
	if agg["value"] == "" {
		return errors.New(`aggregate record has no "aggregate.value"`)
	}
	e.Aggregate = agg["value"]
	return nil
}

func (r *object) log(e *Event) error {
	l, err := r.obj("log")
	if err != nil {
		return err
	}
	if l["event"] == "" {
		return errors.New(`log record has no "log.event"`)
	}
	e.Hook, e.Action = l["event"], l["action"]
	e.Header = map[string]string{"process": l["process"], "type": l["event"]}
	return nil
}

// event fills a security event: header, COE, and the CELL named by the
// header's type (or, without one, the one other object).
func (r *object) event(e *Event) error {
	var err error
	if !r.has("event") {
		return errors.New(`record has no "event" object`)
	}
	if e.Header, err = r.obj("event"); err != nil {
		return err
	}
	if e.COE, err = r.obj("COE"); err != nil {
		return err
	}
	e.Hook = e.Header["type"]
	if e.Hook == "" {
		for _, k := range r.order {
			if k != "event" && k != "COE" && k != "export" {
				e.Hook = k
				break
			}
		}
	}
	if e.Hook == "" {
		return errors.New(`record names no hook: "event.type" is missing`)
	}
	e.CELL = map[string]string{}
	if !r.scalar[e.Hook] {
		for _, p := range r.top[e.Hook] {
			e.setCell(p.k, p.v)
		}
	}
	return nil
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
		e.addTextGroup(g.name, g.kvs)
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

// addTextGroup adds one name{k=v, ...} group of a text record.
func (e *Event) addTextGroup(name string, kvs []kv) {
	for _, p := range kvs {
		switch name {
		case "pid":
			e.Header["pid"] = p.v
		case "event":
			if p.k == "" {
				p.k = "description"
			}
			e.Header[p.k] = p.v
			if p.k == "type" {
				e.Hook = p.v
			}
		case "COE":
			e.COE[p.k] = p.v
		case "generic_event":
			if p.k == "type" {
				e.Hook = p.v
			}
			e.setCell("generic_event."+p.k, p.v)
		default:
			k := name + "." + p.k
			if name == e.Hook {
				k = p.k
			}
			e.setCell(k, p.v)
		}
	}
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
