package loadtest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

func TestProblemsOf(t *testing.T) {
	t.Parallel()
	field := &scenarios.FieldError{Path: "scenarios.a.duration", Msg: "required"}
	other := errors.New("options.vus: must be >= 0, got -1")
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"a field error keeps its path", loadtest.Invalid(field), []string{"scenarios.a.duration|required"}},
		{"joined, the sentinel first", fmt.Errorf("%w: %w", loadtest.ErrInvalidPlan, errors.Join(field, other)),
			[]string{"scenarios.a.duration|required", "|options.vus: must be >= 0, got -1"}},
		{"the sentinel with text", fmt.Errorf("%w: --listen: want HOST:PORT", loadtest.ErrInvalidPlan), []string{"|--listen: want HOST:PORT"}},
		{"a wrapper's text goes before each path", loadtest.Invalid(fmt.Errorf("--config c.json: %w", errors.Join(field, other))),
			[]string{"--config c.json: scenarios.a.duration|required", "|--config c.json: options.vus: must be >= 0, got -1"}},
		{"a wrapper that says more is one problem", fmt.Errorf("reading: %w and %w", field, other),
			[]string{"|reading: scenarios.a.duration: required and options.vus: must be >= 0, got -1"}},
		{"problems in problems", loadtest.Invalid(loadtest.Invalid(field), nil, other), []string{"scenarios.a.duration|required", "|options.vus: must be >= 0, got -1"}},
		{"any other error is its text", errors.New("boom"), []string{"|boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range loadtest.ProblemsOf(tc.err) {
				got = append(got, p.Path+"|"+p.Message)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// Problems keeps what errors.Join gives: the sentinel, the causes for
// errors.As, and one problem a line.
func TestProblemsAreAJoin(t *testing.T) {
	t.Parallel()
	_, syntax := metrics.ParseThreshold("p(95)<<1")
	require.Error(t, syntax)
	field := &scenarios.FieldError{Path: "scenarios.a.duration", Msg: "required"}
	err := loadtest.Invalid(field, syntax)
	require.ErrorIs(t, err, loadtest.ErrInvalidPlan)
	var fe *scenarios.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Same(t, field, fe)
	assert.Equal(t, errors.Join(field, syntax).Error(), err.Error())
	assert.NoError(t, loadtest.Invalid(nil, nil))
}

// Every problem of a bad plan comes with its path, in one error.
func TestPlanValidateProblems(t *testing.T) {
	t.Parallel()
	err := loadtest.Plan{Scenarios: scenarios.Scenarios{"a": scenarios.ConstantVUs{}}}.Validate()
	var ps loadtest.Problems
	require.ErrorAs(t, err, &ps)
	require.ErrorIs(t, err, loadtest.ErrInvalidPlan)
	paths := map[string]bool{}
	for _, p := range ps {
		paths[p.Path] = true
	}
	assert.True(t, paths["scenarios.a.duration"], "%v", ps)
	assert.Greater(t, len(ps), 1, "every problem at once: %v", ps)
}
