package tsem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/model"
)

// recorder records each Write call, like the kernel sees each write(2),
// and fails the commands listed in fail with their errno.
type recorder struct {
	writes []string
	fail   map[string]error
}

func (r *recorder) Write(p []byte) (int, error) {
	cmd := string(p)
	if err, ok := r.fail[strings.TrimSuffix(cmd, "\n")]; ok {
		return 0, err
	}
	r.writes = append(r.writes, cmd)
	return len(p), nil
}

const (
	coeffA = "ead197b8ae2e7cce3fd5b30f4eec133455f4cfffe355b632ddee021a3ed67626"
	coeffB = "e3bc6936147e0a8083620fa1bb4bc05577f70a5f7eed375f9204e766fdd0309b"
)

func TestControl_CommandsAreOneWriteEachWithNewline(t *testing.T) {
	tests := []struct {
		name string
		send func(*Control) error
		want string
	}{
		{"internal with all options", func(c *Control) error {
			return c.Internal(NamespaceOptions{Digest: "sha256", Cache: 16, NSRef: "current"})
		}, "internal digest=sha256 cache=16 nsref=current\n"},
		{"internal with defaults", func(c *Control) error { return c.Internal(NamespaceOptions{}) }, "internal\n"},
		{"internal with a loadable model", func(c *Control) error {
			return c.Internal(NamespaceOptions{Model: "model1", NSRef: "initial"})
		}, "internal model=model1 nsref=initial\n"},
		{"enforce", (*Control).Enforce, "enforce\n"},
		{"seal", (*Control).Seal, "seal\n"},
		{"state", func(c *Control) error { return c.State(coeffA) }, "state value=" + coeffA + "\n"},
		{"pseudonym", func(c *Control) error { return c.Pseudonym(model.Pseudonym("/root/.bash_history")) },
			"pseudonym value=0f34f4a364460cecdacbaf292e48d9e10998521665b9aa0ab63f9a91e68d470e\n"},
		{"base", func(c *Control) error { return c.Base(coeffB) }, "base value=" + coeffB + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			require.NoError(t, tt.send(NewControl(rec)))
			assert.Equal(t, []string{tt.want}, rec.writes)
		})
	}
}

func TestControl_RefusesBeforeWriting(t *testing.T) {
	tests := []struct {
		name string
		send func(*Control) error
		want string
	}{
		{"too long", func(c *Control) error { return c.Send("state value=" + strings.Repeat("ab", 64)) }, "longer than the kernel's 127 bytes"},
		{"two lines", func(c *Control) error { return c.Send("enforce\nseal") }, "a command is one line"},
		{"not hex", func(c *Control) error { return c.State("xyz") }, `tsem control "state value=xyz": value is not a hex digest`},
		{"empty value", func(c *Control) error { return c.Pseudonym("") }, "value is not a hex digest"},
		{"negative cache", func(c *Control) error { return c.Internal(NamespaceOptions{Cache: -1}) }, "cache -1 must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			err := tt.send(NewControl(rec))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, rec.writes)
		})
	}
}

func TestControl_MaxLengthCommandIsSent(t *testing.T) {
	rec := &recorder{}
	cmd := "state value=" + strings.Repeat("a", MaxCommandLen-1-len("state value="))
	require.NoError(t, NewControl(rec).Send(cmd))
	assert.Len(t, rec.writes[0], MaxCommandLen)

	err := NewControl(rec).Send(cmd + "a")
	assert.ErrorIs(t, err, ErrCommandTooLong)
}

func TestControl_KernelErrorNamesTheCommand(t *testing.T) {
	rec := &recorder{fail: map[string]error{"seal": unix.EPERM, "state value=00": unix.EINVAL}}
	c := NewControl(rec)

	err := c.Seal()
	require.Error(t, err)
	assert.Equal(t, `tsem control "seal": operation not permitted`, err.Error())
	assert.ErrorIs(t, err, unix.EPERM)

	err = c.State("00")
	assert.Equal(t, `tsem control "state value=00": invalid argument`, err.Error())
	assert.ErrorIs(t, err, unix.EINVAL)
}

func TestControl_ShortWrite(t *testing.T) {
	err := NewControl(shortWriter{}).Enforce()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "short write")
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

func TestLoadModel_Order(t *testing.T) {
	sealed := &model.Model{
		Aggregate:  zeros,
		Base:       coeffB,
		Pseudonyms: []string{coeffB},
		States:     []string{coeffA, coeffB},
		Seal:       true,
		End:        true,
	}
	learnOnly := &model.Model{Pseudonyms: []string{coeffA}, End: true}
	tests := []struct {
		name    string
		m       *model.Model
		enforce bool
		want    []string
	}{
		{"enforce comes before the model and its seal", sealed, true, []string{
			"enforce\n", "base value=" + coeffB + "\n", "pseudonym value=" + coeffB + "\n",
			"state value=" + coeffA + "\n", "state value=" + coeffB + "\n", "seal\n"}},
		{"no enforce", sealed, false, []string{
			"base value=" + coeffB + "\n", "pseudonym value=" + coeffB + "\n",
			"state value=" + coeffA + "\n", "state value=" + coeffB + "\n", "seal\n"}},
		{"model without seal is not sealed", learnOnly, false, []string{"pseudonym value=" + coeffA + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			require.NoError(t, NewControl(rec).LoadModel(tt.m, tt.enforce))
			assert.Equal(t, tt.want, rec.writes)
			for _, w := range rec.writes {
				assert.NotContains(t, w, zeros, "the aggregate is never sent")
			}
		})
	}
}

func TestLoadModel_StopsAtFirstKernelError(t *testing.T) {
	rec := &recorder{fail: map[string]error{"state value=" + coeffA: unix.EINVAL}}
	m := &model.Model{States: []string{coeffA, coeffB}, Seal: true}

	err := NewControl(rec).LoadModel(m, true)

	require.Error(t, err)
	assert.Equal(t, `load model: tsem control "state value=`+coeffA+`": invalid argument`, err.Error())
	assert.Equal(t, []string{"enforce\n"}, rec.writes)
}

func TestOpenControl_WritesToTheFile(t *testing.T) {
	root := fakeSecurityfs(t, "capability,tsem", "learned-set-learn")
	c, err := FS{Root: root}.OpenControl()
	require.NoError(t, err)

	require.NoError(t, c.Internal(NamespaceOptions{Digest: "sha256"}))
	require.NoError(t, c.Enforce())
	require.NoError(t, c.Close())

	// A regular file appends where the kernel parses each write alone.
	data, err := os.ReadFile(filepath.Join(root, "tsem/control"))
	require.NoError(t, err)
	assert.Equal(t, "internal digest=sha256\nenforce\n", string(data))
}

func TestOpenControl_MissingFile(t *testing.T) {
	_, err := OpenControl(filepath.Join(t.TempDir(), "control"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.Contains(t, err.Error(), "open tsem control: open ")
}
