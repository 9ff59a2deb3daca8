package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/scenarios"
)

// Each iteration asks whether it already has the cookie, then gets it: as
// in k6, only noCookiesReset carries it into the next iteration.
func TestCookiesResetEveryIteration(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("sid"); err == nil {
			_, _ = w.Write([]byte("known"))
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc"})
	}))
	defer srv.Close()
	for _, keep := range []bool{false, true} {
		plan := Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.PerVUIterations{VUs: 1, Iterations: 3}},
			Options:   Options{NoCookiesReset: keep},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				r, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL})
				if err != nil {
					return err
				}
				vu.Check("known", string(r.Body) == "known")
				return nil
			}},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		checks := res.Metrics["checks"].Values
		if keep {
			assert.EqualValues(t, 2, checks["passes"], "noCookiesReset: the cookie of iteration 1 is sent by 2 and 3")
		} else {
			assert.EqualValues(t, 0, checks["passes"], "every iteration starts without cookies")
		}
	}
}

func TestNoCookiesResetOption(t *testing.T) {
	t.Parallel()
	o, err := DecodeK6Options([]byte(`{"noCookiesReset": true}`))
	require.NoError(t, err)
	assert.True(t, o.Options.NoCookiesReset)
	assert.Empty(t, o.Warnings)
}
