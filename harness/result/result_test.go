package result

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvidence_ReadsOldPlainStringsAndNewObjects(t *testing.T) {
	var st Step
	require.NoError(t, json.Unmarshal([]byte(`{"evidence":["stderr: x",{"kind":"exit","text":"exit status 1","decisive":true}]}`), &st))
	assert.Equal(t, []Evidence{{Text: "stderr: x"}, {Kind: "exit", Text: "exit status 1", Decisive: true}}, st.Evidence)
	assert.Error(t, json.Unmarshal([]byte(`{"evidence":[3]}`), &st))
}

func TestDescribeEvidence_DecisiveFirst(t *testing.T) {
	ev := []Evidence{{Text: "tsem: 1 forensic event"}, {Text: "stderr: denied", Decisive: true}, {Text: "exit status 1", Decisive: true}}
	assert.Equal(t, "decided by: stderr: denied; exit status 1. also seen: tsem: 1 forensic event", DescribeEvidence(ev))
	assert.Equal(t, "", DescribeEvidence(nil))
}

func TestWorse_Order(t *testing.T) {
	order := []Status{Skip, Pass, NotRun, Fail, Timeout, Error, Crash}
	for i := 1; i < len(order); i++ {
		assert.True(t, Worse(order[i], order[i-1]), "%s worse than %s", order[i], order[i-1])
		assert.False(t, Worse(order[i-1], order[i]))
	}
}

func TestFailedAndCounts(t *testing.T) {
	checks := []Check{{What: "a", OK: true}, {What: "b"}}
	assert.Equal(t, []Check{{What: "b"}}, Failed(checks))
	r := &Run{Scenarios: []*Scenario{{Status: Pass}, {Status: Pass}, {Status: Skip}}}
	assert.Equal(t, map[Status]int{Pass: 2, Skip: 1}, r.Counts())
}

func TestStepsTime_SumsEveryPhasesSteps(t *testing.T) {
	sc := &Scenario{Duration: Duration(5 * time.Second), Phases: []*Phase{
		{Steps: []*Step{{Duration: Duration(time.Second)}, {Duration: Duration(500 * time.Millisecond)}}},
		{},
		{Steps: []*Step{{Duration: Duration(250 * time.Millisecond)}}},
	}}
	assert.Equal(t, 1750*time.Millisecond, sc.StepsTime())
}
