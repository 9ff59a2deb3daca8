package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// tenantSchedule is `loadlens tenant schedule add|list|enable|disable|remove`:
// the operator's hand on a tenant's recurring tests, which the agent (every
// replica on the database) runs. Schedules print as JSON lines, their tests
// redacted.
func (a *app) tenantSchedule(ctx context.Context, st *store.Store, verb, tenant string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(a.stderr, "loadlens tenant %s: %v\n", verb, err)
		return exitGenericError
	}
	now := time.Now()
	switch verb {
	case "schedule add":
		body, err := os.ReadFile(args[0])
		if err != nil {
			return fail(err)
		}
		sc, err := service.ParseSchedule(body)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens tenant %s: %s: %v\n", verb, args[0], err)
			return exitInvalidConfig
		}
		if _, err := st.Tenant(ctx, tenant); err != nil {
			return fail(err)
		}
		if sc, err = service.CreateSchedule(ctx, st, tenant, sc, now); err != nil {
			return fail(err)
		}
		a.printSchedule(sc)
	case "schedule list":
		if _, err := st.Tenant(ctx, tenant); err != nil {
			return fail(err)
		}
		scs, err := st.Schedules(ctx, tenant)
		if err != nil {
			return fail(err)
		}
		for _, sc := range scs {
			a.printSchedule(sc)
		}
	case "schedule enable", "schedule disable":
		sc, err := st.Schedule(ctx, tenant, args[0])
		if err != nil {
			return fail(err)
		}
		sc.Enabled = verb == "schedule enable"
		if sc, err = service.ReplaceSchedule(ctx, st, tenant, sc, now); err != nil {
			return fail(err)
		}
		a.printSchedule(sc)
	case "schedule remove":
		if err := st.RemoveSchedule(ctx, tenant, args[0]); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

func (a *app) printSchedule(sc store.Schedule) {
	b, _ := json.Marshal(service.ShowSchedule(sc)) // plain data: cannot fail
	fmt.Fprintln(a.stdout, string(b))
}
