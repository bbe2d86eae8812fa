package report

import "github.com/tsemlab/tsemlab/harness/result"

// Exit codes of tsemlab, the contract scripts and CI depend on. ExitCode
// derives 0, 1 and 3 from results; 2 (bad input) is decided before anything
// runs.
const (
	// ExitOK: every scenario passed or was skipped with a reason; also an
	// empty run.
	ExitOK = 0
	// ExitFailed: at least one scenario failed, timed out or crashed.
	ExitFailed = 1
	// ExitBadInput: usage, scenario, model or configuration errors.
	ExitBadInput = 2
	// ExitInfra: at least one scenario hit a harness or infrastructure
	// error, and none failed, timed out or crashed.
	ExitInfra = 3
)

// ExitCode is the exit status for r:
//
//   - 0 when every scenario passed or was skipped (and for an empty run);
//   - 1 when any scenario failed, timed out or crashed, whatever else
//     happened: a verdict against the kernel outranks a harness problem,
//     so CI reports the regression rather than a flaky runner;
//   - 3 when some scenario has status error (the harness broke: QEMU
//     missing, guest protocol violated) and none failed, timed out or
//     crashed.
//
// A scenario status this package does not know (empty, not_run) counts as
// an error, never as a pass.
func ExitCode(r *result.Run) int {
	if r == nil {
		return ExitOK
	}
	t := count(r)
	switch {
	case t.fail+t.timeout+t.crash > 0:
		return ExitFailed
	case t.errs > 0:
		return ExitInfra
	}
	return ExitOK
}
