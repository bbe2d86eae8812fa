package scenario

import (
	"slices"

	"github.com/tsemlab/tsemlab/protocol"
)

// appArmorKey is the Plan.Files key of an AppArmor profile's text.
func appArmorKey(a *AppArmor) string { return "apparmor/" + a.Profile }

// labFiles adds the seccomp and AppArmor profile files a phase uses to
// files (allocating it when needed) and returns it.
func labFiles(ph Phase, files map[string]string) map[string]string {
	add := func(key, text string) {
		if files == nil {
			files = map[string]string{}
		}
		files[key] = text
	}
	if sc := ph.Seccomp; sc != nil && sc.ProfileFile != "" {
		add(sc.Profile, sc.ProfileText)
	}
	if a := ph.AppArmor; a != nil && a.File != "" {
		add(appArmorKey(a), a.Text)
	}
	for _, st := range ph.Steps {
		if a := st.AppArmor; a != nil && a.File != "" {
			add(appArmorKey(a), a.Text)
		}
	}
	return files
}

func planPhaseLabs(ph Phase, pp *protocol.Phase) {
	if sc := ph.Seccomp; sc != nil {
		pp.Seccomp = &protocol.Seccomp{Mode: sc.Mode, Export: sc.Export, DefaultAction: string(sc.DefaultAction), Profile: sc.Profile}
	}
	pp.AppArmor = planAppArmor(ph.AppArmor)
}

func planStepLabs(st Step, ps protocol.Step) protocol.Step {
	ps.Namespaces = slices.Clone(st.Namespaces)
	ps.Chroot, ps.PivotRoot = st.Chroot, st.PivotRoot
	ps.User, ps.NoNewPrivileges = st.User, st.NoNewPrivileges
	ps.AppArmor = planAppArmor(st.AppArmor)
	return ps
}

func planAppArmor(a *AppArmor) *protocol.AppArmor {
	if a == nil {
		return nil
	}
	return &protocol.AppArmor{File: appArmorKey(a), Name: a.Name}
}
