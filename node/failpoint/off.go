//go:build !failpoints

package failpoint

import "net/http"

// Enabled reports whether this binary was built with failpoints.
const Enabled = false

// Inject does nothing: this build has no failpoints.
func Inject(string) {}

// InjectError does nothing and returns nil: this build has no failpoints.
func InjectError(string) error { return nil }

// Handler is nil: this build serves no arming endpoint.
func Handler() http.Handler { return nil }

// ArmFromEnv does nothing: this build has no failpoints.
func ArmFromEnv() error { return nil }
