package cli

import (
	"context"
	goflag "flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/target"
)

// target is `loadlens target`: the built-in demo target on loopback, until
// Ctrl-C.
func (a *app) target(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to listen on (127.0.0.0/8 or ::1)")
	events := fs.String("events", "", "append the faults' events log (JSON lines: each fault's start and end) to this file")
	var cfg target.Config
	gofs := goflag.NewFlagSet("target", goflag.ContinueOnError)
	gofs.SetOutput(io.Discard)
	cfg.RegisterFlags(gofs, "")
	fs.AddGoFlagSet(gofs)
	if code, done := a.parseFlags(fs, targetUsage(), args); done {
		return code
	}
	if *events != "" {
		f, err := os.OpenFile(*events, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens target: --events: %v\n", err)
			return exitGenericError
		}
		defer f.Close()
		cfg.Events = f
	}
	srv, err := target.New(cfg)
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens target: %v\n", err)
		return exitInvalidConfig
	}
	ctx, stop := a.signalContextSaying(ctx, "stopping the target")
	defer stop()
	if err := srv.Listen(ctx, *addr); err != nil {
		fmt.Fprintf(a.stderr, "loadlens target: %v\n", err)
		return exitGenericError
	}
	fmt.Fprintf(a.stdout, "loadlens target: serving %s (profile %s); metrics at %s/metrics; Ctrl-C stops\n",
		srv.URL(), srv.Config().Profile, srv.URL())
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintf(a.stderr, "loadlens target: %v\n", err)
		return exitGenericError
	}
	return exitOK
}

// targetUsage is target's usage line and what it serves.
func targetUsage() string {
	var b strings.Builder
	b.WriteString("loadlens target [flags]\n\nServes the built-in demo target on loopback until Ctrl-C.\nIts routes (load ×N: a load route, its latency N × --latency):\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range target.Routes() {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			method, path = "ANY", r.Pattern
		}
		load := ""
		if r.Weight > 0 {
			load = fmt.Sprintf("load ×%d", r.Weight)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", method, strings.TrimSuffix(path, "{$}"), load, r.Answer)
	}
	_ = tw.Flush()
	b.WriteString("\nLatency, errors and --fault apply to load routes only.")
	return b.String()
}
