package k6http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// One VU's client: a request tagged with a name, the samples it emits
// (copied by the emitter, as the batch slice is reused) and the bytes it
// moved.
func ExampleClient() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()

	var samples []metrics.Sample
	c, err := k6http.NewClient(metrics.NewRegistry(), func(batch []metrics.Sample) {
		samples = append(samples, batch...)
	}, k6http.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	res, err := c.Do(context.Background(), &k6http.Request{
		URL:    srv.URL + "/",
		Tags:   metrics.NewTags("name", "home"),
		VUTags: metrics.NewTags("scenario", "default", "group", ""),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, string(res.Body), res.Proto)
	for _, s := range samples {
		fmt.Println(s.Metric.Name)
	}
	fmt.Println(samples[0].Tags)
	sent, received := c.TakeIO()
	fmt.Println(sent > 0, received > 0)
	// Output:
	// 200 hello HTTP/1.1
	// http_reqs
	// http_req_duration
	// http_req_blocked
	// http_req_connecting
	// http_req_tls_handshaking
	// http_req_sending
	// http_req_waiting
	// http_req_receiving
	// http_req_failed
	// {expected_response:true,group:,method:GET,name:home,proto:HTTP/1.1,scenario:default,status:200,url:home}
	// true true
}

// A failed request is data: status 0, k6's error code and text, and
// samples tagged with them.
func ExampleClient_Do_refused() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	_ = ln.Close() // nothing listens there now

	var failed []metrics.Sample
	c, err := k6http.NewClient(metrics.NewRegistry(), func(batch []metrics.Sample) {
		failed = append(failed, batch[len(batch)-1]) // http_req_failed
	}, k6http.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	res, err := c.Do(context.Background(), &k6http.Request{URL: url, Tags: metrics.NewTags("name", "down")})
	fmt.Println(err, res.Status, res.ErrorCode, res.Error)
	fmt.Println(failed[0].Metric.Name, failed[0].Value, failed[0].Tags)
	// Output:
	// <nil> 0 1212 dial: connection refused
	// http_req_failed 1 {error:dial: connection refused,error_code:1212,expected_response:false,method:GET,name:down,status:0,url:down}
}
