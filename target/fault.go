package target

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ppm is the resolution of error rates: parts per million.
const ppm = 1_000_000

// splitmix64 is a stateless 64-bit mixer: the same input always gives the
// same well-spread output, so per-request choices need no shared generator.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// toPPM converts a rate in [0, 1] to parts per million.
func toPPM(r float64) uint64 { return uint64(math.Round(r * ppm)) }

// failsAt reports whether request n (0-based arrival number) fails at rate
// p ppm with phase phi in [0, ppm): it does when ⌊(n+1)p+φ⌋ > ⌊np+φ⌋ in
// units of ppm, which spreads failures evenly and makes counts exact.
func failsAt(n, p, phi uint64) bool {
	if p == 0 {
		return false
	}
	return (n*p+phi)/ppm != ((n+1)*p+phi)/ppm
}

// Salts that keep the per-request draws of one seed independent.
const (
	saltErrors uint64 = 0x6a09e667f3bcc908
	saltSpread uint64 = 0xbb67ae8584caa73b
)

// logNormalAt returns request n's log-normal latency factor
// exp(σZ − σ²/2), mean 1, with Z standard normal by Box–Muller from two
// uniforms drawn from seed and n.
func logNormalAt(seed, n uint64, sigma float64) float64 {
	h := splitmix64(seed ^ splitmix64(n^saltSpread))
	u1 := (float64(h>>11) + 0.5) / (1 << 53)
	u2 := float64(splitmix64(h)>>11) / (1 << 53)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return math.Exp(sigma*z - sigma*sigma/2)
}

// jitterAt returns request n's jitter in [0, j).
func jitterAt(seed, n uint64, j time.Duration) time.Duration {
	if j <= 0 {
		return 0
	}
	return time.Duration(splitmix64(seed^splitmix64(n)) % uint64(j))
}

// wait blocks for d or until ctx ends, and returns ctx's error in that case.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// burn spins the CPU for d of wall-clock time or until ctx ends. The work
// feeds a sink the compiler cannot remove.
func burn(ctx context.Context, d time.Duration) (sink uint64) {
	if d <= 0 {
		return 0
	}
	deadline := time.Now().Add(d)
	done := ctx.Done()
	for x := uint64(1); ; x++ {
		for range 256 {
			sink = splitmix64(sink ^ x)
		}
		if !time.Now().Before(deadline) {
			return sink
		}
		select {
		case <-done:
			return sink
		default:
		}
	}
}

// pageSize is the stride at which retained chunks are written, so that
// every page is resident and counts in RSS, not only in the Go heap.
const pageSize = 4096

// leakStore is the memory the Leak profile retains: a list of chunks, no
// goroutine. It is safe for concurrent use.
type leakStore struct {
	mu     sync.Mutex
	chunks [][]byte
	closed bool
	bytes  atomic.Int64
	max    int64
}

// retain keeps n more bytes, fewer if that would pass the cap, none once
// the store is closed. It reports how many bytes it kept and whether this
// call reached the cap.
func (l *leakStore) retain(n int64) (kept int64, reachedCap bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, l.max-l.bytes.Load())
	if l.closed || n <= 0 {
		return 0, false
	}
	b := make([]byte, n)
	for i := 0; i < len(b); i += pageSize {
		b[i] = 0xA5
	}
	l.chunks = append(l.chunks, b)
	return n, l.bytes.Add(n) == l.max
}

// release drops every retained chunk and refuses new ones.
func (l *leakStore) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chunks, l.closed = nil, true
	l.bytes.Store(0)
}

// slots is a saturate fault's semaphore with its gauges.
type slots struct {
	sem     chan struct{}
	inUse   atomic.Int64
	peak    atomic.Int64
	waiting atomic.Int64
}

// acquire takes a slot, waiting until one is free or ctx ends.
func (s *slots) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	default:
		s.waiting.Add(1)
		select {
		case s.sem <- struct{}{}:
			s.waiting.Add(-1)
		case <-ctx.Done():
			s.waiting.Add(-1)
			return ctx.Err()
		}
	}
	n := s.inUse.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			return nil
		}
	}
}

func (s *slots) release() {
	s.inUse.Add(-1)
	<-s.sem
}
