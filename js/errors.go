package js

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/parser"
)

// ScriptError is an error in a script: a syntax error or an uncaught
// exception, with where it happened. It wraps ErrScript.
type ScriptError struct {
	// Message is the JavaScript error as the script would print it, such
	// as "Error: boom" or "SyntaxError: Unexpected token".
	Message string
	// File, Line and Column locate the error (1-based); File is "" and
	// Line 0 when the position is unknown.
	File   string
	Line   int
	Column int
	// Stack is the JavaScript stack trace, one "\tat ..." line per frame;
	// empty for syntax errors.
	Stack string
	// Phase says where the error happened: "init", "setup", "teardown",
	// "handleSummary" or the exec function's name.
	Phase string
}

// Error returns "file:line:column: message".
func (e *ScriptError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	}
	if e.Phase != "" && e.Phase != "init" {
		fmt.Fprintf(&b, "in %s: ", e.Phase)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns ErrScript.
func (e *ScriptError) Unwrap() error { return ErrScript }

// newScriptError turns a sobek error into a ScriptError; other errors are
// wrapped as they are.
func newScriptError(err error, phase string) error {
	if err == nil {
		return nil
	}
	var se *ScriptError
	if errors.As(err, &se) {
		return err
	}
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		e := &ScriptError{Phase: phase}
		if v := ex.Value(); v != nil {
			e.Message = exceptionMessage(v)
		} else {
			e.Message = err.Error()
		}
		var b strings.Builder
		for i, f := range ex.Stack() {
			pos := f.Position()
			if pos.Filename == "" && pos.Line == 0 {
				continue
			}
			if e.File == "" && i < len(ex.Stack()) {
				e.File, e.Line, e.Column = pos.Filename, pos.Line, pos.Column
			}
			b.WriteString("\tat ")
			if fn := f.FuncName(); fn != "" {
				b.WriteString(fn + " (")
				fmt.Fprintf(&b, "%s:%d:%d)", pos.Filename, pos.Line, pos.Column)
			} else {
				fmt.Fprintf(&b, "%s:%d:%d", pos.Filename, pos.Line, pos.Column)
			}
			b.WriteByte('\n')
		}
		e.Stack = b.String()
		return e
	}
	var cse *sobek.CompilerSyntaxError
	if errors.As(err, &cse) {
		e := &ScriptError{Message: "SyntaxError: " + cse.Message, Phase: phase}
		if cse.File != nil {
			pos := cse.File.Position(cse.Offset)
			e.File, e.Line, e.Column = pos.Filename, pos.Line, pos.Column
		}
		return e
	}
	var pl parser.ErrorList
	if errors.As(err, &pl) && len(pl) > 0 {
		p := pl[0]
		return &ScriptError{Message: "SyntaxError: " + p.Message, File: p.Position.Filename,
			Line: p.Position.Line, Column: p.Position.Column, Phase: phase}
	}
	var pe *parser.Error
	if errors.As(err, &pe) {
		return &ScriptError{Message: "SyntaxError: " + pe.Message, File: pe.Position.Filename,
			Line: pe.Position.Line, Column: pe.Position.Column, Phase: phase}
	}
	return fmt.Errorf("%w: %s: %w", ErrScript, phase, err)
}

// exceptionMessage is what String(value) says: "Error: boom" for an Error.
func exceptionMessage(v sobek.Value) string { return v.String() }
