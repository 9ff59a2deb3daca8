package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/store"
)

const tenantUsage = `loadlens tenant add NAME [limits] [--db FILE]     create a tenant; print its API key
       loadlens tenant limits NAME [limits] [--db FILE]  change a tenant's limits; print them
       loadlens tenant key NAME [--db FILE]              print another API key for a tenant
       loadlens tenant list [--db FILE]                  print every tenant and its limits`

// tenant manages the agent's tenants in its database. Keys are printed
// alone on stdout, so that a script can take them.
func (a *app) tenant(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("tenant", flag.ContinueOnError)
	db := fs.String("db", "loadlens.db", "the agent's SQLite database")
	maxVUs := fs.Int64("max-vus", 0, "limit: the most VUs a test may use (0: the agent's default)")
	maxDuration := fs.Duration("max-duration", 0, "limit: the longest a test may run, e.g. 30m (0: the agent's default)")
	maxConcurrent := fs.Int("max-concurrent", 0, "limit: the most tests running or queued at once (0: the agent's default)")
	allowHosts := fs.StringArray("allow-host", nil, "limit: a target host, IP or CIDR tests may load (repeatable; none: loopback only)")
	if code, done := a.parseFlags(fs, tenantUsage, args); done {
		return code
	}
	verb, name := fs.Arg(0), fs.Arg(1)
	want := map[string]int{"add": 2, "limits": 2, "key": 2, "list": 1}[verb]
	if want == 0 || fs.NArg() != want {
		fs.Usage()
		return exitUsage
	}
	limitsGiven := fs.Changed("max-vus") || fs.Changed("max-duration") || fs.Changed("max-concurrent") || fs.Changed("allow-host")
	if limitsGiven && verb != "add" && verb != "limits" {
		fmt.Fprintf(a.stderr, "loadlens tenant %s: limit flags go with add or limits\n", verb)
		return exitUsage
	}
	if verb != "add" { // only add may create the database: a typo must not answer "no tenants"
		if _, err := os.Stat(*db); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
	}
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
		return exitGenericError
	}
	defer st.Close()

	// withFlags lays the limit flags given over l.
	withFlags := func(l store.Limits) store.Limits {
		if fs.Changed("max-vus") {
			l.MaxVUs = *maxVUs
		}
		if fs.Changed("max-duration") {
			l.MaxDuration = *maxDuration
		}
		if fs.Changed("max-concurrent") {
			l.MaxConcurrent = *maxConcurrent
		}
		if fs.Changed("allow-host") {
			l.AllowedHosts = *allowHosts
		}
		return l
	}
	switch verb {
	case "add":
		// The limits are checked before the tenant exists, so that a bad
		// flag leaves nothing half made.
		if limitsGiven {
			if err := store.ValidateLimits(withFlags(store.Limits{})); err != nil {
				fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
				return exitUsage
			}
		}
		key, err := st.AddTenant(ctx, name)
		if err == nil && limitsGiven {
			err = st.SetLimits(ctx, name, withFlags(store.Limits{}))
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		fmt.Fprintln(a.stdout, key)
	case "limits":
		t, err := st.Tenant(ctx, name)
		if err == nil && limitsGiven {
			if err = st.SetLimits(ctx, name, withFlags(t.Limits)); err == nil {
				t, err = st.Tenant(ctx, name)
			}
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		a.printTenant(t)
	case "key":
		key, err := st.AddKey(ctx, name)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		fmt.Fprintln(a.stdout, key)
	case "list":
		ts, err := st.Tenants(ctx)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		for _, t := range ts {
			a.printTenant(t)
		}
	}
	return exitOK
}

// printTenant writes a tenant as one JSON line, its limits with readable
// durations.
func (a *app) printTenant(t store.Tenant) {
	type limits struct {
		MaxVUs        int64    `json:"max_vus"`
		MaxDuration   string   `json:"max_duration"`
		MaxConcurrent int      `json:"max_concurrent"`
		AllowedHosts  []string `json:"allowed_hosts"`
	}
	b, _ := json.Marshal(struct {
		ID      string    `json:"id"`
		Created time.Time `json:"created"`
		Limits  limits    `json:"limits"`
	}{t.ID, t.Created, limits{t.Limits.MaxVUs, t.Limits.MaxDuration.String(), t.Limits.MaxConcurrent, t.Limits.AllowedHosts}})
	fmt.Fprintln(a.stdout, string(b))
}
