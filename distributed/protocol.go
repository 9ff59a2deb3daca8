package distributed

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// Timing of the protocol.
const (
	// HeartbeatInterval is how often runners and the coordinator say they
	// are alive, on core NATS.
	HeartbeatInterval = time.Second
	// HeartbeatTimeout is how long a silent runner (or coordinator) is
	// given before it counts as lost.
	HeartbeatTimeout = 3 * time.Second
	// lossCheckInterval is how often the coordinator (and a pool session's
	// owner) looks for silent or exited runners: a runner is reported at
	// most HeartbeatTimeout + lossCheckInterval after its last heartbeat,
	// within the 5 s the protocol promises, and the check is one wake-up a
	// second rather than four.
	lossCheckInterval = time.Second
	// DefaultJoinTimeout is how long the coordinator waits for every
	// runner to join, and runners for the coordinator to answer.
	DefaultJoinTimeout = time.Minute
	// DefaultReadyTimeout is how long the coordinator waits, after every
	// runner joined, for all of them to have initialised their VUs.
	DefaultReadyTimeout = 2 * time.Minute
	// startLead is how far ahead of the start order the common start is:
	// every runner must have the order before the time it names.
	startLead = 500 * time.Millisecond
	// clockSamples is how many round trips measure a runner's clock offset.
	clockSamples = 5
)

var runIDRule = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewRunID returns a random run id.
func NewRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func validRunID(id string) error {
	if !runIDRule.MatchString(id) {
		return fmt.Errorf("run id %q: want 1 to 64 letters, digits, '-' or '_'", id)
	}
	return nil
}

// Names of one run's subjects, bucket, object store and stream.
type names struct{ id string }

func (n names) subject(kind string) string   { return "loadlens.run." + n.id + "." + kind }
func (n names) join() string                 { return n.subject("join") }
func (n names) clock() string                { return n.subject("clock") }
func (n names) ready() string                { return n.subject("ready") }
func (n names) heartbeat(index int) string   { return n.subject(fmt.Sprintf("hb.%d", index)) }
func (n names) heartbeats() string           { return n.subject("hb.*") }
func (n names) coordinatorHeartbeat() string { return n.subject("chb") }
func (n names) result(index int, k string) string {
	return n.subject(fmt.Sprintf("result.%d.%s", index, k))
}
func (n names) results() string { return n.subject("result.>") }
func (n names) bucket() string  { return "loadlens-run-" + n.id }
func (n names) files() string   { return "loadlens-files-" + n.id }
func (n names) stream() string  { return "loadlens-results-" + n.id }

// Keys of the run's key-value bucket.
const (
	keyStart = "start"
	keyStop  = "stop"
)

// The archive's name in the object store.
const archiveObject = "test"

// Result message kinds (the last token of their subject).
const (
	kindPartial = "partial"
	kindSamples = "samples"
	kindDone    = "done"
)

// zstd marks a compressed payload.
const headerEncoding = "Loadlens-Encoding"

type joinRequest struct {
	// Index is the runner slot asked for (a Kubernetes completion index);
	// -1 takes any free one.
	Index int    `json:"index"`
	Host  string `json:"host,omitempty"`
}

// Assignment is what a runner is given when it joins: its place in the
// run and its share of the work.
type Assignment struct {
	RunID string `json:"run_id"`
	// Index is the runner's slot, 0 … Runners-1.
	Index   int `json:"index"`
	Runners int `json:"runners"`
	// Segment and Sequence are k6's --execution-segment and
	// --execution-segment-sequence for this runner.
	Segment  string `json:"segment"`
	Sequence string `json:"sequence"`
	// Samples asks the runner to forward every sample: the coordinator
	// writes the run's NDJSON or CSV outputs.
	Samples bool   `json:"samples,omitempty"`
	Error   string `json:"error,omitempty"`
}

type clockReply struct {
	Now time.Time `json:"now"`
}

type readyRequest struct {
	Index int `json:"index"`
	// Offset is the coordinator's clock minus the runner's, from the
	// round trip with the smallest RTT.
	Offset time.Duration `json:"offset_ns"`
	RTT    time.Duration `json:"rtt_ns"`
}

type startOrder struct {
	// Zero is the run's time zero and At the scenarios' start, both on the
	// coordinator's clock.
	Zero      time.Time       `json:"zero"`
	At        time.Time       `json:"at"`
	SetupData json.RawMessage `json:"setup_data,omitempty"`
}

type stopOrder struct {
	Hard   bool   `json:"hard"`
	Reason string `json:"reason"`
}

// doneReport is a runner's last word, after its last partial.
type doneReport struct {
	Index    int             `json:"index"`
	Status   loadtest.Status `json:"status"`
	Abort    *loadtest.Abort `json:"abort,omitempty"`
	FailedBy string          `json:"failed_by,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Error    string          `json:"error,omitempty"`
}
