package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Alertmanager is a real Alertmanager (Debian package "prometheus-alertmanager") on 127.0.0.1.
type Alertmanager struct {
	URL  string
	Proc *Process
}

// AlertmanagerAlert is an alert as Alertmanager's GET /api/v2/alerts returns it.
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// StartAlertmanager runs a single (non-clustered) Alertmanager with a temporary storage directory
// and a route to a receiver that notifies nobody. It skips (fails in CI) when Alertmanager is not
// installed.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	return StartAlertmanagerWithConfig(t, "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n")
}

// StartAlertmanagerWithConfig is StartAlertmanager with cfg as its configuration file (routes,
// receivers such as a webhook to a test server).
func StartAlertmanagerWithConfig(t testing.TB, cfg string) *Alertmanager {
	t.Helper()
	bin := RequireBinary(t, "prometheus-alertmanager",
		"apt-get install -y prometheus-alertmanager (Debian package, Alertmanager 0.25)", "/usr/bin/prometheus-alertmanager")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	am := &Alertmanager{URL: "http://" + addr}
	am.Proc = Start(t, "alertmanager", nil, bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no clustering: no gossip port
		"--log.level=warn")
	WaitHTTP(t, am.URL+"/-/ready", 30*time.Second, am.Proc)
	return am
}

// Alerts returns the alerts Alertmanager holds (GET /api/v2/alerts: active, silenced and
// inhibited; resolved alerts are not listed).
func (am *Alertmanager) Alerts() ([]AlertmanagerAlert, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/api/v2/alerts", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts answered %d", resp.StatusCode)
	}
	var alerts []AlertmanagerAlert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return nil, fmt.Errorf("cannot decode /api/v2/alerts: %w", err)
	}
	return alerts, nil
}
