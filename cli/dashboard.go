package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/report"
)

// defaultDashboardAddr is k6's web dashboard port, on loopback.
const defaultDashboardAddr = "127.0.0.1:5665"

// dashboardOutput returns the --out of k6's K6_WEB_DASHBOARD=true, with
// K6_WEB_DASHBOARD_HOST and K6_WEB_DASHBOARD_PORT, or "" when it is off.
func dashboardOutput(getenv func(string) string) string {
	if on, _ := strconv.ParseBool(getenv("K6_WEB_DASHBOARD")); !on {
		return ""
	}
	host, port := getenv("K6_WEB_DASHBOARD_HOST"), getenv("K6_WEB_DASHBOARD_PORT")
	if host == "" && port == "" {
		return "web-dashboard"
	}
	def, defPort, _ := net.SplitHostPort(defaultDashboardAddr)
	if host == "" {
		host = def
	}
	if port == "" {
		port = defPort
	}
	return "web-dashboard=" + net.JoinHostPort(host, port)
}

// liveDashboard is a served --out web-dashboard.
type liveDashboard struct {
	*report.Dashboard
	url    string
	server *http.Server
	served chan error // Serve's error, once it returned
}

// openDashboard serves a dashboard on addr (host:port, loopback only: it
// has no authentication; port 0 picks a free one).
func openDashboard(name, addr string) (*liveDashboard, error) {
	if addr == "" {
		addr = defaultDashboardAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil, fmt.Errorf("address %q: the dashboard has no authentication, so it listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	d := &liveDashboard{Dashboard: report.NewDashboard(name), url: "http://" + ln.Addr().String() + "/", served: make(chan error, 1)}
	// Shutdown cancels the requests' context: open event streams end at
	// once instead of holding it up.
	base, cancel := context.WithCancel(context.Background())
	d.server = &http.Server{Handler: d.Dashboard, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	d.server.RegisterOnShutdown(cancel)
	go func() { d.served <- d.server.Serve(ln) }()
	return d, nil
}

// Close stops serving; open event streams end.
func (d *liveDashboard) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.server.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = d.server.Close()
	}
	if serr := <-d.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func isDashboard(spec string) bool {
	kind, _, _ := strings.Cut(spec, "=")
	return kind == "web-dashboard"
}
