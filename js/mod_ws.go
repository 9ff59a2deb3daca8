package js

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/metrics"
)

// WebSockets on gorilla/websocket: it is already in the module graph, its
// Dialer takes the VU's own dial (DNS cache, IP allowlist, byte counting)
// and TLS configuration, and its control frames (ping, pong, close) may be
// written while another goroutine reads, which both socket APIs need.

// wsMetrics are k6's WebSocket metrics, declared by the modules.
type wsMetrics struct {
	sessions, sent, received, connecting, ping, duration *metrics.Metric
}

func newWSMetrics(vu *VU) (*wsMetrics, error) {
	var m wsMetrics
	var errs []error
	for _, x := range []struct {
		dst  **metrics.Metric
		name string
		typ  metrics.MetricType
		val  metrics.ValueType
	}{
		{&m.sessions, "ws_sessions", metrics.Counter, metrics.Default},
		{&m.sent, "ws_msgs_sent", metrics.Counter, metrics.Default},
		{&m.received, "ws_msgs_received", metrics.Counter, metrics.Default},
		{&m.connecting, "ws_connecting", metrics.Trend, metrics.Time},
		{&m.ping, "ws_ping", metrics.Trend, metrics.Time},
		{&m.duration, "ws_session_duration", metrics.Trend, metrics.Time},
	} {
		var err error
		*x.dst, err = vu.RegisterMetric(x.name, x.typ, x.val)
		errs = append(errs, err)
	}
	return &m, errors.Join(errs...)
}

// wsConn is one WebSocket session of a VU: the connection, its tags and
// the goroutine that reads it.
type wsConn struct {
	vu    *VU
	m     *wsMetrics
	conn  *websocket.Conn
	tags  metrics.Tags
	start time.Time

	pingMu   sync.Mutex
	pingSent time.Time

	reader sync.WaitGroup
}

// wsDial opens a WebSocket on the VU's network (its DNS cache, IP
// allowlist and byte counts, and TLS options) and records ws_sessions and
// ws_connecting, as k6 does whether the handshake succeeded or not; a
// failed one also records ws_session_duration. The session's duration
// starts with the handshake. The response is what the
// server answered the handshake (nil when it did not answer).
//
// It may run on another goroutine than the VU's: the samples are returned
// for the VU's goroutine to emit.
func (vu *VU) wsDial(ctx context.Context, m *wsMetrics, rawURL string, header http.Header, protocols []string, tags metrics.Tags) (*wsConn, *http.Response, []metrics.Sample, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, nil, nil, fmt.Errorf("invalid WebSocket URL %q: want ws:// or wss://", rawURL)
	}
	client := vu.state.HTTP()
	tlsConf := client.TLSConfig()
	tlsConf.ServerName = u.Hostname()
	tlsConf.NextProtos = nil
	d := websocket.Dialer{
		NetDialContext:   client.DialContext,
		TLSClientConfig:  tlsConf,
		HandshakeTimeout: 60 * time.Second,
		Subprotocols:     protocols,
	}
	if header == nil {
		header = http.Header{}
	}
	if header.Get("User-Agent") == "" {
		if ua := vu.prog.userAgent(); ua != "" {
			header.Set("User-Agent", ua)
		}
	}
	start := time.Now()
	conn, resp, err := d.DialContext(ctx, rawURL, header)
	end := time.Now()
	sys := []string{"url", rawURL}
	if resp != nil {
		sys = append(sys, "status", strconv.Itoa(resp.StatusCode), "subproto", subproto(conn))
	}
	tags = tags.Merge(metrics.NewTags(sys...))
	samples := []metrics.Sample{
		{Metric: m.sessions, Time: end, Value: 1, Tags: tags},
		{Metric: m.connecting, Time: end, Value: msSince(start, end), Tags: tags},
	}
	if err != nil {
		samples = append(samples, metrics.Sample{Metric: m.duration, Time: end, Value: msSince(start, end), Tags: tags})
		return nil, resp, samples, err
	}
	return &wsConn{vu: vu, m: m, conn: conn, tags: tags, start: start}, resp, samples, nil
}

func subproto(c *websocket.Conn) string {
	if c == nil {
		return ""
	}
	return c.Subprotocol()
}

func msSince(a, b time.Time) float64 { return float64(b.Sub(a)) / float64(time.Millisecond) }

// send writes a message and counts it in ws_msgs_sent; it runs on the VU's
// goroutine, the connection's only writer of data frames.
func (c *wsConn) send(typ int, data []byte) error {
	if err := c.conn.WriteMessage(typ, data); err != nil {
		return err
	}
	c.count(c.m.sent)
	return nil
}

// count records one of a counter; Emit stamps it.
func (c *wsConn) count(m *metrics.Metric) {
	c.vu.state.Emit(metrics.Sample{Metric: m, Value: 1, Tags: c.tags})
}

// emitPing records a pong's delay as ws_ping.
func (c *wsConn) emitPing(rtt time.Duration) {
	c.vu.state.Emit(metrics.Sample{Metric: c.m.ping, Time: time.Now(), Value: float64(rtt) / float64(time.Millisecond), Tags: c.tags})
}

// paramTags reads params.tags of a socket.
func (vu *VU) paramTags(params *sobek.Object) metrics.Tags {
	if params != nil {
		if o, ok := params.Get("tags").(*sobek.Object); ok {
			return vu.tagsOf(o)
		}
	}
	return metrics.Tags{}
}

// ping sends a ping; the pong's delay is ws_ping.
func (c *wsConn) ping() error {
	c.pingMu.Lock()
	c.pingSent = time.Now()
	c.pingMu.Unlock()
	return c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
}

// pong returns the delay since the ping, or -1 without one; it runs on
// the reading goroutine, which hands the delay to the VU's.
func (c *wsConn) pong() time.Duration {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.pingSent.IsZero() {
		return -1
	}
	d := time.Since(c.pingSent)
	c.pingSent = time.Time{}
	return d
}

// closeFrame sends a close frame with code; the session ends when the
// server answers (or the reader fails).
func (c *wsConn) closeFrame(code int, reason string) error {
	msg := websocket.FormatCloseMessage(code, reason)
	return c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(10*time.Second))
}

// wsEvent is what the reading goroutine got: a message, a ping or pong,
// or the end of the session (err, with the close code when the peer sent
// one).
type wsEvent struct {
	kind int           // websocket.TextMessage, BinaryMessage, PingMessage, PongMessage, CloseMessage
	data []byte        // valid until deliver returns
	rtt  time.Duration // of a pong
	code int           // of a close
	err  error         // the end, when not a close frame
}

// read runs the reading goroutine: every frame becomes an event for
// deliver, which must not block for long and must copy the event's data
// to keep it; the last is a CloseMessage event. Wait for it with
// c.reader.
func (c *wsConn) read(deliver func(wsEvent)) {
	c.conn.SetPingHandler(func(data string) error {
		deliver(wsEvent{kind: websocket.PingMessage})
		err := c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	c.conn.SetPongHandler(func(string) error {
		deliver(wsEvent{kind: websocket.PongMessage, rtt: c.pong()})
		return nil
	})
	c.reader.Go(func() {
		var buf bytes.Buffer // one per connection: a message allocates nothing here
		for {
			typ, r, err := c.conn.NextReader()
			if err == nil {
				buf.Reset()
				_, err = buf.ReadFrom(r)
			}
			if err != nil {
				ev := wsEvent{kind: websocket.CloseMessage, code: websocket.CloseAbnormalClosure, err: err}
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					ev.code, ev.err = ce.Code, nil
				}
				deliver(ev)
				return
			}
			deliver(wsEvent{kind: typ, data: buf.Bytes()})
		}
	})
}

// end closes the connection, waits for the reader and records
// ws_session_duration, from the start of the handshake as in k6.
func (c *wsConn) end() {
	c.stop()
	now := time.Now()
	c.vu.state.Emit(metrics.Sample{Metric: c.m.duration, Time: now, Value: msSince(c.start, now), Tags: c.tags})
}

// stop closes the connection and waits for the reader, recording nothing:
// k6 records no ws_session_duration for an interrupted session.
func (c *wsConn) stop() {
	_ = c.conn.Close()
	c.reader.Wait()
}

// userAgent is the User-Agent of the run's HTTP requests.
func (p *Program) userAgent() string { return p.run().userAgent }
