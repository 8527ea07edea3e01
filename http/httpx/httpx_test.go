package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cairn/http/httpx"
)

func Test_CheckJSON_Valid_Compacted(t *testing.T) {
	for in, want := range map[string]string{
		`{"a" : [ 1 , 2 ] }`:            `{"a":[1,2]}`,
		" \n\t{\"a\":\n\"b c\"}\r\n ":   `{"a":"b c"}`,
		`null`:                          `null`,
		`"<&>"`:                         `"<&>"`,
		`  42  `:                        `42`,
		`[]`:                            `[]`,
		`{"nested":{"x":[{"y":null}]}}`: `{"nested":{"x":[{"y":null}]}}`,
		`{"u":"\u00e9\n"}`:              `{"u":"\u00e9\n"}`,
	} {
		got, err := httpx.CheckJSON([]byte(in))
		if err != nil {
			t.Errorf("CheckJSON(%q): %v", in, err)
			continue
		}
		if string(got) != want {
			t.Errorf("CheckJSON(%q) = %q, want %q", in, got, want)
		}
	}
}

// The offset is encoding/json's: the number of bytes read when the fault
// was found, i.e. the 1-based position of the offending byte.
func Test_CheckJSON_SyntaxError_NamesOffset(t *testing.T) {
	for in, offset := range map[string]string{
		`{"a": 1,}`:          "offset 9",
		`{"a": tru}`:         "offset 10",
		`[1, 2`:              "offset 5",
		"\xff":               "offset 1",
		`{"a":1}{"b":2}`:     "offset 8", // two values
		`{"a":1} trailing`:   "offset 9", // trailing garbage
		`{"a":1}   ,`:        "offset 11",
		`   `:                "offset 3", // whitespace only
		`{"a":"unterminated`: "offset 18",
	} {
		_, err := httpx.CheckJSON([]byte(in))
		if !errors.Is(err, httpx.ErrBadJSON) {
			t.Errorf("CheckJSON(%q) = %v, want ErrBadJSON", in, err)
			continue
		}
		if !strings.Contains(err.Error(), offset) {
			t.Errorf("CheckJSON(%q) = %q, want it to name %s", in, err, offset)
		}
	}
}

func Test_CheckJSON_Empty_SaysEmpty(t *testing.T) {
	for _, in := range [][]byte{nil, {}} {
		_, err := httpx.CheckJSON(in)
		if !errors.Is(err, httpx.ErrBadJSON) || !strings.Contains(err.Error(), "empty") {
			t.Errorf("CheckJSON(%q) = %v, want ErrBadJSON saying empty", in, err)
		}
	}
}

// requestWithLimit is a request whose body is wrapped as the server's
// middleware wraps it.
func requestWithLimit(body string, limit int64) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "/x", strings.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
	return r
}

func Test_ReadBody_OverLimit_ErrBodyTooLarge(t *testing.T) {
	_, err := httpx.ReadBody(requestWithLimit(strings.Repeat("x", 11), 10))
	if !errors.Is(err, httpx.ErrBodyTooLarge) || !strings.Contains(err.Error(), "10 bytes") {
		t.Fatalf("err = %v, want ErrBodyTooLarge naming the limit", err)
	}
	_, err = httpx.ReadJSON(requestWithLimit(`{"a":"`+strings.Repeat("x", 20)+`"}`, 10))
	if !errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Fatalf("ReadJSON err = %v, want ErrBodyTooLarge", err)
	}
}

func Test_ReadBody_AtLimit_OK(t *testing.T) {
	b, err := httpx.ReadBody(requestWithLimit("0123456789", 10))
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("ReadBody = %q, %v", b, err)
	}
	raw, err := httpx.ReadJSON(requestWithLimit(`{ "a" : 1 }`, 11))
	if err != nil || string(raw) != `{"a":1}` {
		t.Fatalf("ReadJSON = %q, %v", raw, err)
	}
}

func Test_ReadBody_NoBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPut, "/x", nil)
	r.Body = nil
	if b, err := httpx.ReadBody(r); b != nil || err != nil {
		t.Errorf("ReadBody(no body) = %q, %v", b, err)
	}
	if _, err := httpx.ReadJSON(r); !errors.Is(err, httpx.ErrBadJSON) {
		t.Errorf("ReadJSON(no body) = %v, want ErrBadJSON", err)
	}
}

// A body held in memory and not yet read is taken as it is (the same
// bytes, no copy), and is then read to its end; one partly read gives the
// rest, as any body does.
func Test_ReadBody_MemoryBody_TakenWholeUnlessPartlyRead(t *testing.T) {
	b := []byte(`{"v":1}`)
	r := httptest.NewRequest(http.MethodPut, "/x", nil)
	m := httpx.NewMemoryBody(b)
	r.Body = m
	got, err := httpx.ReadBody(r)
	if err != nil || string(got) != string(b) || &got[0] != &b[0] {
		t.Fatalf("ReadBody = %q, %v; want the body's own bytes", got, err)
	}
	if m.Unread() {
		t.Error("still unread after ReadBody")
	}
	if n, err := m.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read after ReadBody = %d, %v; want 0, EOF", n, err)
	}

	m = httpx.NewMemoryBody(b)
	r.Body = m
	if _, err := m.Read(make([]byte, 2)); err != nil || m.Unread() {
		t.Fatalf("first Read: %v, unread %v", err, m.Unread())
	}
	if got, err := httpx.ReadBody(r); err != nil || string(got) != `v":1}` {
		t.Errorf("ReadBody after 2 bytes = %q, %v; want the rest", got, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func Test_ReadBody_ReadError_Wrapped(t *testing.T) {
	r := httptest.NewRequest(http.MethodPut, "/x", failingReader{})
	_, err := httpx.ReadBody(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, httpx.ErrBrokenBody) || errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Errorf("err = %v, want ErrBrokenBody wrapping the read error", err)
	}
}

func Test_WriteJSON_StatusTypeNewline(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"a": 1, "b": "<x>"})
	if w.Code != http.StatusCreated {
		t.Errorf("status %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	if !strings.HasSuffix(body, "}\n") {
		t.Errorf("body %q does not end in a newline", body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["b"] != "<x>" {
		t.Errorf("body %q: %v", body, err)
	}
}

// badMarshaler fails to encode with a message that needs escaping in JSON.
type badMarshaler struct{}

func (badMarshaler) MarshalJSON() ([]byte, error) {
	return nil, errors.New(`field "x" is "bad"`)
}

func Test_WriteJSON_Unencodable_500JSON(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSON(w, http.StatusOK, badMarshaler{})
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("500 body %q is not JSON: %v", w.Body, err)
	}
	if e.Code != 500 || !strings.Contains(e.Error, `"bad"`) {
		t.Errorf("500 body = %+v", e)
	}
}
