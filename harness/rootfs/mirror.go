package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Environment variables that override the mirror and the suite (flags
// override them in turn).
const (
	EnvMirror = "TSEMLAB_DEBIAN_MIRROR"
	EnvSuite  = "TSEMLAB_DEBIAN_SUITE"
)

// DefaultMirror is used when apt here names no Debian mirror.
const DefaultMirror = "http://deb.debian.org/debian"

// Source is one entry of apt's sources: a repository and its suites.
type Source struct {
	URI        string
	Suites     []string
	Components []string
}

// Mirror is the Debian mirror images are built from: $TSEMLAB_DEBIAN_MIRROR,
// else the one apt on this host uses (see PickMirror), else DefaultMirror.
func Mirror() string {
	if m := os.Getenv(EnvMirror); m != "" {
		return strings.TrimRight(m, "/")
	}
	if m := PickMirror(AptSources("/etc/apt")); m != "" {
		return m
	}
	return DefaultMirror
}

// AptSources reads the binary-package entries of sources.list and of the
// *.list and *.sources files in sources.list.d under dir (normally
// /etc/apt), in the order apt reads them. Unreadable files are skipped.
func AptSources(dir string) []Source {
	var out []Source
	if b, err := os.ReadFile(filepath.Join(dir, "sources.list")); err == nil {
		out = append(out, ParseSourcesList(string(b))...)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		switch filepath.Ext(f) {
		case ".list":
			out = append(out, ParseSourcesList(string(b))...)
		case ".sources":
			out = append(out, ParseDeb822Sources(string(b))...)
		}
	}
	return out
}

// ParseSourcesList parses the one-line format: deb [options] URI SUITE
// [COMPONENT...].
func ParseSourcesList(text string) []Source {
	var out []Source
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options may hold spaces: [ arch=amd64 signed-by=... ].
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, Source{URI: f[0], Suites: []string{f[1]}, Components: f[2:]})
	}
	return out
}

// ParseDeb822Sources parses the deb822 format of *.sources files, skipping
// stanzas that are disabled or not of type deb.
func ParseDeb822Sources(text string) []Source {
	var out []Source
	flush := func(st map[string]string) {
		if len(st) == 0 || strings.EqualFold(st["enabled"], "no") || !slices.Contains(strings.Fields(st["types"]), "deb") {
			return
		}
		for _, uri := range strings.Fields(st["uris"]) {
			out = append(out, Source{URI: uri, Suites: strings.Fields(st["suites"]), Components: strings.Fields(st["components"])})
		}
	}
	st := map[string]string{}
	last := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush(st)
			st, last = map[string]string{}, ""
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				st[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			st[last] = strings.TrimSpace(v)
		}
	}
	flush(st)
	return out
}

// PickMirror returns the URI of the first source that looks like a Debian
// archive: a release suite (a bare codename, not -updates or -security)
// with the main component. It prefers URIs ending in /debian. "" means
// none.
func PickMirror(sources []Source) string {
	var first string
	for _, s := range sources {
		if !strings.HasPrefix(s.URI, "http://") && !strings.HasPrefix(s.URI, "https://") && !strings.HasPrefix(s.URI, "file:/") {
			continue
		}
		release := slices.ContainsFunc(s.Suites, func(x string) bool { return suiteRE.MatchString(x) && !strings.Contains(x, "-") })
		if !release || !slices.Contains(s.Components, "main") {
			continue
		}
		uri := strings.TrimRight(s.URI, "/")
		if strings.HasSuffix(uri, "/debian") {
			return uri
		}
		if first == "" {
			first = uri
		}
	}
	return first
}

// SuiteOverride is $TSEMLAB_DEBIAN_SUITE: a suite every image is built
// from instead of its definition's, with no fallback.
func SuiteOverride() string { return os.Getenv(EnvSuite) }
