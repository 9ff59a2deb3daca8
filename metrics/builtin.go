package metrics

// Names of k6's built-in metrics. A [Registry] registers all of them with
// k6's types and value types; see [NewRegistry].
const (
	VUs               = "vus"
	VUsMax            = "vus_max"
	Iterations        = "iterations"
	IterationDuration = "iteration_duration"
	DroppedIterations = "dropped_iterations"
	Checks            = "checks"
	GroupDuration     = "group_duration"

	HTTPReqs              = "http_reqs"
	HTTPReqFailed         = "http_req_failed"
	HTTPReqDuration       = "http_req_duration"
	HTTPReqBlocked        = "http_req_blocked"
	HTTPReqConnecting     = "http_req_connecting"
	HTTPReqTLSHandshaking = "http_req_tls_handshaking"
	HTTPReqSending        = "http_req_sending"
	HTTPReqWaiting        = "http_req_waiting"
	HTTPReqReceiving      = "http_req_receiving"

	DataSent     = "data_sent"
	DataReceived = "data_received"

	// IterationLateness is loadlens's addition: how late an arrival-rate
	// iteration started against its schedule, so that coordinated omission
	// shows instead of hiding behind dropped iterations.
	IterationLateness = "iteration_lateness"
)

type builtin struct {
	name     string
	typ      MetricType
	contains ValueType
}

// builtins lists the metrics every registry starts with, in k6's order.
func builtins() []builtin {
	return []builtin{
		{VUs, Gauge, Default},
		{VUsMax, Gauge, Default},
		{Iterations, Counter, Default},
		{IterationDuration, Trend, Time},
		{DroppedIterations, Counter, Default},
		{Checks, Rate, Default},
		{GroupDuration, Trend, Time},
		{HTTPReqs, Counter, Default},
		{HTTPReqFailed, Rate, Default},
		{HTTPReqDuration, Trend, Time},
		{HTTPReqBlocked, Trend, Time},
		{HTTPReqConnecting, Trend, Time},
		{HTTPReqTLSHandshaking, Trend, Time},
		{HTTPReqSending, Trend, Time},
		{HTTPReqWaiting, Trend, Time},
		{HTTPReqReceiving, Trend, Time},
		{DataSent, Counter, Data},
		{DataReceived, Counter, Data},
		{IterationLateness, Trend, Time},
	}
}

// DefaultSubmetrics returns the sub-metrics k6 always tracks:
// http_req_duration over the responses that had an expected status.
func DefaultSubmetrics() []string {
	return []string{HTTPReqDuration + "{expected_response:true}"}
}
