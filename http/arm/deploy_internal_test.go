package arm

import "testing"

func Test_Aggregate(t *testing.T) {
	cases := []struct {
		desired  string
		statuses []string
		want     string
	}{
		{desiredStarted, nil, reportedStarting},
		{desiredStopped, nil, reportedStopped},
		{desiredStarted, []string{reportedStarted, reportedStarted}, reportedStarted},
		{desiredStarted, []string{reportedStarted, reportedNoServer}, reportedStarted},
		{desiredStarted, []string{reportedStarted, reportedStarting}, reportedStarting},
		{desiredStarted, []string{reportedStarted, reportedFailed}, reportedFailed},
		{desiredStarted, []string{reportedNoServer}, reportedNoServer},
		{desiredStopped, []string{reportedStopped, reportedStopping}, reportedStopping},
		{desiredStopped, []string{reportedStopped, reportedStopped}, reportedStopped},
	}
	for _, c := range cases {
		msgs := make([]string, len(c.statuses))
		for i, s := range c.statuses {
			if s == reportedFailed {
				msgs[i] = "why"
			}
		}
		got, msg := aggregate(c.desired, c.statuses, msgs)
		if got != c.want || (got == reportedFailed && msg != "why") {
			t.Errorf("aggregate(%s, %v) = %s %q, want %s", c.desired, c.statuses, got, msg, c.want)
		}
	}
}
