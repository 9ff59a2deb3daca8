package distributed

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Local launches runners as processes on this machine: the dev and CI
// mode, or one big machine with many cores.
type Local struct {
	// Command returns the command of runner index of run runID at natsURL
	// (typically this binary's `runner --nats URL --run ID --index N`).
	Command func(natsURL, runID string, index int) *exec.Cmd
	// Grace is how long runners are given to end by themselves once the
	// run is over, before they are killed; default 10 s.
	Grace time.Duration
}

var _ Launcher = Local{}

// Launch implements Launcher.
func (l Local) Launch(ctx context.Context, natsURL, runID string, n int, exited func(int, error)) (func(), error) {
	if l.Command == nil {
		return nil, errors.New("local launcher: command: required")
	}
	var wg sync.WaitGroup
	cmds := make([]*exec.Cmd, 0, n)
	stopAll := func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		wg.Wait()
	}
	for i := range n {
		cmd := l.Command(natsURL, runID, i)
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, fmt.Errorf("runner %d: %w", i, err)
		}
		cmds = append(cmds, cmd)
		wg.Go(func() { exited(i, describeExit(cmd.Wait())) })
	}
	return func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		t := time.NewTimer(orDefault(l.Grace, 10*time.Second))
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			for _, c := range cmds {
				_ = c.Process.Signal(syscall.SIGKILL)
			}
			<-done
		}
	}, nil
}

func describeExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return err
}
