package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// HTTPReport sends reports to the native API at base (this node's own
// HTTP URL: a follower forwards the write to the zone leader, who checks
// that the instance is still assigned here and writes it through Raft).
// transport carries this node's own credentials (auth.NodeCredentials,
// over TLS when it is on);
// the leader takes a report only from the node it names.
func HTTPReport(base string, transport http.RoundTripper) ReportFunc {
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
	return func(ctx context.Context, st Status) error {
		body, err := json.Marshal(st)
		if err != nil {
			return err
		}
		u := base + "/cairn/v1/workloads/" + url.PathEscape(st.Workload) + "/instances/" + strconv.Itoa(st.Index) + "/status"
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		switch {
		case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrStale, bytes.TrimSpace(msg))
		}
		return fmt.Errorf("PUT %s: %s: %s", u, resp.Status, bytes.TrimSpace(msg))
	}
}
