package fsm

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// AppendJSON gives json.Marshal's bytes for every resource the store can
// hold: any kind and id (escaped ones included), zero and non-UTC times,
// and a body in the canonical form prepareBody stores.
func Test_Resource_AppendJSON_SameAsMarshal(t *testing.T) {
	when := time.Date(2026, 12, 2, 13, 4, 5, 123456789, time.FixedZone("x", 3600))
	for _, r := range []Resource{
		{},
		{Kind: "bench", ID: "k000001", Version: 7, CreateIndex: 3, Created: when, Updated: when.UTC(), Body: json.RawMessage(`{"a":1}`)},
		{Kind: "k", ID: `we<ird>&"id\` + "\x01é\u2028", Version: 1 << 63, Body: json.RawMessage(`"x"`)},
		{Kind: "k", ID: "i", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Body: json.RawMessage(`null`)},
	} {
		if r.Body != nil {
			body, _, why := prepareBody(Schema{}, Op{Kind: "k", ID: "i", Body: r.Body})
			if why != "" {
				t.Fatal(why)
			}
			r.Body = body
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
}

func Benchmark_Resource_JSON(b *testing.B) {
	body := make([]byte, 0, 1100)
	body = append(body, `{"data":"`...)
	for range 1000 {
		body = append(body, 'x')
	}
	body = append(body, `"}`...)
	r := &Resource{Kind: "bench", ID: "k000001", Version: 7, CreateIndex: 3, Created: time.Now().UTC(), Updated: time.Now().UTC(), Body: body}
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.AppendJSON(nil)
		}
	})
}

// AppendJSON makes its room once: what it writes for a resource at the
// longest counters and times, and a newline after it (as httpx.WriteJSON
// writes it), fits in the room it makes first.
func Test_Resource_AppendJSON_RoomMadeOnce(t *testing.T) {
	at := time.Date(2026, 12, 3, 23, 59, 59, 123456789, time.FixedZone("", -(9*3600+30*60)))
	r := &Resource{Kind: "kind", ID: "id", Version: math.MaxUint64, CreateIndex: math.MaxUint64, Created: at, Updated: at,
		Body: json.RawMessage(`"` + strings.Repeat("x", 1022) + `"`)}
	b := r.AppendJSON(nil)
	if room := resourceJSONOverhead + len(r.Kind) + len(r.ID) + len(r.Body); len(b)+1 > room {
		t.Errorf("%d bytes and a newline, more than the %d made room for", len(b), room)
	}
	if cap(b) < len(b)+1 {
		t.Errorf("no room left for the newline: len %d, cap %d", len(b), cap(b))
	}
}
