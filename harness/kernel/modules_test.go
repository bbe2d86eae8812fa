package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// elfModule returns a minimal ELF64 relocatable object, like a .ko, whose
// only section besides the names is .modinfo holding modinfo.
func elfModule(t *testing.T, modinfo string) []byte {
	t.Helper()
	const shstrtab = "\x00.modinfo\x00.shstrtab\x00"
	hdrSize := binary.Size(elf.Header64{})
	modOff := hdrSize
	strOff := modOff + len(modinfo)
	shOff := (strOff + len(shstrtab) + 7) &^ 7
	hdr := elf.Header64{
		Type:      uint16(elf.ET_REL),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Shoff:     uint64(shOff),
		Ehsize:    uint16(hdrSize),
		Shentsize: uint16(binary.Size(elf.Section64{})),
		Shnum:     3,
		Shstrndx:  2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	sections := []elf.Section64{
		{}, // SHN_UNDEF
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: uint64(modOff), Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: uint64(strOff), Size: uint64(len(shstrtab)), Addralign: 1},
	}
	var b bytes.Buffer
	require.NoError(t, binary.Write(&b, binary.LittleEndian, hdr))
	b.WriteString(modinfo)
	b.WriteString(shstrtab)
	b.Write(make([]byte, shOff-b.Len()))
	require.NoError(t, binary.Write(&b, binary.LittleEndian, sections))
	return b.Bytes()
}

// moduleTree writes modules (file name under dir → modinfo) as ELF files.
func moduleTree(t *testing.T, modules map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, info := range modules {
		p := filepath.Join(dir, "kernel", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, elfModule(t, info), 0o644))
	}
	return dir
}

func TestElfModule_IsReadableByDebugElf(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(elfModule(t, "depends=b,c\x00name=a\x00")))
	require.NoError(t, err)
	sec := f.Section(".modinfo")
	require.NotNil(t, sec)
	data, err := sec.Data()
	require.NoError(t, err)
	assert.Equal(t, "depends=b,c\x00name=a\x00", string(data))
}

func TestModuleOrder_DependenciesFirst(t *testing.T) {
	dir := moduleTree(t, map[string]string{
		"a.ko":            "license=GPL\x00depends=b,c\x00name=a\x00",
		"sub/b.ko":        "depends=c\x00name=b\x00",
		"sub/deeper/c.ko": "depends=\x00name=c\x00",
		"virtio-net.ko":   "depends=net-failover\x00name=virtio_net\x00",
		"net_failover.ko": "name=net_failover\x00",
		"ghostly.ko":      "depends=ghost\x00name=ghostly\x00",
		"nodeps.ko":       "name=nodeps\x00",
		"notes.txt":       "not a module",
	})
	tests := []struct {
		name    string
		want    []string
		order   []string
		missing []string
	}{
		{name: "chain", want: []string{"a"}, order: []string{"c", "b", "a"}},
		{name: "shared dependency loads once", want: []string{"b", "a", "c"}, order: []string{"c", "b", "a"}},
		{name: "dashes and .ko in names", want: []string{"virtio-net.ko"}, order: []string{"net_failover", "virtio_net"}},
		{name: "no depends entry", want: []string{"nodeps"}, order: []string{"nodeps"}},
		{name: "absent dependency is missing", want: []string{"ghostly"}, order: []string{"ghostly"}, missing: []string{"ghost"}},
		{name: "absent or built-in module is missing", want: []string{"tsem", "c", "tsem"}, order: []string{"c"}, missing: []string{"tsem"}},
		{name: "nothing asked", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, missing, err := ModuleOrder(dir, tt.want)
			require.NoError(t, err)
			var names []string
			for _, m := range order {
				names = append(names, m.Name)
				assert.FileExists(t, m.Path)
				assert.Equal(t, m.Name, modName(filepath.Base(m.Path)))
			}
			assert.Equal(t, tt.order, names)
			assert.Equal(t, tt.missing, missing)
		})
	}
}

func TestModuleOrder_Errors(t *testing.T) {
	tests := []struct {
		name    string
		modules map[string]string
		want    []string
		substr  string
	}{
		{name: "cycle", modules: map[string]string{"p.ko": "depends=q\x00", "q.ko": "depends=r\x00", "r.ko": "depends=p\x00"},
			want: []string{"p"}, substr: "module dependency cycle: p -> q -> r -> p"},
		{name: "self dependency", modules: map[string]string{"s.ko": "depends=s\x00"},
			want: []string{"s"}, substr: "module dependency cycle: s -> s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ModuleOrder(moduleTree(t, tt.modules), tt.want)
			require.Error(t, err)
			assert.EqualError(t, err, tt.substr)
		})
	}
}

func TestModuleOrder_BadModuleFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "text.ko"), []byte("not elf"), 0o644))
	noInfo := elfModule(t, "")
	// Rename the section so the file has no .modinfo.
	i := bytes.Index(noInfo, []byte(".modinfo"))
	copy(noInfo[i:], ".nothing")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bare.ko"), noInfo, 0o644))

	_, _, err := ModuleOrder(dir, []string{"text"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "module "+filepath.Join(dir, "text.ko")+":")

	_, _, err = ModuleOrder(dir, []string{"bare"})
	assert.EqualError(t, err, "module "+filepath.Join(dir, "bare.ko")+" has no .modinfo section")

	_, _, err = ModuleOrder(filepath.Join(dir, "absent"), []string{"x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "index modules in "+filepath.Join(dir, "absent"))
}

// TestModuleOrder_CachedStockKernel orders the modules the guest needs from
// the real stock kernel and checks every module comes after what modinfo(8)
// says it depends on.
func TestModuleOrder_CachedStockKernel(t *testing.T) {
	kdir := cachedStockKernel(t)
	mods, _ := filepath.Glob(filepath.Join(kdir, "lib", "modules", "*"))
	want := []string{"virtio_net", "squashfs", "overlay", "pvpanic-pci", "no_such_module_here"}
	order, missing, err := ModuleOrder(mods[0], want)
	require.NoError(t, err)
	assert.Equal(t, []string{"no_such_module_here"}, missing)

	pos := map[string]int{}
	for i, m := range order {
		_, dup := pos[m.Name]
		assert.False(t, dup, "%s listed twice", m.Name)
		pos[m.Name] = i
	}
	for _, n := range []string{"virtio_net", "squashfs", "overlay", "pvpanic_pci"} {
		assert.Contains(t, pos, n)
	}
	assert.Less(t, pos["failover"], pos["net_failover"])
	assert.Less(t, pos["net_failover"], pos["virtio_net"])
	assert.Less(t, pos["pvpanic"], pos["pvpanic_pci"])

	modinfo, err := exec.LookPath("modinfo")
	if err != nil {
		t.Logf("modinfo not installed: dependency order checked against the known virtio_net and pvpanic chains only")
		return
	}
	for i, m := range order {
		out, err := exec.Command(modinfo, "-F", "depends", m.Path).Output()
		require.NoError(t, err, "modinfo %s", m.Path)
		for _, d := range strings.Split(strings.TrimSpace(string(out)), ",") {
			if d == "" {
				continue
			}
			j, ok := pos[modName(d)]
			if assert.True(t, ok, "%s depends on %s, which is not in the order", m.Name, d) {
				assert.Less(t, j, i, "%s must load before %s", d, m.Name)
			}
		}
	}
}
