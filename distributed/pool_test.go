package distributed_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/distributed"
)

// echoProcess answers each line of its input with "echo: LINE" and ends,
// with its exit as Wait's error, at the end of its input or at Kill.
type echoProcess struct {
	inR  *io.PipeReader
	inW  *io.PipeWriter
	outR *io.PipeReader
	outW *io.PipeWriter
	exit error

	killOnce sync.Once
	killed   chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
}

func newEcho(exit error) *echoProcess {
	p := &echoProcess{exit: exit, killed: make(chan struct{}), done: make(chan struct{})}
	p.inR, p.inW = io.Pipe()
	p.outR, p.outW = io.Pipe()
	p.wg.Go(func() {
		defer close(p.done)
		defer p.outW.Close()
		sc := bufio.NewScanner(p.inR)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if _, err := fmt.Fprintf(p.outW, "echo: %s\n", sc.Text()); err != nil {
				return
			}
		}
	})
	return p
}

func (p *echoProcess) Input() io.WriteCloser { return p.inW }
func (p *echoProcess) Output() io.Reader     { return p.outR }
func (p *echoProcess) Kill() {
	p.killOnce.Do(func() {
		close(p.killed)
		_ = p.inR.CloseWithError(errors.New("killed"))
		_ = p.outW.CloseWithError(errors.New("killed"))
	})
}
func (p *echoProcess) Wait() error {
	<-p.done
	p.wg.Wait()
	select {
	case <-p.killed:
		return errors.New("killed")
	default:
	}
	return p.exit
}

// poolRunner runs a PoolRunner with its own connection until the test
// ends; kill closes its connection at once, as kill -9 would.
type poolRunner struct {
	procs chan *echoProcess
	kill  func()
}

func startPoolRunner(t *testing.T, url string, exit error) *poolRunner {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	pr := &poolRunner{procs: make(chan *echoProcess, 8)}
	r := &distributed.PoolRunner{Conn: nc, Name: "r1", Start: func(context.Context) (distributed.Process, error) {
		p := newEcho(exit)
		pr.procs <- p
		return p, nil
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	pr.kill = func() { nc.Close() }
	t.Cleanup(func() {
		cancel()
		<-done
		nc.Close()
	})
	return pr
}

func TestPoolSessionCarriesAProcessOverNATS(t *testing.T) {
	t.Parallel()
	for _, server := range servers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			poolSession(t, server.start(t))
		})
	}
}

func poolSession(t *testing.T, c *cluster) {
	runner := startPoolRunner(t, c.url, errors.New("exit status 3: the end of its stderr"))
	pool := &distributed.Pool{Conn: c.nc, TakeTimeout: 20 * time.Second}
	s, err := pool.Start(t.Context())
	require.NoError(t, err)
	defer s.Kill()
	assert.Equal(t, "r1", s.Runner())
	names, err := pool.Runners(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"r1"}, names)

	big := strings.Repeat("x", 600<<10) // several chunks each way
	go func() {
		in := s.Input()
		_, _ = io.WriteString(in, "hello\n"+big+"\n")
		_ = in.Close()
	}()
	out, err := io.ReadAll(s.Output())
	require.NoError(t, err)
	assert.Equal(t, "echo: hello\necho: "+big+"\n", string(out))
	require.EqualError(t, s.Wait(), "exit status 3: the end of its stderr", "the process's end, as the runner saw it")
	p := <-runner.procs
	<-p.done
}

func TestPoolKillKillsTheRunnersProcess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	runner := startPoolRunner(t, c.url, nil)
	pool := &distributed.Pool{Conn: c.nc, TakeTimeout: 20 * time.Second}
	s, err := pool.Start(t.Context())
	require.NoError(t, err)
	p := <-runner.procs
	_, err = io.WriteString(s.Input(), "ping\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(s.Output()).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo: ping\n", line)
	s.Kill()
	select {
	case <-p.killed:
	case <-time.After(20 * time.Second):
		t.Fatal("the runner did not kill the process")
	}
	// The runner is free again: a second session is taken.
	s2, err := pool.Start(t.Context())
	require.NoError(t, err)
	s2.Kill()
}

// A runner that dies (its connection gone at once, no last word) ends
// the session within seconds, saying so; nothing hangs.
func TestPoolLostRunnerEndsTheSession(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	runner := startPoolRunner(t, c.url, nil)
	pool := &distributed.Pool{Conn: c.nc, TakeTimeout: 20 * time.Second}
	s, err := pool.Start(t.Context())
	require.NoError(t, err)
	defer s.Kill()
	<-runner.procs
	lost := time.Now()
	runner.kill()
	_, err = io.Copy(io.Discard, s.Output())
	require.ErrorContains(t, err, "runner r1 lost: no heartbeat for")
	require.ErrorContains(t, s.Wait(), "runner r1 lost")
	took := time.Since(lost)
	t.Logf("the session ended %s after the runner died", took)
	assert.Less(t, took, 10*time.Second, "3 s of silence, and a busy machine's slack")
}

func TestPoolWithoutRunnersFailsTheStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	pool := &distributed.Pool{Conn: c.nc, TakeTimeout: 300 * time.Millisecond}
	_, err := pool.Start(t.Context())
	require.EqualError(t, err, "no runner of the pool took the test within 300ms (0 runners registered)")
	// The offer was withdrawn: a runner that comes later finds no work.
	runner := startPoolRunner(t, c.url, nil)
	s, err := (&distributed.Pool{Conn: c.nc, TakeTimeout: 20 * time.Second}).Start(t.Context())
	require.NoError(t, err)
	defer s.Kill()
	var buf bytes.Buffer
	_, _ = io.WriteString(s.Input(), "x\n")
	_, err = io.CopyN(&buf, s.Output(), int64(len("echo: x\n")))
	require.NoError(t, err)
	// The session's process answered, so it has been reported: counted
	// before that, it could still be on its way.
	require.Len(t, runner.procs, 1, "one process: the withdrawn offer started none")
}
