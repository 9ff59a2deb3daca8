package cli

import "fmt"

// k8s is `loadlens k8s render ...`.
func (a *app) k8s(args []string) int {
	fmt.Fprintln(a.stderr, "loadlens k8s: not yet")
	return exitUsage
}
