package tsem

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/model"
)

// MaxCommandLen is the longest control write the kernel accepts, the
// trailing newline included.
const MaxCommandLen = 127

// Control writes commands to the TSEM control file, one command per
// write(2). The kernel parses each write on its own and ignores the file
// offset, so one open descriptor serves every command.
//
// Every command but internal/external/export acts on the writer's own
// namespace (2025 fs.c; the real-kernel labs ran them from the namespace
// leader after "internal"), so write them from inside the namespace.
type Control struct {
	w io.Writer
}

// NewControl returns a Control that sends each command as one Write call
// on w. Tests pass a recorder; OpenControl passes the control file.
func NewControl(w io.Writer) *Control { return &Control{w: w} }

// OpenControl opens a control file for writing. The kernel requires
// CAP_MAC_ADMIN and refuses others with EACCES.
func OpenControl(path string) (*Control, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open tsem control: %w", &os.PathError{Op: "open", Path: path, Err: err})
		}
		return &Control{w: fdWriter(fd)}, nil
	}
}

// Close closes the control file when Control owns it.
func (c *Control) Close() error {
	if cl, ok := c.w.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// fdWriter writes with exactly one write(2) per Write.
type fdWriter int

func (fd fdWriter) Write(p []byte) (int, error) {
	for {
		n, err := unix.Write(int(fd), p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

func (fd fdWriter) Close() error { return unix.Close(int(fd)) }

// ErrCommandTooLong is returned, before anything is written, for a command
// longer than MaxCommandLen with its newline.
var ErrCommandTooLong = errors.New("longer than the kernel's 127 bytes")

// Send writes one command; the newline the kernel requires is added. A
// kernel error comes back wrapped with the command, e.g.
// `tsem control "seal": operation not permitted`, and matches the errno
// with errors.Is (unix.EPERM, unix.EINVAL).
func (c *Control) Send(cmd string) error {
	if strings.ContainsAny(cmd, "\n\x00") {
		return fmt.Errorf("tsem control %q: a command is one line", cmd)
	}
	if len(cmd)+1 > MaxCommandLen {
		return fmt.Errorf("tsem control %q: %d bytes with newline: %w", cmd, len(cmd)+1, ErrCommandTooLong)
	}
	n, err := c.w.Write([]byte(cmd + "\n"))
	if err != nil {
		return fmt.Errorf("tsem control %q: %w", cmd, err)
	}
	if n != len(cmd)+1 {
		return fmt.Errorf("tsem control %q: %w", cmd, io.ErrShortWrite)
	}
	return nil
}

// NamespaceOptions configures a new modeling namespace. Zero values leave
// the kernel's defaults (sha256, the built-in cache size, initial user
// namespace, model0).
type NamespaceOptions struct {
	// Digest is the namespace hash, a kernel shash name ("sha256").
	Digest string
	// Cache is the number of preallocated event structures for atomic
	// context ("cache="); raise it when the kernel logs allocation failures.
	Cache int
	// NSRef is "initial" or "current": whose user namespace credentials
	// are reported in (Quixote's -u gives "current").
	NSRef string
	// Model names a loadable model instead of model0.
	Model string
}

// command builds "<verb> [model=…] [nsref=…] [digest=…] [cache=…]".
func (o NamespaceOptions) command(verb string) string {
	parts := []string{verb}
	if o.Model != "" {
		parts = append(parts, "model="+o.Model)
	}
	if o.Digest != "" {
		parts = append(parts, "digest="+o.Digest)
	}
	if o.Cache > 0 {
		parts = append(parts, "cache="+strconv.Itoa(o.Cache))
	}
	if o.NSRef != "" {
		parts = append(parts, "nsref="+o.NSRef)
	}
	return strings.Join(parts, " ")
}

// Internal creates an internally modeled namespace and moves the calling
// task into it, e.g. "internal digest=sha256 cache=16 nsref=current".
// Only the calling thread's task moves: call it from a locked OS thread or
// from a process whose children form the workload.
func (c *Control) Internal(opts NamespaceOptions) error {
	if opts.Cache < 0 {
		return fmt.Errorf("tsem control internal: cache %d must be positive", opts.Cache)
	}
	return c.Send(opts.command("internal"))
}

// Enforce makes out-of-model events fail with EPERM. It must come before
// Seal: the kernel refuses "enforce" in a sealed namespace with EPERM.
func (c *Control) Enforce() error { return c.Send("enforce") }

// Seal ends learning: from now on a new event is a forensic violation and
// makes its task untrusted. A second seal fails with EPERM.
func (c *Control) Seal() error { return c.Send("seal") }

// State adds a security coefficient to the namespace's model.
func (c *Control) State(hexValue string) error { return c.point("state", hexValue) }

// Pseudonym registers a file-path pseudonym (see model.Pseudonym).
func (c *Control) Pseudonym(hexValue string) error { return c.point("pseudonym", hexValue) }

// Base sets the model's base nonce.
func (c *Control) Base(hexValue string) error { return c.point("base", hexValue) }

func (c *Control) point(verb, v string) error {
	cmd := verb + " value=" + v
	if _, err := hex.DecodeString(v); err != nil || v == "" {
		return fmt.Errorf("tsem control %q: value is not a hex digest", cmd)
	}
	return c.Send(cmd)
}

// LoadModel sends a model to the namespace: "enforce" first when enforce
// is set, then base, pseudonyms and states, then "seal" when the model has
// "seal". The kernel refuses "enforce" after "seal" with EPERM, which is
// why enforcing cannot be added once a sealed model is loaded.
func (c *Control) LoadModel(m *model.Model, enforce bool) error {
	if enforce {
		if err := c.Enforce(); err != nil {
			return fmt.Errorf("load model: %w", err)
		}
	}
	for _, cmd := range m.ControlCommands() {
		if err := c.Send(cmd); err != nil {
			return fmt.Errorf("load model: %w", err)
		}
	}
	return nil
}
