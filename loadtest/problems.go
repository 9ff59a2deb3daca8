package loadtest

import (
	"strings"

	"github.com/loadlens/loadlens/internal/strictjson"
	"github.com/loadlens/loadlens/scenarios"
)

// Problem is one thing wrong with a plan or the input it was built from.
type Problem struct {
	// Path is the JSON path of the field at fault
	// ("scenarios.checkout.stages[1].target"), or empty when the problem
	// is not about one field.
	Path string `json:"path,omitempty"`
	// Message says what is wrong ("must be >= 0, got -2").
	Message string `json:"message"`
	// Err is the error the problem was read from, for errors.Is and
	// errors.As; nil when it was built as a Problem.
	Err error `json:"-"`
}

// String is "path: message", or the message alone.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem of an invalid plan, test spec or k6 options,
// in the order they were found: the error of [Plan.Validate],
// [DecodeTestSpec], [DecodeK6Options] and [Run] for bad input. It is
// [ErrInvalidPlan] to errors.Is, and unwraps to the errors its problems
// were read from, as errors.Join does. Callers list it with [ProblemsOf].
type Problems []Problem

// Error is one problem a line, as errors.Join writes them.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalidPlan.
func (ps Problems) Is(target error) bool { return target == ErrInvalidPlan }

// Unwrap returns the errors the problems were read from.
func (ps Problems) Unwrap() []error {
	var out []error
	for _, p := range ps {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// Invalid returns the problems of errs as [Problems], or nil when every
// error is nil. Joined errors (errors.Join, fmt.Errorf with several %w)
// give a problem each, ErrInvalidPlan itself none, a
// *[scenarios.FieldError] its path and message; a wrapper with text of its
// own around several problems ("options.%w", "--config %s: %w") puts its
// text before each one's path. A *strictjson.Problem keeps its path, and
// its message says its line and column.
func Invalid(errs ...error) error {
	var ps Problems
	for _, err := range errs {
		ps = appendProblems(ps, "", err)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// ProblemsOf lists the problems of err, as [Invalid] reads them; an error
// with none (ErrInvalidPlan alone) is one problem of its text. It returns
// nil for nil.
func ProblemsOf(err error) Problems {
	if err == nil {
		return nil
	}
	ps := appendProblems(nil, "", err)
	if len(ps) == 0 {
		ps = Problems{{Message: err.Error(), Err: err}}
	}
	return ps
}

func appendProblems(ps Problems, prefix string, err error) Problems {
	switch e := err.(type) {
	case nil:
		return ps
	case Problems:
		for _, p := range e {
			ps = append(ps, prefixed(prefix, p))
		}
		return ps
	case interface{ Unwrap() []error }:
		// errors.Join, or "%w: %w" with ErrInvalidPlan first, whose text is
		// its parts'; a wrapper that says more keeps its text whole.
		if !joinsItsParts(err, e.Unwrap()) {
			return append(ps, prefixed(prefix, Problem{Message: err.Error(), Err: err}))
		}
		for _, c := range e.Unwrap() {
			if c != ErrInvalidPlan {
				ps = appendProblems(ps, prefix, c)
			}
		}
		return ps
	case interface{ Unwrap() error }:
		inner := e.Unwrap()
		if inner == ErrInvalidPlan {
			text, _ := strings.CutPrefix(err.Error(), ErrInvalidPlan.Error()+": ")
			return append(ps, prefixed(prefix, Problem{Message: text, Err: err}))
		}
		if own, ok := strings.CutSuffix(err.Error(), inner.Error()); ok && own != "" && isMulti(inner) {
			return appendProblems(ps, prefix+own, inner)
		}
	}
	if fe, ok := err.(*scenarios.FieldError); ok {
		return append(ps, prefixed(prefix, Problem{Path: fe.Path, Message: fe.Msg, Err: err}))
	}
	if jp, ok := err.(*strictjson.Problem); ok {
		return append(ps, prefixed(prefix, Problem{Path: jp.Path, Message: jp.Message(), Err: err}))
	}
	return append(ps, prefixed(prefix, Problem{Message: err.Error(), Err: err}))
}

// joinsItsParts reports whether err's text is only that of its parts: the
// "\n" of errors.Join, or the ": " of "%w: %w" after ErrInvalidPlan.
func joinsItsParts(err error, parts []error) bool {
	var texts []string
	for _, p := range parts {
		if p != nil {
			texts = append(texts, p.Error())
		}
	}
	text := err.Error()
	return text == strings.Join(texts, "\n") || text == strings.Join(texts, ": ") && len(parts) > 0 && parts[0] == ErrInvalidPlan
}

// isMulti reports whether err holds several problems.
func isMulti(err error) bool {
	switch e := err.(type) {
	case Problems:
		return len(e) > 1
	case interface{ Unwrap() []error }:
		return true
	}
	return false
}

// prefixed puts a wrapper's text before p's path, or before its message
// when it has none.
func prefixed(prefix string, p Problem) Problem {
	if prefix == "" {
		return p
	}
	if p.Path != "" {
		p.Path = prefix + p.Path
	} else {
		p.Message = prefix + p.Message
	}
	return p
}
