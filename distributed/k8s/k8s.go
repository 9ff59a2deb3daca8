// Package k8s renders the Kubernetes manifests of a distributed run.
//
// It builds them from the API's own Go types (k8s.io/api), never from text
// templates: the test's archive in a ConfigMap, the coordinator as a Job
// with a Service for its embedded NATS server (or an external NATS), and the
// runners as an Indexed Job whose completion index is each runner's slot and
// so its execution segment.
//
// Both Jobs have backoffLimit 0 (a failed test is not retried behind the
// user's back) and restartPolicy Never; the coordinator decides the end of
// the run, not pod status, and runners exit by themselves when it goes
// away. Pods opt out of service-mesh sidecar injection, which would keep
// a finished Job's pods alive.
//
// k8s imports only the Kubernetes API types and sigs.k8s.io/yaml; the
// command line imports it, the engine does not.
//
//	yaml, err := k8s.Render(k8s.Options{Runners: 10, Image: "loadlens:0.1", RunID: id, Archive: archive})
//	// kubectl apply -f - < the YAML
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Options describe a distributed run on Kubernetes.
type Options struct {
	// Name prefixes every resource's name; default "loadlens".
	Name string
	// Namespace of the resources; default none (kubectl's current one).
	Namespace string
	// Image is the loadlens image; required.
	Image string
	// Runners is how many runners run; required.
	Runners int
	// RunID is the run's id; required (runners join it by id).
	RunID string
	// NATSURL is an external NATS (with JetStream) to coordinate over;
	// empty runs the coordinator's embedded server behind a Service.
	NATSURL string
	// Archive is the test (loadlens's archive of the script or test file
	// with the files it reads); it goes into a ConfigMap, whose size
	// Kubernetes limits to 1 MiB.
	Archive []byte
	// CoordinatorArgs are more flags for `loadlens coordinator`
	// (--on-runner-loss, --join-timeout, --runner-weights …).
	CoordinatorArgs []string
	// RunnerCPU and RunnerMemory are each runner's resource requests;
	// default 1 CPU and 512Mi. The coordinator requests a quarter CPU and
	// 256Mi.
	RunnerCPU, RunnerMemory string
}

// natsPort is the embedded NATS server's port.
const natsPort = 4222

// archiveKey is the archive's key in the ConfigMap, and file in the pods.
const (
	archiveKey = "test.archive"
	archiveDir = "/etc/loadlens"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$`)

func (o *Options) validate() error {
	var errs []error
	if o.Name == "" {
		o.Name = "loadlens"
	}
	if !dnsLabel.MatchString(o.Name) {
		errs = append(errs, fmt.Errorf("name: %q is not a DNS label of at most 42 characters", o.Name))
	}
	if o.Namespace != "" && !dnsLabel.MatchString(o.Namespace) {
		errs = append(errs, fmt.Errorf("namespace: %q is not a DNS label", o.Namespace))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("image: required"))
	}
	if o.Runners < 1 {
		errs = append(errs, fmt.Errorf("runners: must be >= 1, got %d", o.Runners))
	}
	if o.RunID == "" {
		errs = append(errs, errors.New("run id: required"))
	}
	if len(o.Archive) > 1<<20-1024 {
		errs = append(errs, fmt.Errorf("archive: %d bytes do not fit a ConfigMap (1 MiB)", len(o.Archive)))
	}
	for field, q := range map[string]*string{"runner cpu": &o.RunnerCPU, "runner memory": &o.RunnerMemory} {
		if *q == "" {
			continue
		}
		if _, err := resource.ParseQuantity(*q); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", field, *q, err))
		}
	}
	return errors.Join(errs...)
}

// Render returns the manifests as YAML documents, in the order to apply
// them: ConfigMap, Service (without NATSURL), coordinator Job, runners Job.
func Render(o Options) ([]byte, error) {
	objs, err := Objects(o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for i, obj := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// Objects returns the manifests as API objects.
func Objects(o Options) ([]any, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("k8s: %w", err)
	}
	labels := func(role string) map[string]string {
		return map[string]string{"app.kubernetes.io/name": "loadlens", "app.kubernetes.io/instance": o.Name,
			"app.kubernetes.io/component": role, "loadlens.dev/run": o.RunID}
	}
	meta := func(name, role string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels(role)}
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(o.Name+"-test", "test"),
		BinaryData: map[string][]byte{archiveKey: o.Archive},
	}
	objs := []any{cm}

	natsURL := o.NATSURL
	coordArgs := []string{"coordinator", "--runners", strconv.Itoa(o.Runners), "--run-id", o.RunID,
		"--archive", archiveDir + "/" + archiveKey}
	if natsURL == "" {
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: meta(o.Name+"-coordinator", "coordinator"),
			Spec: corev1.ServiceSpec{
				Selector: labels("coordinator"),
				Ports: []corev1.ServicePort{{Name: "nats", Port: natsPort, TargetPort: intstr.FromInt32(natsPort),
					Protocol: corev1.ProtocolTCP}},
			},
		}
		objs = append(objs, svc)
		host := svc.Name
		if o.Namespace != "" {
			host += "." + o.Namespace + ".svc"
		}
		natsURL = fmt.Sprintf("nats://%s:%d", host, natsPort)
		coordArgs = append(coordArgs, "--listen", fmt.Sprintf("0.0.0.0:%d", natsPort))
	} else {
		coordArgs = append(coordArgs, "--nats", natsURL)
	}
	coordArgs = append(coordArgs, o.CoordinatorArgs...)

	volume := corev1.Volume{Name: "test", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}}
	mount := corev1.VolumeMount{Name: "test", MountPath: archiveDir, ReadOnly: true}
	coordinator := job(meta(o.Name+"-coordinator", "coordinator"), corev1.Container{
		Name: "coordinator", Image: o.Image, Args: coordArgs,
		Ports:        []corev1.ContainerPort{{Name: "nats", ContainerPort: natsPort, Protocol: corev1.ProtocolTCP}},
		VolumeMounts: []corev1.VolumeMount{mount},
		Resources:    requests("250m", "256Mi"),
	}, volume)
	objs = append(objs, coordinator)

	runners := job(meta(o.Name+"-runners", "runner"), corev1.Container{
		Name: "runner", Image: o.Image,
		// JOB_COMPLETION_INDEX, which Kubernetes sets in an Indexed Job's
		// pods, is the runner's slot.
		Args:      []string{"runner", "--nats", natsURL, "--run", o.RunID},
		Resources: requests(orDefault(o.RunnerCPU, "1"), orDefault(o.RunnerMemory, "512Mi")),
	})
	n := int32(o.Runners)
	indexed := batchv1.IndexedCompletion
	runners.Spec.Completions, runners.Spec.Parallelism, runners.Spec.CompletionMode = &n, &n, &indexed
	objs = append(objs, runners)
	return objs, nil
}

// job is a Job that runs its pod once: no retries, no restarts.
func job(meta metav1.ObjectMeta, c corev1.Container, volumes ...corev1.Volume) *batchv1.Job {
	zero := int32(0)
	podMeta := metav1.ObjectMeta{Labels: meta.Labels, Annotations: map[string]string{
		// A mesh sidecar would keep the pod, and so the Job, alive after
		// loadlens exits.
		"sidecar.istio.io/inject": "false",
		"linkerd.io/inject":       "disabled",
	}}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit: &zero,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta,
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{c},
					Volumes:       volumes,
				},
			},
		},
	}
}

func requests(cpu, memory string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
