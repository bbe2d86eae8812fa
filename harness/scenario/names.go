package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tsemlab/tsemlab/protocol"
)

// Images are the root filesystem images a scenario's `image:` may name:
// the definitions in the repository's images/ directory (NAME.yaml).
// Validation reads no source tree, so the names are listed here, and a
// test keeps the list equal to the directory; a misspelt image is then an
// error at validation rather than a failure at boot.
var Images = []string{"debian-minimal", "httpd"}

// Names a scenario chooses become file names on the host: the scenario's
// results directory (<out>/<scenario>/), its temporary directory, and the
// artifacts in the results directory (<export>, <phase>.<record>). None may
// take the place of a file the harness writes itself.

// HarnessFiles are the files the harness writes in a run's results
// directory and in each scenario's directory in it.
var HarnessFiles = []string{"console.log", "plan.json", "result.json", "results.json", "junit.xml", "results.ktap", "qemu.log"}

// guestRecords are the suffixes of the records the guest sends for each
// TSEM phase, named <phase>.<record> (orchestrator/leader.go): the model0
// files, the aggregate, the namespace id and a back-propagated model.
var guestRecords = []string{
	string(protocol.ArtifactMeasurement),
	string(protocol.ArtifactState),
	string(protocol.ArtifactTrajectory),
	string(protocol.ArtifactTrajectoryCoefficient),
	string(protocol.ArtifactTrajectoryCounts),
	string(protocol.ArtifactForensics),
	string(protocol.ArtifactForensicsCoefficients),
	string(protocol.ArtifactForensicsCounts),
	string(protocol.ArtifactAggregate),
	string(protocol.ArtifactNamespaceID),
	"backprop.model",
}

// checkNameLen refuses a name longer than MaxNameLen bytes.
func checkNameLen(key, v string) string {
	if len(v) <= MaxNameLen {
		return ""
	}
	return fmt.Sprintf("%q is %d characters long, more than the limit of %d (names become file names and part of socket paths); shorten it, and put the rest in description:", key, len(v), MaxNameLen)
}

// checkScenarioName refuses a scenario name that is also the name of a
// file in the run's results directory, where the scenario's own directory
// goes.
func checkScenarioName(v string) string {
	if isHarnessFile(v) {
		return fmt.Sprintf("scenario name %q is the name of a file tsemlab writes in the results directory (%s); choose another name", v, strings.Join(HarnessFiles, ", "))
	}
	return ""
}

// checkArtifactName refuses an artifact name that a harness file or a
// record of the guest already uses. It says what is wrong after the name.
func checkArtifactName(v string) string {
	if isHarnessFile(v) {
		return fmt.Sprintf("%q is the name of a file tsemlab writes in the results directory (%s); choose another name, like %s.model", v, strings.Join(HarnessFiles, ", "), strings.TrimSuffix(v, "."+lastExt(v)))
	}
	lower := strings.ToLower(v)
	for _, r := range guestRecords {
		if strings.HasSuffix(lower, "."+r) {
			return fmt.Sprintf("%q ends like the %q record the guest writes for each TSEM phase (<phase>.%s); choose another name, like %s.model", v, r, r, strings.TrimSuffix(v, v[len(v)-len(r)-1:]))
		}
	}
	return ""
}

// isHarnessFile compares without case: on a case-insensitive file system
// Console.log is console.log.
func isHarnessFile(v string) bool {
	return slices.ContainsFunc(HarnessFiles, func(f string) bool { return strings.EqualFold(f, v) })
}

func lastExt(v string) string {
	if i := strings.LastIndexByte(v, '.'); i >= 0 {
		return v[i+1:]
	}
	return ""
}
