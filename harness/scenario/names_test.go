package scenario

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse_ExportNamesCannotReplaceHarnessFilesOrGuestRecords(t *testing.T) {
	tests := []struct{ export, want string }{
		{"console.log", `"export" "console.log" is the name of a file tsemlab writes in the results directory`},
		{"plan.json", `"export" "plan.json" is the name of a file tsemlab writes`},
		{"Result.JSON", `"export" "Result.JSON" is the name of a file tsemlab writes`},
		{"junit.xml", `is the name of a file tsemlab writes`},
		{"learn.trajectory", `"export" "learn.trajectory" ends like the "trajectory" record the guest writes for each TSEM phase (<phase>.trajectory); choose another name, like learn.model`},
		{"enforce.forensics_coefficients", `ends like the "forensics_coefficients" record`},
		{"learn.backprop.model", `ends like the "backprop.model" record`},
		{"../../x", `"export" is a file name for the model and must be letters, digits, ".", "_" and "-", starting with a letter or digit, got "../../x"`},
		{"a/b", `got "a/b"`},
		{".hidden", `got ".hidden"`},
		{strings.Repeat("m", 65), `"export" is 65 characters long, more than the limit of 64`},
	}
	for _, tt := range tests {
		t.Run(tt.export, func(t *testing.T) {
			data := "name: x\nrequires: {lsm: [tsem]}\nphases: [{name: learn, tsem: {model: learn, export: '" + tt.export + "'}, steps: [{run: ls}]}]\n"
			_, err := Parse("x.yaml", []byte(data))
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, 3, ve.Line)
			assert.Contains(t, ve.Msg, tt.want)
		})
	}
}

func TestParse_ValidExportNamesAreKept(t *testing.T) {
	for _, export := range []string{"grep.model", "ls.model", "learn-trajectory.model", strings.Repeat("m", 64)} {
		data := "name: x\nrequires: {lsm: [tsem]}\nphases: [{name: learn, tsem: {model: learn, export: " + export + "}, steps: [{run: ls}]}]\n"
		s, err := Parse("x.yaml", []byte(data))
		require.NoError(t, err, export)
		assert.Equal(t, export, s.Phases[0].TSEM.Export)
	}
}

func TestParse_NamesAreLimitedTo64Characters(t *testing.T) {
	long := strings.Repeat("a", 65)
	_, err := Parse("x.yaml", []byte("name: "+long+"\nphases: [{name: p, steps: [{run: ls}]}]\n"))
	require.Error(t, err)
	assert.Equal(t, `x.yaml:1:7: "name" is 65 characters long, more than the limit of 64 (names become file names and part of socket paths); shorten it, and put the rest in description:`, err.Error())

	_, err = Parse("x.yaml", []byte("name: x\nphases: [{name: "+long+", steps: [{run: ls}]}]\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `x.yaml:2:17: "name" is 65 characters long`)

	s, err := Parse("x.yaml", []byte("name: "+long[:64]+"\nphases: [{name: "+long[:64]+", steps: [{run: ls}]}]\n"))
	require.NoError(t, err)
	assert.Len(t, s.Name, 64)
}

func TestParse_ScenarioNameCannotBeAHarnessFile(t *testing.T) {
	_, err := Parse("x.yaml", []byte("name: results.json\nphases: [{name: p, steps: [{run: ls}]}]\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `x.yaml:1:7: scenario name "results.json" is the name of a file tsemlab writes in the results directory`)
}

func TestImages_AreTheDefinitionsInImagesDir(t *testing.T) {
	files, err := filepath.Glob("../../images/*.y*ml")
	require.NoError(t, err)
	var defined []string
	for _, f := range files {
		defined = append(defined, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".yml"))
	}
	assert.ElementsMatch(t, defined, Images, "scenario.Images must list the definitions in images/")
}
