package helmcheck

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/vigil"

// nonDefault are values that turn on every optional part of the chart.
const nonDefault = `
clusterName: staging-1
agent:
  gatewayEndpoint: dns:///vigil.example.com:4317
  podMetadata: false
  hostPorts: false
gateway:
  replicas: 3
  clusters:
    - {name: staging-1, subjects: [vigil-agent.staging-1], auditTokenKey: staging-1}
    - {name: prod-us-2, subjects: [vigil-agent.prod-us-2], auditTokenKey: ""}
  tls: {certManager: {enabled: true}}
  lokiURL: http://loki-gateway.loki:80
  promRemoteWriteURL: http://prometheus.monitoring:9090/api/v1/write
  traces: {endpoint: "tempo-distributor.tracing:4317", insecure: true}
  alertmanagers: [http://alertmanager-0.monitoring:9093, http://alertmanager-1.monitoring:9093]
  persistence: {storageClassName: fast-ssd, size: 100Gi}
  extraConfig: |
    exporters:
      alert:
        evaluation_interval: 30s
networkPolicy:
  gatewayFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
serviceMonitor: {enabled: true}
prometheusRule: {enabled: true}
`

// render renders the chart as `helm template vigil deploy/helm/vigil -n vigil -f values` does
// and returns every object, strictly decoded into its Kubernetes type (unknown fields fail);
// objects of other APIs (Prometheus Operator, cert-manager) as maps.
func render(t *testing.T, values string) []any {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	vals := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(values), &vals))
	rv, err := chartutil.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "vigil", Namespace: "vigil", IsInstall: true}, nil)
	require.NoError(t, err)
	files, err := engine.Render(ch, rv)
	require.NoError(t, err)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []any
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, ".txt") {
			continue
		}
		for doc := range strings.SplitSeq(files[n], "\n---\n") {
			if strings.TrimSpace(strings.ReplaceAll(doc, "---", "")) == "" {
				continue
			}
			var meta struct{ APIVersion, Kind string }
			require.NoError(t, yaml.Unmarshal([]byte(doc), &meta), n)
			var obj any
			switch meta.Kind {
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "Service":
				obj = &corev1.Service{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			case "NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "PodMonitor", "PrometheusRule":
				require.Equal(t, "monitoring.coreos.com/v1", meta.APIVersion, n)
				obj = &map[string]any{}
			case "Certificate":
				require.Equal(t, "cert-manager.io/v1", meta.APIVersion, n)
				obj = &map[string]any{}
			default:
				t.Fatalf("%s: unexpected kind %q", n, meta.Kind)
			}
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), obj), "%s: %s", n, meta.Kind)
			out = append(out, obj)
		}
	}
	return out
}

func kinds(objs []any) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		if v, ok := o.(*map[string]any); ok {
			m[fmt.Sprint((*v)["kind"])]++
			continue
		}
		m[reflect.TypeOf(o).Elem().Name()]++
	}
	return m
}

// sealKey writes an Ed25519 private key (PEM, PKCS #8) in dir: the mounted Secret's stand-in.
func sealKey(t *testing.T, dir string) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	p := filepath.Join(dir, "seal.key")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return p
}

func TestChartRendersDefaults(t *testing.T) {
	objs := render(t, "")
	k := kinds(objs)
	for _, want := range []string{"DaemonSet", "StatefulSet", "ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"} {
		require.Positive(t, k[want], "%s in %v", want, k)
	}
	require.Equal(t, 2, k["Service"], "the gateway's Service and its headless Service")
	require.Zero(t, k["PodMonitor"]+k["PrometheusRule"]+k["Certificate"], "optional objects are off by default")
	sts, ds := only[appsv1.StatefulSet](t, objs), only[appsv1.DaemonSet](t, objs)
	require.EqualValues(t, 2, *sts.Spec.Replicas)
	env := envOf(ds.Spec.Template.Spec.Containers[0])
	require.Equal(t, "dns:///vigil-gateway-headless.vigil.svc:4317", env["VIGIL_GATEWAY_ENDPOINT"], "agents reach every replica")
	for _, s := range all[corev1.Service](objs) {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			require.Equal(t, sts.Spec.ServiceName, s.Name, "the headless Service governs the StatefulSet")
		}
	}
	noInlineSecrets(t, sts.Spec.Template.Spec.Containers[0])
	validate(t, objs)
}

func TestChartRendersNonDefaults(t *testing.T) {
	objs := render(t, nonDefault)
	k := kinds(objs)
	require.Equal(t, 1, k["PodMonitor"])
	require.Equal(t, 1, k["PrometheusRule"])
	require.Equal(t, 1, k["Certificate"])
	sts := only[appsv1.StatefulSet](t, objs)
	require.EqualValues(t, 3, *sts.Spec.Replicas)
	require.Equal(t, "fast-ssd", *sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
	env := envOf(sts.Spec.Template.Spec.Containers[0])
	require.Equal(t, "http://loki-gateway.loki:80", env["VIGIL_LOKI_URL"])
	require.Equal(t, "tempo-distributor.tracing:4317", env["VIGIL_TRACES_ENDPOINT"])
	require.Equal(t, "http://prometheus.monitoring:9090/api/v1/write", env["VIGIL_PROMRW_URL"])
	ds := only[appsv1.DaemonSet](t, objs)
	require.Equal(t, "dns:///vigil.example.com:4317", envOf(ds.Spec.Template.Spec.Containers[0])["VIGIL_GATEWAY_ENDPOINT"])
	noInlineSecrets(t, sts.Spec.Template.Spec.Containers[0])
	validate(t, objs)
}

// TestChartMatchesTheManifests: the chart's gateway and agent expose the ports, probes and
// volumes of deploy/kubernetes (which cmd/vigil's manifests test holds to the configs).
func TestChartMatchesTheManifests(t *testing.T) {
	objs := render(t, "")
	ports := func(c corev1.Container) map[string]int32 {
		m := map[string]int32{}
		for _, p := range c.Ports {
			m[p.Name] = p.ContainerPort
		}
		return m
	}
	var manifest appsv1.StatefulSet
	b, err := os.ReadFile("../../deploy/kubernetes/gateway.yaml")
	require.NoError(t, err)
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		if strings.Contains(doc, "kind: StatefulSet") {
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &manifest))
		}
	}
	agent := only[appsv1.DaemonSet](t, objs).Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"/usr/bin/vigil-agent"}, agent.Command, "the agent runs the agent alone (cmd/vigil-agent)")
	chart := only[appsv1.StatefulSet](t, objs).Spec.Template.Spec.Containers[0]
	want := manifest.Spec.Template.Spec.Containers[0]
	require.Equal(t, ports(want), ports(chart))
	require.Equal(t, want.ReadinessProbe, chart.ReadinessProbe)
	require.Equal(t, want.LivenessProbe, chart.LivenessProbe)
	require.Equal(t, want.VolumeMounts, chart.VolumeMounts)
	require.Equal(t, want.SecurityContext, chart.SecurityContext)
}

// noInlineSecrets: credentials come from Secrets, never from values.
func noInlineSecrets(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "TOKEN") {
			require.NotNil(t, e.ValueFrom, "%s must come from a Secret", e.Name)
			require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s must come from a Secret", e.Name)
		}
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func all[T any](objs []any) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func only[T any](t *testing.T, objs []any) *T {
	t.Helper()
	got := all[T](objs)
	require.Len(t, got, 1)
	return got[0]
}

var (
	buildMu sync.Mutex
	built   = map[string]string{} // binary name -> path
)

// binary builds ./cmd/<name> of this repository (vigil, or vigil-agent) once.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "helmcheck-")
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", p, "./cmd/"+name)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/%s\n%s", name, out)
	built[name] = p
	return p
}

// binaryOf is the binary a container runs: its command (/usr/bin/vigil-agent for the agent), else
// the image's entrypoint, /usr/bin/vigil.
func binaryOf(t *testing.T, c corev1.Container) string {
	t.Helper()
	if len(c.Command) == 0 {
		return binary(t, "vigil")
	}
	require.Len(t, c.Command, 1, "the command is the binary; the rest are args")
	name, ok := strings.CutPrefix(c.Command[0], "/usr/bin/")
	require.True(t, ok && (name == "vigil" || name == "vigil-agent"), "%q: the image has /usr/bin/vigil and /usr/bin/vigil-agent", c.Command[0])
	return binary(t, name)
}

// validate runs `vigil validate` on the configuration each workload of objs produces: its
// arguments, the ConfigMap it mounts, its environment ($(NAME) expanded as the kubelet does;
// Secrets and the downward API as placeholders).
func validate(t *testing.T, objs []any) {
	t.Helper()
	configMaps := map[string]map[string]string{}
	for _, cm := range all[corev1.ConfigMap](objs) {
		configMaps[cm.Name] = cm.Data
	}
	type workload struct {
		name string
		pod  corev1.PodSpec
	}
	var ws []workload
	for _, s := range all[appsv1.StatefulSet](objs) {
		ws = append(ws, workload{s.Name, s.Spec.Template.Spec})
	}
	for _, d := range all[appsv1.DaemonSet](objs) {
		ws = append(ws, workload{d.Name, d.Spec.Template.Spec})
	}
	for _, w := range ws {
		dir := t.TempDir()
		mounts := map[string]string{} // mount path -> local directory
		for _, v := range w.pod.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			local := filepath.Join(dir, v.Name)
			require.NoError(t, os.MkdirAll(local, 0o700))
			for k, content := range configMaps[v.ConfigMap.Name] {
				require.NoError(t, os.WriteFile(filepath.Join(local, k), []byte(content), 0o600))
			}
			for _, m := range w.pod.Containers[0].VolumeMounts {
				if m.Name == v.Name {
					mounts[m.MountPath] = local
				}
			}
		}
		c := w.pod.Containers[0]
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "VIGIL_DATA_DIR=" + dir}
		var expand []string
		for _, e := range c.Env {
			v := strings.NewReplacer(expand...).Replace(e.Value)
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
				v = "10.1.2.3"
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
				v = w.name + "-1"
			case e.ValueFrom != nil:
				v = "from-the-" + strings.ToLower(e.Name) + "-secret"
			}
			if e.Name == "VIGIL_SEAL_KEY_FILE" {
				v = sealKey(t, dir)
			}
			expand = append(expand, "$("+e.Name+")", v)
			env = append(env, e.Name+"="+v)
		}
		args := []string{"validate"}
		for i := 0; i < len(c.Args); i++ {
			a := c.Args[i]
			if a == "--data-dir" {
				i++
				continue
			}
			for mp, local := range mounts {
				if rest, ok := strings.CutPrefix(a, mp+"/"); ok {
					a = filepath.Join(local, rest)
				}
			}
			args = append(args, a)
		}
		bin := binaryOf(t, c)
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s %s\n%s", w.name, filepath.Base(bin), strings.Join(args, " "), out)
	}
}
