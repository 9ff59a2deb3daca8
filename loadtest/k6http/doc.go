// Package k6http is the per-VU instrumented HTTP client of loadlens: it
// makes k6 requests, measures k6's timings (blocked, connecting,
// tls_handshaking, sending, waiting, receiving, duration) and emits k6's
// http_* samples with k6's system tags and error codes.
//
// It imports only metrics from loadlens. The engine (package loadtest)
// gives each VU one [Client]; the k6/http JavaScript module wraps the same
// client.
//
// A failed request is data, not an error: [Client.Do] returns a
// [Response] with Status 0, Error and ErrorCode (1050 timeout, 1212
// refused, 1220 reset, ...) and emits its samples. Each redirect hop is a
// request of its own, with its own samples. The samples of a hop go to an
// [Emitter] in one batch, in k6's order, all with the hop's end time; the
// batch slice is the client's and is reused, so the emitter copies what it
// keeps. Bytes on the wire are counted for data_sent and data_received,
// which the engine takes with [Client.TakeIO] at the end of each iteration.
//
// Plain HTTP/1.1 over http:// and https:// takes a lean path of the
// client's own: keep-alive connections per host, one reused bufio reader
// and writer, no per-request maps, tag sets cached per distinct request,
// a bounded response parser (status line, headers, Content-Length,
// chunked, close-delimited, HTTP/1.0, 1xx, HEAD/204/304). Everything else
// (servers that choose HTTP/2, proxies, streamed bodies, Expect:
// 100-continue, header bytes net/http rejects) goes through net/http with
// httptrace. Both paths produce the same samples and tags.
//
// A Client belongs to one VU and is not safe for concurrent use (but
// TakeIO). [Client.Batch] and [Client.Start] run requests in parallel on
// further clients of the VU's, whose samples are emitted on the VU's
// goroutine ([Pending.Finish] for Start). Before its first connection it costs about 11 KB; on the fast
// path a request makes two allocations (the Response and one buffer for
// its headers and body).
//
//	c, err := k6http.NewClient(registry, func(s []metrics.Sample) { pending = append(pending, s...) }, k6http.Options{})
//	res, err := c.Do(ctx, &k6http.Request{URL: "http://127.0.0.1:8080/", VUTags: vuTags})
//	// res.Status, res.Timings.Duration, res.ErrorCode ...
//	sent, received := c.TakeIO() // at the end of the iteration
package k6http
