package scenario

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits on what a scenario file may make tsemlab read or build. A file
// is user input, possibly hostile: each limit turns what would be a hang
// or an exhausted host into a ValidationError.
const (
	// MaxFileSize bounds a scenario file. Real scenarios are a few KiB.
	MaxFileSize = 1 << 20
	// MaxModelSize bounds a model file named by `load:`. A learned model
	// of a whole distribution boot is well under 1 MiB.
	MaxModelSize = 4 << 20
	// MaxNameLen bounds scenario, phase and export names. They become
	// file names and part of the runner's temporary socket paths, which
	// the kernel limits to 107 bytes.
	MaxNameLen = 64
	// maxAliasNodes bounds how many nodes aliases (*name, and the merge
	// keys that use them) may add to a file when expanded; nested aliases
	// otherwise grow exponentially with the file's size ("billion laughs").
	maxAliasNodes = 100_000
	// maxDepth bounds nesting, aliases included. The schema itself nests
	// about ten levels.
	maxDepth = 64
)

// readFile reads a scenario file, refusing anything that is not a regular
// file of at most MaxFileSize bytes before reading it: a FIFO would block
// the open or the read for ever, a device (/dev/zero) never ends.
func readFile(file string) ([]byte, *ValidationError) {
	// Stat before open: opening some devices does something.
	st, err := os.Stat(file)
	if err != nil {
		return nil, readError(file, err)
	}
	if e := checkRegular(file, st, MaxFileSize, "scenario"); e != nil {
		return nil, e
	}
	// O_NONBLOCK: should the path have become a FIFO since the stat, the
	// open returns at once and the fstat below refuses it.
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, readError(file, err)
	}
	defer f.Close()
	return readLimited(file, f, MaxFileSize, "scenario")
}

// readLimited reads f after checking with fstat that it is a regular file
// of at most limit bytes; it stops at limit+1 bytes should the file grow
// meanwhile (or report a size of 0, as /proc files do).
func readLimited(file string, f *os.File, limit int64, what string) ([]byte, *ValidationError) {
	st, err := f.Stat()
	if err != nil {
		return nil, readError(file, err)
	}
	if e := checkRegular(file, st, limit, what); e != nil {
		return nil, e
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, readError(file, err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig(file, what, -1, limit)
	}
	return data, nil
}

// checkRegular refuses what is not a regular file of at most limit bytes.
func checkRegular(file string, st fs.FileInfo, limit int64, what string) *ValidationError {
	m := st.Mode()
	switch {
	case m.IsDir():
		if what == "scenario" {
			return &ValidationError{File: file, Msg: "is a directory; name a .yaml file in it, or load the directory as a whole"}
		}
		return &ValidationError{File: file, Msg: "is a directory, not a " + what + " file"}
	case !m.IsRegular():
		return &ValidationError{File: file, Msg: fmt.Sprintf("is %s; a %s file must be a regular file", fileKind(m), what)}
	case st.Size() > limit:
		return tooBig(file, what, st.Size(), limit)
	}
	return nil
}

func tooBig(file, what string, size, limit int64) *ValidationError {
	has := "is larger than"
	if size >= 0 {
		has = fmt.Sprintf("has %d bytes, more than", size)
	}
	hint := "split it into several scenario files"
	if what != "scenario" {
		hint = "is it really a " + what + " file?"
	}
	return &ValidationError{File: file, Msg: fmt.Sprintf("%s the %s limit of %s; %s", has, what, sizeName(limit), hint)}
}

// sizeName says n bytes for a message: "1 MiB (1048576 bytes)".
func sizeName(n int64) string {
	if n > 0 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// fileKind names a non-regular file type for a message.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// checkText reports the first NUL byte or invalid UTF-8 sequence in data
// at its line and column; yaml.v3 names neither position.
func (d *decoder) checkText(data []byte) bool {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			d.errs = append(d.errs, &ValidationError{File: d.file, Line: line, Col: col,
				Msg: fmt.Sprintf("the file is not UTF-8 text (byte 0x%02x); save it as UTF-8", data[i])})
			return false
		case r == 0:
			d.errs = append(d.errs, &ValidationError{File: d.file, Line: line, Col: col,
				Msg: "the file contains a NUL byte; scenario files are text, remove it"})
			return false
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return true
}

// expansion measures a node tree with every alias expanded, without
// expanding it: each node's expanded size and height are computed once
// (remembered for anchored nodes, the only ones aliases reach).
type expansion struct {
	ctx      context.Context
	measured map[*yaml.Node]extent
	// open holds the anchored nodes being measured: an alias to one of
	// them is a cycle.
	open map[*yaml.Node]bool
	// limit is the most nodes the tree may have once expanded.
	limit int
	// visits counts work, to look at ctx now and then.
	visits int
	// at is the node where the first problem shows, why says which.
	at  *yaml.Node
	why string
	err error
}

// extent is the size (nodes) and height (levels) of an expanded node.
type extent struct{ size, height int }

// checkExpansion reports a tree whose aliases would expand it by more than
// maxAliasNodes nodes, that nests deeper than maxDepth levels once
// expanded, or whose aliases refer to a node that contains them, before
// the schema walk visits (and stores) every expanded node.
func (d *decoder) checkExpansion(ctx context.Context, root *yaml.Node) bool {
	e := &expansion{ctx: ctx, measured: map[*yaml.Node]extent{}, open: map[*yaml.Node]bool{}}
	e.limit = literalSize(root) + maxAliasNodes
	e.measure(root, 0)
	switch {
	case e.err != nil:
		// Cancelled: the caller reports that, not this file.
		d.errorf(nil, "interrupted: %v", e.err)
	case e.why == "cycle":
		d.errorf(e.at, "the alias *%s is used inside the node it names, which would repeat for ever; remove it", e.at.Value)
	case e.why == "deep":
		d.errorf(e.at, "the YAML nests deeper than %d levels (aliases included); a scenario needs about ten", maxDepth)
	case e.why == "size":
		d.errorf(e.at, "aliases (*name and <<: merge keys) would expand this file by more than %d nodes; write the repeated parts out, or repeat them less", maxAliasNodes)
	default:
		return true
	}
	return false
}

// literalSize counts the nodes of the tree as written, an alias as one.
func literalSize(root *yaml.Node) int {
	n := 0
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		if top.Kind != yaml.AliasNode {
			stack = append(stack, top.Content...)
		}
	}
	return n
}

// fail records the first problem; measuring stops there.
func (e *expansion) fail(n *yaml.Node, why string) extent {
	if e.why == "" {
		e.at, e.why = n, why
	}
	return extent{e.limit + 1, maxDepth + 1}
}

// measure returns the expanded extent of n, found at the given depth of
// the tree as written (the recursion never goes deeper than that tree,
// since an alias's target is measured before the alias).
func (e *expansion) measure(n *yaml.Node, depth int) extent {
	switch {
	case e.why != "" || e.err != nil:
		return extent{e.limit + 1, maxDepth + 1}
	case n == nil:
		return extent{1, 1}
	case e.open[n]:
		return e.fail(n, "cycle")
	case depth > maxDepth:
		return e.fail(n, "deep")
	}
	// Only an anchored node can be reached twice (through aliases); the
	// others are measured once, from their parent, and not remembered.
	anchored := n.Anchor != ""
	if x, ok := e.measured[n]; ok {
		return x
	}
	if e.visits++; e.visits%4096 == 0 {
		if err := e.ctx.Err(); err != nil {
			e.err = err
			return extent{e.limit + 1, maxDepth + 1}
		}
	}
	if anchored {
		e.open[n] = true
		defer delete(e.open, n)
	}
	var x extent
	if n.Kind == yaml.AliasNode {
		if e.open[n.Alias] {
			return e.fail(n, "cycle")
		}
		x = e.measure(n.Alias, depth+1)
	} else {
		x = extent{1, 1}
		for _, c := range n.Content {
			cx := e.measure(c, depth+1)
			x.size += cx.size
			x.height = max(x.height, cx.height+1)
			if e.why != "" || e.err != nil {
				return x
			}
			if x.size > e.limit {
				return e.fail(c, "size")
			}
			if x.height > maxDepth {
				return e.fail(c, "deep")
			}
		}
	}
	if anchored {
		e.measured[n] = x
	}
	return x
}
