package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// manifestObjects decodes every document of a deploy/kubernetes file strictly into its
// Kubernetes type: an unknown or misspelt field fails.
func manifestObjects(t *testing.T, name string) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", name))
	require.NoError(t, err)
	var out []any
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
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
		default:
			t.Fatalf("%s: unexpected kind %q", name, meta.Kind)
		}
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), obj), "%s: %s", name, meta.Kind)
		out = append(out, obj)
	}
	return out
}

func TestAgentManifestDecodes(t *testing.T) {
	require.NotEmpty(t, manifestObjects(t, "agent.yaml"))
}

// The gateway manifest configures a valid gateway: the StatefulSet's environment (secrets as
// placeholders) with the built-in gateway.yaml and the ConfigMap's override pass `vigil
// validate`; every Service port and probe names a container port.
func TestGatewayManifestConfiguresAValidGateway(t *testing.T) {
	var (
		sts      *appsv1.StatefulSet
		override string
		services []*corev1.Service
	)
	for _, obj := range manifestObjects(t, "gateway.yaml") {
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			sts = o
		case *corev1.ConfigMap:
			override = o.Data["gateway.yaml"]
		case *corev1.Service:
			services = append(services, o)
		}
	}
	require.NotNil(t, sts)
	require.NotEmpty(t, override)
	c := sts.Spec.Template.Spec.Containers[0]
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for _, s := range services {
		for _, p := range s.Spec.Ports {
			require.True(t, ports[p.TargetPort.String()], "service %s port %s: no container port %q", s.Name, p.Name, p.TargetPort.String())
		}
	}
	require.True(t, ports[c.ReadinessProbe.HTTPGet.Port.String()])
	// A full disk makes the pod unready, never restarts it: liveness is not the health check.
	require.Equal(t, "health", c.ReadinessProbe.HTTPGet.Port.String())
	require.Equal(t, "metrics", c.LivenessProbe.HTTPGet.Port.String())
	require.True(t, ports[c.LivenessProbe.HTTPGet.Port.String()])
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1, "each replica owns its durable queue")

	// The pod's address is beyond loopback: what validate (and start) require there must be set.
	// $(NAME) is expanded from the variables before it, as the kubelet does.
	var expand []string
	for _, e := range c.Env {
		v := strings.NewReplacer(expand...).Replace(e.Value)
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			v = "10.1.2.3"
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			v = sts.Name + "-1"
		case e.ValueFrom != nil:
			v = "from-the-" + e.Name + "-secret" // secretKeyRef
		}
		expand = append(expand, "$("+e.Name+")", v)
		t.Setenv(e.Name, v)
	}
	// Each replica archives as its own writer, named after its pod: two replicas never write the
	// same archive object (storage/docs/archive-format.md).
	require.Equal(t, sts.Name+"-1", os.Getenv("VIGIL_ARCHIVE_WRITER"), "the archive writer is the pod name")
	dir := t.TempDir()
	// The seal key is a mounted Secret: the test's own key stands in for it.
	require.Equal(t, "/etc/vigil/seal/seal.key", os.Getenv("VIGIL_SEAL_KEY_FILE"), "the gateway signs its seals")
	t.Setenv("VIGIL_SEAL_KEY_FILE", writeSealKey(t, dir))
	t.Setenv("VIGIL_DATA_DIR", dir)
	file := filepath.Join(dir, "gateway.yaml")
	require.NoError(t, os.WriteFile(file, []byte(override), 0o600))
	args := []string{"validate"}
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		if a == "/etc/vigil/config/gateway.yaml" { // the ConfigMap, mounted
			a = file
		}
		if a == "--data-dir" {
			i++ // validate takes no data directory: VIGIL_DATA_DIR above
			continue
		}
		args = append(args, a)
	}
	out, err := execute(t, args...)
	require.NoError(t, err, out)
}

// writeSealKey writes a new Ed25519 private key (PEM, PKCS #8, as openssl genpkey writes it) in
// dir and returns its path.
func writeSealKey(t *testing.T, dir string) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	path := filepath.Join(dir, "seal.key")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return path
}
