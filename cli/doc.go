// Package cli is the loadlens command line as a library: `run`, `demo`,
// `target`, `report`, `compare`, `serve`, `tenant` and the rest, with k6's
// flags, K6_* environment variables and exit codes.
//
// It is the one package that reads the environment, catches signals,
// prints to the terminal and picks exit codes; cmd/loadlens only hands it
// os.Args and exits with what [Main] returns. A custom binary with
// Go-written k6/x/ modules is the whole CLI plus those modules:
//
//	func main() {
//		os.Exit(cli.Main(context.Background(), os.Args[1:],
//			cli.WithModules(map[string]js.Module{hello.ImportPath: hello.Module()})))
//	}
//
// It may import every loadlens package; none imports it.
package cli
