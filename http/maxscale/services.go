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
	if findModule("Router", s) == nil {
		return refuse(fmt.Sprintf("Could not create service '%s' with module '%s': there is no router module of that name", o.Name, s))
	}
	o.Router = s
	return checkServiceParameters(o, nil)
}

// checkServiceParameters checks a service's parameters (keys: those a
// PATCH changes; nil: all) against the service's and its router's
// parameters, and refuses a service without the credentials it logs in to
// its servers with: MaxScale requires 'user' and 'password' (maxctrl's
// `create service` says so), and refuses a PATCH that removes them.
func checkServiceParameters(o *object, keys []string) error {
	var own []param
	if m := findModule("Router", o.Router); m != nil {
		own = m.Params
	}
	if err := checkParams(fmt.Sprintf("Service '%s'", o.Name), o.Parameters, keys, serviceParams, own); err != nil {
		return err
	}
	for _, k := range []string{"user", "password"} {
		v, ok := o.Parameters[k]
		s, isStr := v.(string)
		switch {
		case !ok:
			return refuse(fmt.Sprintf("Service '%s' is missing a required parameter: '%s' (define 'user' and 'password' in 'parameters')", o.Name, k))
		case !isStr || (k == "user" && s == ""):
			return refuse(fmt.Sprintf("Service '%s': parameter '%s' must be a string", o.Name, k))
		}
	}
	return nil
}
