package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/store"
)

const tenantUsage = `loadlens tenant add NAME [limits] [--db FILE]     create a tenant; print its API key
       loadlens tenant limits NAME [limits] [--db FILE]  change a tenant's limits; print them
       loadlens tenant key NAME [--db FILE]              print another API key for a tenant
       loadlens tenant keys NAME [--db FILE]             print a tenant's keys: their ids, never the keys
       loadlens tenant key revoke NAME KEY_ID|KEY [--db FILE]
                                                         revoke a key at once (a running agent included)
       loadlens tenant remove NAME [--db FILE]           remove a tenant: its keys stop working, its runs stay
       loadlens tenant list [--db FILE]                  print every tenant and its limits
       loadlens tenant webhook add NAME URL [--format json|slack] [--event E ...] [--db FILE]
                                                         give a tenant a webhook of its own; print it
       loadlens tenant webhook list NAME [--db FILE]     print a tenant's webhooks
       loadlens tenant webhook remove NAME URL [--db FILE]
                                                         remove a tenant's webhook
       loadlens tenant schedule add NAME FILE [--db FILE]
                                                         give a tenant a recurring test (FILE: the body of
                                                         POST /schedules); print it
       loadlens tenant schedule list NAME [--db FILE]    print a tenant's schedules
       loadlens tenant schedule enable|disable|remove NAME ID [--db FILE]

A tenant's webhooks get its runs' alerts (besides the agent's --webhooks);
only the operator sets them, here, so that a tenant cannot make the agent
post to an address of its choosing. Events: completed, failed,
thresholds_failed, high_findings (none: every event).`

// tenant manages the agent's tenants in its database: their keys, limits
// and webhooks. Keys are printed alone on stdout, so that a script can take
// them; tenants and webhooks as JSON lines.
func (a *app) tenant(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("tenant", flag.ContinueOnError)
	db := fs.String("db", "loadlens.db", "the agent's SQLite database, or its postgres:// URL")
	maxVUs := fs.Int64("max-vus", 0, "limit: the most VUs a test may use (0: the agent's default)")
	maxDuration := fs.Duration("max-duration", 0, "limit: the longest a test may run, e.g. 30m (0: the agent's default)")
	maxConcurrent := fs.Int("max-concurrent", 0, "limit: the most tests running or queued at once (0: the agent's default)")
	allowHosts := fs.StringArray("allow-host", nil, "limit: a target host, IP or CIDR tests may load (repeatable; none: loopback only)")
	format := fs.String("format", store.FormatJSON, "webhook add: the alerts' format, json or slack")
	events := fs.StringArray("event", nil, "webhook add: an event that alerts (repeatable; none: every event)")
	if code, done := a.parseFlags(fs, tenantUsage, args); done {
		return code
	}
	// pos are the verb's arguments; "webhook add" and the like are verbs.
	verb, pos := fs.Arg(0), fs.Args()
	if verb == "webhook" || verb == "schedule" || (verb == "key" && fs.Arg(1) == "revoke") {
		verb += " " + fs.Arg(1)
		pos = pos[1:]
	}
	want := map[string]int{"add": 2, "limits": 2, "key": 2, "keys": 2, "key revoke": 3, "remove": 2, "list": 1,
		"webhook add": 3, "webhook list": 2, "webhook remove": 3,
		"schedule add": 3, "schedule list": 2, "schedule enable": 3, "schedule disable": 3, "schedule remove": 3}[verb]
	if want == 0 || len(pos) != want {
		fs.Usage()
		return exitUsage
	}
	var name string // none for list
	if len(pos) > 1 {
		name = pos[1]
	}
	limitsGiven := fs.Changed("max-vus") || fs.Changed("max-duration") || fs.Changed("max-concurrent") || fs.Changed("allow-host")
	if limitsGiven && verb != "add" && verb != "limits" {
		fmt.Fprintf(a.stderr, "loadlens tenant %s: limit flags go with add or limits\n", verb)
		return exitUsage
	}
	if (fs.Changed("format") || fs.Changed("event")) && verb != "webhook add" {
		fmt.Fprintf(a.stderr, "loadlens tenant %s: --format and --event go with webhook add\n", verb)
		return exitUsage
	}
	var hook store.Webhook
	if verb == "webhook add" {
		// Checked before the database is touched, like add's limits.
		hook = store.Webhook{URL: pos[2], Format: *format, Events: *events}
		if err := hook.Validate(); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: webhook: %v\n", err)
			return exitUsage
		}
	}
	if verb != "add" && !store.IsPostgres(*db) { // only add may create the database: a typo must not answer "no tenants"
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
	case "keys":
		keys, err := st.Keys(ctx, name)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		for _, k := range keys {
			b, _ := json.Marshal(k)
			fmt.Fprintln(a.stdout, string(b))
		}
	case "key revoke":
		id := pos[2]
		if strings.HasPrefix(id, "llk_") { // the key itself
			id = store.KeyID(id)
		}
		if err := st.RevokeKey(ctx, name, id); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
	case "remove":
		if err := st.RemoveTenant(ctx, name); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
	case "list":
		ts, err := st.Tenants(ctx)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		for _, t := range ts {
			a.printTenant(t)
		}
	case "webhook add":
		if err := st.AddWebhook(ctx, name, hook); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		a.printWebhook(name, hook)
	case "webhook list":
		hooks, err := st.Webhooks(ctx, name)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
		for _, h := range hooks {
			a.printWebhook(name, h)
		}
	case "webhook remove":
		if err := st.RemoveWebhook(ctx, name, pos[2]); err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant: %v\n", err)
			return exitGenericError
		}
	default:
		return a.tenantSchedule(ctx, st, verb, name, pos[2:])
	}
	return exitOK
}

// printWebhook writes a tenant's webhook as one JSON line; no events means
// every event.
func (a *app) printWebhook(tenant string, w store.Webhook) {
	b, _ := json.Marshal(struct {
		Tenant string   `json:"tenant"`
		URL    string   `json:"url"`
		Format string   `json:"format"`
		Events []string `json:"events,omitempty"`
	}{tenant, w.URL, w.Format, w.Events})
	fmt.Fprintln(a.stdout, string(b))
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
