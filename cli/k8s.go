package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/distributed/k8s"
	"github.com/loadlens/loadlens/loadtest"
)

const k8sUsage = `loadlens k8s render --runners N --image IMAGE [flags] FILE.json|FILE.js

Writes the Kubernetes manifests of a distributed run to stdout (or -o FILE):
the test in a ConfigMap, the coordinator as a Job with a Service for its NATS
server (or --nats for an external one), the runners as an Indexed Job. Run
flags (-u, -d, -e, --tag …) shape the test as for run. Then:

  loadlens k8s render --runners 10 --image IMAGE script.js > run.yaml
  kubectl apply -f run.yaml
  kubectl logs -f job/loadlens-coordinator    # the summary; the Job fails when the test fails
  kubectl delete -f run.yaml`

// k8s is `loadlens k8s render [flags] FILE`.
func (a *app) k8s(ctx context.Context, args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintf(a.stdout, "Usage: %s\n", k8sUsage)
		return exitOK
	}
	if len(args) == 0 || args[0] != "render" {
		fmt.Fprintf(a.stderr, "Usage: %s\n", k8sUsage)
		return exitUsage
	}
	f := newRunFlags("k8s render")
	var d distFlags
	d.register(f.fs, true)
	var o k8s.Options
	var outFile string
	f.fs.StringVar(&o.Image, "image", "", "the loadlens image the pods run (required)")
	f.fs.StringVar(&o.Name, "name", "loadlens", "prefix of the resources' names")
	f.fs.StringVar(&o.Namespace, "namespace", "", "the resources' namespace (default: kubectl's)")
	f.fs.StringVar(&o.RunnerCPU, "runner-cpu", "1", "CPU each runner requests")
	f.fs.StringVar(&o.RunnerMemory, "runner-memory", "512Mi", "memory each runner requests")
	f.fs.StringVarP(&outFile, "output", "O", "", "write the manifests to FILE instead of stdout")
	if code, done := a.parseFlags(f.fs, k8sUsage, args[1:]); done {
		return code
	}
	if f.fs.NArg() != 1 {
		f.fs.Usage()
		return exitUsage
	}
	_, _, archive, err := a.packTest(ctx, f.fs.Arg(0), f)
	if err != nil {
		return a.loadError(err)
	}
	_, seqErr := d.sequence()
	_, lossErr := distributed.ParseLossPolicy(d.onLoss)
	if err := errors.Join(seqErr, lossErr); err != nil {
		return a.configError(loadtest.Invalid(err))
	}
	o.Runners, o.NATSURL, o.Archive = d.runners, d.natsURL, archive
	o.RunID = d.runID
	if o.RunID == "" {
		o.RunID = distributed.NewRunID()
	}
	o.CoordinatorArgs = []string{"--on-runner-loss", d.onLoss, "--join-timeout", d.joinTimeout.String()}
	if d.weights != "" {
		o.CoordinatorArgs = append(o.CoordinatorArgs, "--runner-weights", d.weights)
	}
	out, err := k8s.Render(o)
	if err != nil {
		return a.configError(loadtest.Invalid(err))
	}
	if outFile == "" {
		_, _ = a.stdout.Write(out)
		return exitOK
	}
	if err := os.WriteFile(outFile, out, 0o644); err != nil {
		fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
		return exitGenericError
	}
	return exitOK
}
