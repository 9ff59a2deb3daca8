package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/service"
)

// budgetGate is run's --budget: the budgets the run is held to and the
// baseline of its relative ones, read before the run starts so that a bad
// file costs no test.
type budgetGate struct {
	budgets  service.Budgets
	baseline *loadtest.Result
}

// readBudgetGate reads --budget and --budget-baseline; nil without
// --budget. A bad file is an invalid configuration.
func (a *app) readBudgetGate(f *runFlags) (*budgetGate, int) {
	if f.budgetFile == "" {
		if f.budgetBaseline != "" {
			fmt.Fprintln(a.stderr, "loadlens: --budget-baseline goes with --budget")
			return nil, exitInvalidConfig
		}
		return nil, exitOK
	}
	b, err := os.ReadFile(f.budgetFile)
	var g budgetGate
	if err == nil {
		g.budgets, err = service.ParseBudgets(b)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens: invalid configuration:\n")
		for _, p := range loadtest.ProblemsOf(err) {
			fmt.Fprintf(a.stderr, "  - --budget %s: %s\n", f.budgetFile, p)
		}
		return nil, exitInvalidConfig
	}
	if f.budgetBaseline != "" {
		in, err := readReport(f.budgetBaseline)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens: --budget-baseline: %v\n", err)
			return nil, exitInvalidConfig
		}
		g.baseline = &in.Result
	}
	return &g, exitOK
}

// holdToBudgets checks the run against the gate's budgets, prints each
// verdict, and reports whether any budget was breached.
func (a *app) holdToBudgets(g *budgetGate, res loadtest.Result, in report.Input, f *runFlags) bool {
	var rep *anomaly.Report
	if !f.noAnalysis {
		rep = &in.Analysis
	}
	c := g.budgets.Check(res, rep, g.baseline)
	fmt.Fprintf(a.stdout, "\n  █ BUDGETS %s\n\n", strings.ToUpper(c.Status))
	num := func(v *float64) string { return strconv.FormatFloat(*v, 'g', 4, 64) }
	for _, r := range c.Results {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(a.stdout, "    - %s: not checked: %s\n", r.Budget, r.Skipped)
		case r.Passed:
			fmt.Fprintf(a.stdout, "    ✓ %s (observed %s)\n", r.Budget, num(r.Observed))
		default:
			limit := ""
			if r.Limit != nil {
				limit = ", limit " + num(r.Limit)
			}
			fmt.Fprintf(a.stdout, "    ✗ %s (observed %s%s)\n", r.Budget, num(r.Observed), limit)
		}
	}
	fmt.Fprintln(a.stdout)
	if breaches := c.Breaches(); len(breaches) > 0 {
		fmt.Fprintf(a.stderr, "loadlens: budgets breached: %s\n", strings.Join(breaches, "; "))
		return true
	}
	return false
}
