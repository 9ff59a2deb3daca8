package target_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/loadlens/loadlens/target"
)

// Start a target on a free loopback port, hit it, and cross-check its
// counters.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := target.New(target.Config{Latency: time.Millisecond, ErrorRate: 0.25, Seed: 1})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	statuses := map[int]int{}
	for range 8 {
		resp, err := client.Get(srv.URL() + "/")
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode/100*100]++
	}
	st := srv.Stats()
	fmt.Println("2xx:", statuses[200], "5xx:", statuses[500])
	fmt.Println("requests:", st.Requests, "injected errors:", st.Errors)
	// Output:
	// 2xx: 6 5xx: 2
	// requests: 8 injected errors: 2
}

// The flags the CLI exposes, parsed into a Config.
func ExampleConfig_RegisterFlags() {
	var cfg target.Config
	fs := flag.NewFlagSet("loadlens target", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	err := fs.Parse([]string{"--latency", "5ms", "--jitter", "2ms", "--errors", "0.05", "--profile", "leak", "--fault-after", "20s"})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Latency, cfg.Jitter, cfg.ErrorRate, cfg.Profile, cfg.FaultAfter)
	// Output:
	// 5ms 2ms 0.05 leak 20s
}

// Validate reports every problem at once, each named by its JSON field.
func ExampleConfig_Validate() {
	err := target.Config{Latency: -time.Millisecond, ErrorRate: 2, Profile: "spike"}.Validate()
	fmt.Println(err)
	// Output:
	// latency: must be in [0, 1m0s], got -1ms
	// errorRate: must be in [0, 1], got 2
	// profile: unknown profile "spike": want one of healthy, degrade, leak, saturate, errors
}

// The handler works without a listener; a fault profile changes it over
// time. Here the clock is injected to jump past FaultAfter.
func ExampleServer_Handler() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	srv, err := target.New(target.Config{
		Profile:        target.Leak,
		FaultAfter:     20 * time.Second,
		LeakPerRequest: 64 << 10,
		Now:            func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	get := func() {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/products/1", nil))
	}
	get()
	fmt.Println("before:", srv.Stats().FaultActive, srv.Stats().RetainedBytes)
	now = now.Add(20 * time.Second)
	get()
	get()
	fmt.Println("after:", srv.Stats().FaultActive, srv.Stats().RetainedBytes)
	// Output:
	// before: false 0
	// after: true 131072
}

func ExampleParseProfile() {
	p, err := target.ParseProfile("Saturate")
	fmt.Println(p, err)
	_, err = target.ParseProfile("spike")
	fmt.Println(err)
	// Output:
	// saturate <nil>
	// unknown profile "spike": want one of healthy, degrade, leak, saturate, errors
}
