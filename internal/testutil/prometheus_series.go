package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Series returns the series Prometheus holds that match the selector (GET /api/v1/series, the
// last five minutes), each as its label set printed as Prometheus prints it
// (`{__name__="up", instance="...", job="..."}`), sorted.
func (p *Prometheus) Series(match string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q := url.Values{"match[]": {match}, "start": {fmt.Sprint(time.Now().Add(-5 * time.Minute).Unix())}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/series?"+q.Encode(), http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string              `json:"status"`
		Error  string              `json:"error"`
		Data   []map[string]string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("cannot decode Prometheus answer to series %q: %w", match, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("series %q: %s", match, body.Error)
	}
	out := make([]string, 0, len(body.Data))
	for _, ls := range body.Data {
		out = append(out, labels.FromMap(ls).String())
	}
	slices.Sort(out)
	return out, nil
}
