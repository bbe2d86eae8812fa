package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// CacheDir is $TSEMLAB_CACHE, else $XDG_CACHE_HOME/tsemlab, else
// ~/.cache/tsemlab. With neither HOME nor XDG_CACHE_HOME set it is
// tsemlab-cache-UID in the temporary directory (/tmp), created mode 0700 and
// logged: a cache hit is trusted without hashing the cached kernel and
// image again, so CacheDir refuses that directory when another user owns
// it, it is a symbolic link, or group or others may write to it.
func CacheDir(log *slog.Logger) (string, error) {
	if d := os.Getenv("TSEMLAB_CACHE"); d != "" {
		return d, nil
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tsemlab"), nil
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("tsemlab-cache-%d", os.Getuid()))
	if err := privateDir(d); err != nil {
		return "", infra(fmt.Errorf("cache directory (neither HOME nor XDG_CACHE_HOME is set): %w; set TSEMLAB_CACHE or HOME", err))
	}
	if log == nil {
		log = slog.Default()
	}
	log.Info("neither HOME nor XDG_CACHE_HOME is set: caching in a directory private to this user", "dir", d)
	return d, nil
}

// privateDir creates d mode 0700 unless it exists, then checks that it is
// a directory (not a link to one) of this user that only this user may
// write to.
func privateDir(d string) error {
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	st, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory (%s): remove it", d, st.Mode().Type())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to another user: remove it", d)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %v): chmod 700 it or remove it", d, st.Mode().Perm())
	}
	return nil
}
