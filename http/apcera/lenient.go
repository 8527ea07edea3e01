package apcera

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"cairn/http/httpx"
)

// The seed's request bodies are what APC sent, copied into a web page by
// hand; a few are not quite JSON: a trailing comma before a closing brace
// (the scale-to-five recipe's bindings, the update recipe's last member),
// a comma missing between two members (the policy recipe's "olddoc").
// Every recipe must work as written, so bodies are read leniently: when a
// body is not valid JSON, exactly those two slips are repaired (the
// trailing comma dropped, the missing one added) and the result must then
// be valid JSON; anything else is still a 400.

// repairJSON drops commas right before a closing brace or bracket and
// adds the comma missing between a value and the next one.
func repairJSON(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	inString, escaped := false, false
	lastComma := -1   // index in out of a comma not yet followed by anything
	valueEnd := false // the last significant byte ended a value
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString, valueEnd = false, true
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			out = append(out, c)
			continue
		case '}', ']':
			if lastComma >= 0 {
				out = append(out[:lastComma], out[lastComma+1:]...)
			}
			out = append(out, c)
			lastComma, valueEnd = -1, true
			continue
		case ',':
			lastComma, valueEnd = len(out), false
			out = append(out, c)
			continue
		case ':':
			lastComma, valueEnd = -1, false
			out = append(out, c)
			continue
		}
		// The start of a value or a literal's next byte.
		startsValue := c == '"' || c == '{' || c == '['
		if valueEnd && startsValue {
			out = append(out, ',')
		}
		lastComma = -1
		out = append(out, c)
		switch {
		case c == '"':
			inString, valueEnd = true, false
		case c == '{' || c == '[':
			valueEnd = false
		default: // number or literal byte
			valueEnd = true
		}
	}
	return out
}

// readBody reads a JSON request body leniently (see above) into v.
func readBody(r *http.Request, v any) error {
	raw, err := httpx.ReadBody(r)
	if err != nil {
		return err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return badRequest("the request needs a JSON body")
	}
	if !json.Valid(raw) {
		fixed := repairJSON(raw)
		if !json.Valid(fixed) {
			var probe any
			err := json.Unmarshal(raw, &probe)
			return fmt.Errorf("%w: %v", httpx.ErrBadJSON, err)
		}
		raw = fixed
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the object this call takes: %v", err)
	}
	return nil
}
