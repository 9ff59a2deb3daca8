// Package browsertest starts headless Chromium for tests that check what a
// page draws (the HTML report, the live dashboard): a tab that records its
// console errors and the URLs it loads.
package browsertest

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds a Chromium or Chrome binary; .ci/run installs
// Debian's chromium when it can.
func chromiumPath() (string, bool) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Browser is a headless Chromium tab.
type Browser struct {
	// Ctx runs chromedp actions in the tab.
	Ctx    context.Context
	mu     sync.Mutex
	errors []string // console errors, uncaught exceptions, error log entries
	loads  []string // URLs the page requested
}

// New starts headless Chromium, or skips the test when there is none. It
// stops when the test ends.
func New(t testing.TB) *Browser {
	t.Helper()
	path, ok := chromiumPath()
	if !ok {
		t.Skip("no Chromium: install Debian's chromium (apt-get install -y chromium; .ci/run does it) to run the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 5*time.Minute) // generous: a busy 2-core machine under -race
	t.Cleanup(func() {
		tcancel()
		cancel()
		acancel()
	})
	b := &Browser{Ctx: ctx}
	require.NoError(t, chromedp.Do(ctx), "start Chromium at %s", path) // opens the tab
	require.NoError(t, chromedp.Listen(ctx, b.record))
	return b
}

// record runs on the tab's event loop: it only appends.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.errors = append(b.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		b.errors = append(b.errors, "exception: "+msg)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			b.errors = append(b.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
		}
	case *page.EventJavascriptDialogOpening: // a hostile string ran as script
		b.errors = append(b.errors, "dialog: "+e.Message)
	case *network.EventRequestWillBeSent:
		b.loads = append(b.loads, e.Request.URL)
	}
}

// ConsoleErrors are the console errors, uncaught exceptions and error log
// entries of the tab so far.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Requests are the URLs the tab requested so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.loads...)
}

// Poll waits until the JavaScript expression expr is true in the tab, for
// up to 90 s (a busy machine's page loads and redraws slowly).
func (b *Browser) Poll(t testing.TB, expr string) {
	t.Helper()
	_, err := chromedp.Run(b.Ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)))
	require.NoError(t, err, "waiting for %s", expr)
}

// WaitDashboardRedraws waits until the live dashboard in the tab has drawn
// a point of a running test, then until it has drawn more: the page
// updates as the run goes on.
func (b *Browser) WaitDashboardRedraws(t testing.TB) {
	t.Helper()
	b.Poll(t, `+document.body.dataset.points >= 1 && document.body.dataset.state === "running"`)
	first, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.body.dataset.points`))
	require.NoError(t, err)
	b.Poll(t, `+document.body.dataset.points > `+first+` && document.body.dataset.state === "running"`)
}
