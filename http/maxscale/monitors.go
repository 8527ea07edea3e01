package maxscale

import "fmt"

// newMonitor fills a monitor being created: its module comes from
// attributes.module or parameters.module. A monitor starts running.
func newMonitor(o *object, attrs inAttributes) error {
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
		return refuse(fmt.Sprintf("Monitor '%s' has no 'module': define 'attributes.module'", o.Name))
	}
	if findModule("Monitor", s) == nil {
		return refuse(fmt.Sprintf("Could not create monitor '%s' with module '%s': there is no monitor module of that name", o.Name, s))
	}
	o.Module = s
	return checkMonitorParameters(o, nil)
}

// checkMonitorParameters checks a monitor's parameters (keys: those a
// PATCH changes; nil: all) against every monitor's and its module's
// (user and password are required), and refuses a monitor_interval the
// monitor could not run at.
func checkMonitorParameters(o *object, keys []string) error {
	var own []param
	if m := findModule("Monitor", o.Module); m != nil {
		own = m.Params
	}
	if err := checkParams(fmt.Sprintf("Monitor '%s'", o.Name), o.Parameters, keys, monitorParams, own); err != nil {
		return err
	}
	if v, ok := o.Parameters["monitor_interval"]; ok {
		if d, ok := parseInterval(v); !ok || d <= 0 {
			return refuse(fmt.Sprintf("Monitor '%s': invalid value for parameter 'monitor_interval': %v (want milliseconds, or a duration such as \"2s\")", o.Name, v))
		}
	}
	return nil
}
