package service

import (
	"log/slog"
	"math"
	"slices"
	"sync"
)

// cpuShares gives every tenant the same weight with the CPU scheduler for
// its sandboxed runs, however many it starts: the scheduler weighs a
// thread by its niceness, each step 1.25 times lighter, so each of a
// tenant's k children runs log1.25(k) steps nicer than a lone child and
// together they weigh as one. A tenant spinning two runs then takes half
// of what its neighbour's one run would lose to it, not two thirds.
type cpuShares struct {
	base   int // a lone child's niceness
	logger *slog.Logger

	mu       sync.Mutex
	children map[string][]*nicedChild // each tenant's running children
}

type nicedChild struct {
	pid  int
	nice int // what its threads have
}

func newCPUShares(base int, logger *slog.Logger) *cpuShares {
	return &cpuShares{base: base, logger: logger, children: map[string][]*nicedChild{}}
}

// tenantNice is the niceness of each of a tenant's children when it has
// runs of them: 19 at most, the nicest there is, so past about eight runs
// a tenant weighs a little more than one.
func tenantNice(base, runs int) int {
	return min(19, base+int(math.Round(math.Log(float64(max(runs, 1)))/math.Log(1.25))))
}

// start starts a tenant's child with startProc at the niceness its share
// asks for, and makes the tenant's other children as nice. The returned
// exited is for when the child has ended: its siblings get their weight
// back where the system lets an unprivileged agent lower a niceness.
// startProc runs outside the lock, so one tenant's forks never queue
// another's; the child holds its place in the share while it forks.
func (c *cpuShares) start(tenant string, startProc func(nice int) (pid int, err error)) (exited func(), err error) {
	c.mu.Lock()
	self := &nicedChild{} // pid 0 while it forks
	c.children[tenant] = append(c.children[tenant], self)
	nice := tenantNice(c.base, len(c.children[tenant]))
	self.nice = nice
	c.reniceLocked(tenant, nice)
	c.mu.Unlock()

	exited = func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		rest := slices.DeleteFunc(c.children[tenant], func(n *nicedChild) bool { return n == self })
		if len(rest) == 0 {
			delete(c.children, tenant)
			return
		}
		c.children[tenant] = rest
		c.reniceLocked(tenant, tenantNice(c.base, len(rest)))
	}
	pid, err := startProc(nice)
	if err != nil {
		exited()
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	self.pid = pid
	// Siblings may have started or ended while it forked.
	c.reniceLocked(tenant, tenantNice(c.base, len(c.children[tenant])))
	return exited, nil
}

func (c *cpuShares) reniceLocked(tenant string, nice int) {
	for _, n := range c.children[tenant] {
		if n.nice == nice || n.pid == 0 {
			continue
		}
		if err := renice(n.pid, nice); err != nil {
			// Lowering a niceness takes privilege; the child keeps the
			// lighter weight until it ends.
			c.logger.Debug("sandbox: renice", "pid", n.pid, "from", n.nice, "to", nice, "error", err)
			continue
		}
		n.nice = nice
	}
}
