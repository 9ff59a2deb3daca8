package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/loadlens/loadlens/js"
)

// archive is `loadlens archive [flags] SCRIPT`: the script, the files it
// imports and opens and its remote modules in one tar (k6's layout) that
// `loadlens run archive.tar` runs offline.
func (a *app) archive(ctx context.Context, args []string) int {
	f := newRunFlags("archive")
	out := f.fs.StringP("archive-out", "O", "archive.tar", "write the archive to FILE")
	prog, code, done := a.loadProgram(ctx, f, "loadlens archive [flags] SCRIPT", args)
	if done {
		return code
	}
	vars, _ := keyValues("--env", f.env)
	err := writeFileWith(*out, func(w io.Writer) error { return prog.WriteArchive(w, vars) })
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens archive: %v\n", err)
		return exitGenericError
	}
	return exitOK
}

// inspect is `loadlens inspect SCRIPT`: the script's options as k6
// inspect prints them.
func (a *app) inspect(ctx context.Context, args []string) int {
	prog, code, done := a.loadProgram(ctx, newRunFlags("inspect"), "loadlens inspect [flags] SCRIPT", args)
	if done {
		return code
	}
	b, err := prog.Inspect()
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens inspect: %v\n", err)
		return exitGenericError
	}
	_, _ = a.stdout.Write(b) // no newline, as k6
	return exitOK
}

// loadProgram parses the flags and loads the script they name, as run
// would; done is set when the command should return code at once.
func (a *app) loadProgram(ctx context.Context, f *runFlags, usage string, args []string) (*js.Program, int, bool) {
	if code, done := a.parseFlags(f.fs, usage, args); done {
		return nil, code, true
	}
	if f.fs.NArg() != 1 {
		f.fs.Usage()
		return nil, exitUsage, true
	}
	vars, err := keyValues("--env", f.env)
	if err != nil {
		return nil, a.configError(err), true
	}
	f.remoteModules = true
	opts, _, err := a.scriptOptions(vars, f)
	if err != nil {
		return nil, a.configError(err), true
	}
	prog, err := js.Load(ctx, js.Source{Path: f.fs.Arg(0)}, opts)
	if err != nil {
		return nil, a.loadError(err), true
	}
	return prog, 0, false
}
