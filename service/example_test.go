package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// An agent on a SQLite file: a tenant starts a test against a loopback
// target, polls its status and reads its findings.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "loadlens-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "loadlens.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	key, _ := st.AddTenant(ctx, "acme") // loadlens tenant add acme

	srv, err := service.New(service.Config{Store: st})
	if err != nil {
		panic(err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	defer srv.Shutdown(ctx) // before api.Close: ends tests and SSE streams
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer target.Close()

	call := func(method, path, body string, out any) int {
		req, _ := http.NewRequestWithContext(ctx, method, api.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(out)
		return resp.StatusCode
	}
	var started service.StartResponse
	code := call("POST", "/load-test/start", `{"test_type": "custom", "name": "home",
		"target": {"base_url": "`+target.URL+`", "endpoints": ["/"]},
		"options": {"vus": 1, "iterations": 20}}`, &started)
	fmt.Println(code, started.State)

	var status service.RunStatus
	for deadline := time.Now().Add(time.Minute); !status.State.Final() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling interval
		call("GET", "/load-test/"+started.ID+"/status", "", &status)
	}
	var res service.ResultResponse
	call("GET", "/load-test/"+started.ID+"/result", "", &res)
	fmt.Println(status.State, res.Result.Status, res.Result.Metrics["iterations"].Values["count"])
	// Output:
	// 202 queued
	// completed passed 20
}
