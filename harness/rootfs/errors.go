package rootfs

import "github.com/tsemlab/tsemlab/internal/yamlcheck"

// ValidationError is one mistake in an image definition, at a position when
// it has one, with the fix in its message.
type ValidationError = yamlcheck.ValidationError

// ValidationErrors are all the mistakes found in one or more definitions,
// in file and position order. errors.As finds each *ValidationError in it.
type ValidationErrors = yamlcheck.ValidationErrors

var (
	sortErrors = yamlcheck.SortErrors
	nearest    = yamlcheck.Nearest
)
