package fsm

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxIDBytes bounds a resource id's length.
const MaxIDBytes = 512

// ValidateKind checks a kind name: a lower-case letter, then up to 63 lower-case
// letters, digits, '.', '_' or '-' ("arm.server", "maxscale.server").
func ValidateKind(kind string) error {
	if kind == "" || len(kind) > 64 {
		return fmt.Errorf("%w: kind must be 1 to 64 characters", ErrInvalid)
	}
	for i, r := range kind {
		ok := r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		if !ok {
			return fmt.Errorf("%w: kind %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter", ErrInvalid, kind)
		}
	}
	return nil
}

// ValidateID checks a resource id: 1 to MaxIDBytes bytes of UTF-8 without
// control characters.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDBytes {
		return fmt.Errorf("%w: id must be 1 to %d bytes", ErrInvalid, MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: id is not valid UTF-8", ErrInvalid)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: id %q contains a control character", ErrInvalid, id)
		}
	}
	return nil
}
