package k8s_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/loadlens/loadlens/distributed/k8s"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func tenRunners() k8s.Options {
	return k8s.Options{Name: "shop", Namespace: "load", Image: "ghcr.io/example/loadlens:0.1.0", Runners: 10,
		RunID: "run-0123", Archive: []byte(`{"version":1}`), CoordinatorArgs: []string{"--on-runner-loss", "abort"}}
}

// The rendered documents decode strictly (unknown fields are errors) into
// the API's types, which is what the API server validates against.
func decodeAll(t *testing.T, out []byte) (cms []corev1.ConfigMap, svcs []corev1.Service, jobs []batchv1.Job) {
	t.Helper()
	for _, doc := range bytes.Split(out, []byte("---\n")) {
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &head))
		switch head.Kind {
		case "ConfigMap":
			var v corev1.ConfigMap
			require.NoError(t, yaml.UnmarshalStrict(doc, &v))
			cms = append(cms, v)
		case "Service":
			var v corev1.Service
			require.NoError(t, yaml.UnmarshalStrict(doc, &v))
			svcs = append(svcs, v)
		case "Job":
			var v batchv1.Job
			require.NoError(t, yaml.UnmarshalStrict(doc, &v))
			jobs = append(jobs, v)
		default:
			t.Fatalf("unexpected kind %q in\n%s", head.Kind, doc)
		}
	}
	return cms, svcs, jobs
}

func TestRenderTenRunners(t *testing.T) {
	t.Parallel()
	out, err := k8s.Render(tenRunners())
	require.NoError(t, err)
	golden := filepath.Join("testdata", "ten-runners.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, out, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(out), "rerun with -update and review the diff")

	cms, svcs, jobs := decodeAll(t, out)
	require.Len(t, cms, 1)
	require.Len(t, svcs, 1)
	require.Len(t, jobs, 2)
	assert.Equal(t, []byte(`{"version":1}`), cms[0].BinaryData["test.archive"])
	assert.Equal(t, int32(4222), svcs[0].Spec.Ports[0].Port)
	assert.Equal(t, "coordinator", svcs[0].Spec.Selector["app.kubernetes.io/component"])

	coordinator, runners := jobs[0], jobs[1]
	for _, j := range jobs {
		assert.Equal(t, int32(0), *j.Spec.BackoffLimit, "%s: a failed test is never retried", j.Name)
		assert.Equal(t, corev1.RestartPolicyNever, j.Spec.Template.Spec.RestartPolicy)
		assert.Equal(t, "false", j.Spec.Template.Annotations["sidecar.istio.io/inject"])
		assert.False(t, j.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().IsZero(), "%s: requests CPU", j.Name)
	}
	assert.Equal(t, "shop-coordinator", coordinator.Name)
	assert.Equal(t, svcs[0].Spec.Selector, coordinator.Spec.Template.Labels, "the Service selects the coordinator's pod")
	assert.Contains(t, strings.Join(coordinator.Spec.Template.Spec.Containers[0].Args, " "),
		"coordinator --runners 10 --run-id run-0123 --archive /etc/loadlens/test.archive --listen 0.0.0.0:4222 --on-runner-loss abort")
	require.NotNil(t, runners.Spec.CompletionMode)
	assert.Equal(t, batchv1.IndexedCompletion, *runners.Spec.CompletionMode)
	assert.Equal(t, int32(10), *runners.Spec.Completions)
	assert.Equal(t, int32(10), *runners.Spec.Parallelism)
	assert.Equal(t, []string{"runner", "--nats", "nats://shop-coordinator.load.svc:4222", "--run", "run-0123"},
		runners.Spec.Template.Spec.Containers[0].Args)
}

func TestRenderWithExternalNATS(t *testing.T) {
	t.Parallel()
	o := tenRunners()
	o.NATSURL = "nats://nats.infra:4222"
	out, err := k8s.Render(o)
	require.NoError(t, err)
	cms, svcs, jobs := decodeAll(t, out)
	assert.Len(t, cms, 1)
	assert.Empty(t, svcs, "no Service: the runners use the external NATS")
	assert.Contains(t, jobs[0].Spec.Template.Spec.Containers[0].Args, "nats://nats.infra:4222")
	assert.Contains(t, jobs[1].Spec.Template.Spec.Containers[0].Args, "nats://nats.infra:4222")
}

func TestRenderReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := k8s.Render(k8s.Options{Name: "Bad_Name", Runners: 0, RunnerCPU: "lots", Archive: make([]byte, 2<<20)})
	require.Error(t, err)
	for _, want := range []string{"name:", "image: required", "runners: must be >= 1", "run id: required",
		"archive:", `runner cpu: "lots"`} {
		assert.ErrorContains(t, err, want)
	}
}
