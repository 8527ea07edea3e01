package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"cairn/http/httpx"
)

// flexID is an id in a request body: clients send ids as JSON numbers or
// as strings ("serverIds":["101"], "serverId":"101"; reference section B).
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s is not a server id (a positive number)", b)
	}
	*f = flexID(n)
	return nil
}

// flexBool is a boolean in a request body: a JSON boolean or the strings
// "true" and "false", as the seed sends multicastEnabled.
type flexBool struct {
	set, value bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(b), `"`)) {
	case "true":
		*f = flexBool{true, true}
	case "false":
		*f = flexBool{true, false}
	case "null":
		*f = flexBool{}
	default:
		return fmt.Errorf("%s is not a boolean (true, false, \"true\" or \"false\")", b)
	}
	return nil
}

// readBody decodes the request's JSON body into v; a malformed body or a
// field of the wrong type is 400 saying what.
func readBody(r *http.Request, v any) error {
	raw, err := httpx.ReadJSON(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// checkName refuses an empty or overlong name.
func checkName(what, name string) error {
	if strings.TrimSpace(name) == "" {
		return badRequest("a %s needs a name", what)
	}
	if len(name) > 255 || strings.ContainsAny(name, "\x00\n\r") {
		return badRequest("invalid %s name %q: at most 255 bytes, one line", what, name)
	}
	return nil
}
