package maxscale

import "fmt"

// Filters are recorded as MaxScale records them: a module, its
// parameters (checked against the module's), and the services whose
// filter chains hold them. Cairn routes no SQL, so no filter ever sees a
// query: filter_diagnostics is null.

// newFilter fills a filter being created: its module comes from
// attributes.module or parameters.module and must be a filter module
// Cairn knows.
func newFilter(o *object, attrs inAttributes) error {
	for k, v := range attrs.Parameters {
		if v != nil && k != "module" {
			o.Parameters[k] = v
		}
	}
	module := attrs.Module
	if module == nil {
		module = attrs.Parameters["module"]
	}
	s, ok := module.(string)
	if !ok || s == "" {
		return refuse(fmt.Sprintf("Filter '%s' has no 'module': define 'attributes.module'", o.Name))
	}
	if findModule("Filter", s) == nil {
		return refuse(fmt.Sprintf("Could not create filter '%s' with module '%s': there is no filter module of that name", o.Name, s))
	}
	o.Module = s
	return checkFilterParameters(o, nil)
}

// checkFilterParameters checks a filter's parameters (keys: those a PATCH
// changes; nil: all) against its module's.
func checkFilterParameters(o *object, keys []string) error {
	var own []param
	if m := findModule("Filter", o.Module); m != nil {
		own = m.Params
	}
	return checkParams(fmt.Sprintf("Filter '%s'", o.Name), o.Parameters, keys, own)
}
