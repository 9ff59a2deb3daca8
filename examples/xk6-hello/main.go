// Command xk6-hello is loadlens's answer to xk6: the whole loadlens CLI
// plus an extension module (package hello, imported as "k6/x/hello"), built
// with plain `go build`, as an xk6 build is the whole k6 plus its modules.
//
//	go build -o xk6-hello ./examples/xk6-hello
//	./xk6-hello run -e NAME=value ./examples/xk6-hello/script.js
package main

import (
	"context"
	"os"

	"github.com/loadlens/loadlens/cli"
	"github.com/loadlens/loadlens/examples/xk6-hello/hello"
	"github.com/loadlens/loadlens/js"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:],
		cli.WithModules(map[string]js.Module{hello.ImportPath: hello.Module()})))
}
