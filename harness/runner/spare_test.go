package runner

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/image"
)

// A spec no spare can be readied from: QEMU is missing.
func noQEMU() (boot.Spec, *boot.Snapshot) {
	return boot.Spec{QEMU: "/nonexistent/qemu-system-x86_64", Kernel: "/k", Image: &image.Image{Path: "/i"}},
		&boot.Snapshot{Dir: "/nonexistent/snap", Meta: boot.SnapshotMeta{Key: "k1"}}
}

func TestSpares_OnePerJobAndNoMoreThanScenariosLeft(t *testing.T) {
	spec, snap := noQEMU()
	p := newSpares(context.Background(), 2, 3, discard())
	for range 3 {
		p.refill(spec, snap)
	}
	assert.Len(t, p.pool, 2, "one per job")
	p.close()
	assert.Empty(t, p.pool)

	p = newSpares(context.Background(), 4, 2, discard())
	p.started()
	p.refill(spec, snap)
	p.refill(spec, snap)
	assert.Len(t, p.pool, 1, "only for the scenario left")
	p.started()
	p.close()
	p.refill(spec, snap)
	assert.Empty(t, p.pool, "none when every scenario has started")
}

func TestSpares_TakeGivesNothingForAFailedOrOtherSpare(t *testing.T) {
	spec, snap := noQEMU()
	p := newSpares(context.Background(), 2, 5, discard())
	defer p.close()
	p.refill(spec, snap)
	assert.Nil(t, p.take(context.Background(), "k1"), "readying failed: QEMU is missing")
	assert.Empty(t, p.pool)

	p.refill(spec, snap)
	assert.Nil(t, p.take(context.Background(), "other"))
	assert.Empty(t, p.pool, "a spare of another snapshot is stopped")
	require.Nil(t, (*spares)(nil).take(context.Background(), "k1"), "no spares without snapshots")
	(*spares)(nil).refill(spec, snap)
	(*spares)(nil).started()
	(*spares)(nil).close()
}
