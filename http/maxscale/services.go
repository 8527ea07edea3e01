package maxscale

import "fmt"

// newService fills a service being created: its router comes from
// attributes.router or parameters.router.
func newService(o *object, attrs inAttributes) error {
	for k, v := range attrs.Parameters {
		if v != nil && k != "router" {
			o.Parameters[k] = v
		}
	}
	router := attrs.Router
	if router == nil {
		router = attrs.Parameters["router"]
	}
	s, ok := router.(string)
	if !ok || s == "" {
		return refuse(fmt.Sprintf("Service '%s' has no 'router': define 'attributes.router'", o.Name))
	}
	o.Router = s
	return nil
}
