package testutil

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// AzuriteAccountKey is Azurite's well-known development account key (public, not a secret).
const AzuriteAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// StartAzurite runs Azurite's blob service (Azure Blob Storage emulator, npm package "azurite") and
// returns a connection string for it. It skips (fails in CI) when Azurite is absent.
func StartAzurite(t testing.TB) string {
	t.Helper()
	bin := RequireBinary(t, "azurite-blob", "npm install -g azurite@3.35.0")
	addr := FreeAddr(t)
	host, port := splitAddr(t, addr)
	p := Start(t, "azurite", nil, bin, "--blobHost", host, "--blobPort", port, "--location", t.TempDir(), "--skipApiVersionCheck", "--loose")
	// Azurite answers 400 to a bare GET of / once it listens.
	WaitTCP(t, addr, 30*time.Second, p)
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://%s/devstoreaccount1;",
		AzuriteAccountKey, addr)
}

// StartFakeGCS runs fake-gcs-server (a Google Cloud Storage emulator) with the given buckets and
// sets STORAGE_EMULATOR_HOST for the test. It skips (fails in CI) when it is absent.
func StartFakeGCS(t *testing.T, buckets ...string) {
	t.Helper()
	bin := RequireBinary(t, "fake-gcs-server", "go install github.com/fsouza/fake-gcs-server@v1.56.1")
	data := t.TempDir()
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(data, b), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	addr := FreeAddr(t)
	host, port := splitAddr(t, addr)
	p := Start(t, "fake-gcs-server", nil, bin, "-scheme", "http", "-host", host, "-port", port, "-backend", "memory",
		"-data", data, "-public-host", addr, "-log-level", "warn")
	WaitHTTP(t, "http://"+addr+"/storage/v1/b", 30*time.Second, p)
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
}

// WaitTCP waits until addr accepts connections (or p exits).
func WaitTCP(t testing.TB, addr string, timeout time.Duration, p *Process) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if p != nil && p.Exited() {
			return fmt.Errorf("process exited: %w\n%s", p.err, p.Output())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func splitAddr(t testing.TB, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
