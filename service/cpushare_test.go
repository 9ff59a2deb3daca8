package service

import (
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCPUSharesForkOutsideTheLock checks that one tenant's slow fork does
// not hold up another tenant's start, that a child counts in its tenant's
// share while it forks, and that a failed start gives its place back.
func TestCPUSharesForkOutsideTheLock(t *testing.T) {
	t.Parallel()
	const base, noSuchPID = 10, math.MaxInt32 // renice fails on it, as for an ended child
	shares := newCPUShares(base, slog.New(slog.DiscardHandler))
	forking, release := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		_, err := shares.start("a", func(nice int) (int, error) {
			assert.Equal(t, base, nice, "a lone child")
			close(forking)
			<-release
			return noSuchPID, nil
		})
		firstDone <- err
	}()
	<-forking

	otherStarted := make(chan func(), 1)
	go func() {
		exited, err := shares.start("b", func(nice int) (int, error) {
			assert.Equal(t, base, nice, "another tenant's lone child")
			return noSuchPID, nil
		})
		assert.NoError(t, err)
		otherStarted <- exited
	}()
	var otherExited func()
	select {
	case otherExited = <-otherStarted:
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("tenant b's start waited for tenant a's fork")
	}

	_, err := shares.start("a", func(nice int) (int, error) {
		assert.Equal(t, tenantNice(base, 2), nice, "the forking sibling counts")
		return noSuchPID, nil
	})
	require.NoError(t, err)
	close(release)
	require.NoError(t, <-firstDone)

	_, err = shares.start("b", func(int) (int, error) { return 0, errors.New("fork failed") })
	require.Error(t, err)
	shares.mu.Lock()
	assert.Len(t, shares.children["a"], 2)
	assert.Len(t, shares.children["b"], 1, "the failed start gave its place back")
	shares.mu.Unlock()
	otherExited()
	shares.mu.Lock()
	assert.NotContains(t, shares.children, "b")
	shares.mu.Unlock()
}
