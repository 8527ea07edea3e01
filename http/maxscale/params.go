package maxscale

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checkParams validates params against the parameter sets specs (the
// object's own, then its module's) and normalises each value in place to
// the form MaxScale 6.4 shows it: counts and sizes as numbers, booleans
// as booleans, durations as "<n>ms". who prefixes messages, as MaxScale
// prefixes them with the module ("readwritesplit: The parameter 'x' is
// unrecognized."). keys are the parameters to check (nil: all of them):
// a PATCH checks those it changes, so a value stored before a rule existed
// does not block every later change. Mandatory parameters must be there.
func checkParams(who string, params map[string]any, keys []string, specs ...[]param) error {
	names := keys
	if names == nil {
		for k := range params {
			names = append(names, k)
		}
	}
	names = slices.Clone(names)
	sort.Strings(names)
	for _, k := range names {
		if strings.TrimSpace(k) == "" {
			return refuse(who + ": A parameter name cannot be empty")
		}
		p, ok := lookupParam(k, specs...)
		if !ok && relationParams[k] {
			return refuse(fmt.Sprintf("%s: '%s' is kept as a relationship here, not as a parameter: change the '%s' relationship (maxctrl link/unlink)", who, k, relationOf(k)))
		}
		if !ok {
			return refuse(fmt.Sprintf("%s: The parameter '%s' is unrecognized.", who, k))
		}
		cur, present := params[k]
		if !present || cur == nil {
			delete(params, k)
			continue
		}
		v, err := normalise(p, cur)
		if err != nil {
			return refuse(fmt.Sprintf("%s: Invalid value for parameter '%s': %s", who, k, err))
		}
		params[k] = v
	}
	for _, set := range specs {
		for _, p := range set {
			if _, ok := params[p.Name]; p.Mandatory && !ok {
				return refuse(fmt.Sprintf("%s: The mandatory parameter '%s' is not provided.", who, p.Name))
			}
		}
	}
	return nil
}

// relationParams are the parameters MaxScale's configuration files use for
// what its API (and Cairn) keeps as relationships.
var relationParams = map[string]bool{"servers": true, "targets": true, "cluster": true, "filters": true}

func relationOf(p string) string {
	switch p {
	case "targets":
		return "servers' or 'services"
	case "cluster":
		return "monitors"
	}
	return p
}

// checkStatic refuses a change of a parameter that cannot change at run
// time, with MaxScale's message.
func checkStatic(who string, old, changed map[string]any, specs ...[]param) error {
	for k, v := range changed {
		p, ok := lookupParam(k, specs...)
		if ok && p.Static && str(old[k]) != str(v) {
			return refuse(fmt.Sprintf("%s: Parameter '%s' cannot be modified at runtime", who, k))
		}
	}
	return nil
}

func lookupParam(name string, specs ...[]param) (param, bool) {
	for _, set := range specs {
		for _, p := range set {
			if p.matches(name) {
				return p, true
			}
		}
	}
	return param{}, false
}

// jsonType names v's JSON type for messages, as MaxScale does.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, int:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "null"
}

// normalise checks v against p and returns it in its stored form.
func normalise(p param, v any) (any, error) {
	switch p.Type {
	case ptString, ptPassword, ptPath, ptStringList:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("not a string but %s", jsonType(v))
		}
		return s, nil
	case ptBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "yes", "on", "1":
				return true, nil
			case "false", "no", "off", "0":
				return false, nil
			}
		case json.Number:
			switch x.String() {
			case "1":
				return true, nil
			case "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s is not a boolean", str(v))
	case ptCount, ptInt:
		n, ok := integer(v)
		if !ok || (p.Type == ptCount && n < 0) {
			if p.Type == ptCount {
				return nil, fmt.Errorf("%s is not a non-negative integer", str(v))
			}
			return nil, fmt.Errorf("%s is not an integer", str(v))
		}
		return json.Number(strconv.FormatInt(n, 10)), nil
	case ptSize:
		n, ok := size(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a size (a number of bytes, optionally with a suffix such as 10M or 1Gi)", str(v))
		}
		return json.Number(strconv.FormatInt(n, 10)), nil
	case ptDuration:
		d, ok := duration(v, p.Unit)
		if !ok || (d < 0 && !strings.HasPrefix(fmt.Sprint(p.Default), "-")) {
			return nil, fmt.Errorf("%s is not a duration (a number, or one with a unit: h, m, s or ms)", str(v))
		}
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms", nil
	case ptEnum:
		s, ok := v.(string)
		if ok {
			for _, e := range p.Enum {
				if strings.EqualFold(e, s) {
					return s, nil
				}
			}
		}
		return nil, fmt.Errorf("%s is not one of %s", str(v), strings.Join(p.Enum, ", "))
	case ptEnumList:
		s, ok := v.(string)
		if ok {
			for _, part := range strings.Split(s, ",") {
				part = strings.TrimSpace(part)
				if part != "" && !slices.ContainsFunc(p.Enum, func(e string) bool { return strings.EqualFold(e, part) }) {
					ok = false
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s is not a comma-separated list of %s", str(v), strings.Join(p.Enum, ", "))
		}
		return s, nil
	}
	return v, nil
}

// integer reads a JSON number or a string of digits.
func integer(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var sizeRe = regexp.MustCompile(`^(\d+)\s*([kKmMgGtT]i?)?$`)

// size reads a size as MaxScale does: bytes, or with a suffix (k, M, G,
// T: powers of 1000; Ki, Mi, Gi, Ti: powers of 1024).
func size(v any) (int64, bool) {
	if n, ok := integer(v); ok {
		return n, n >= 0
	}
	s, ok := v.(string)
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if !ok || m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	mult := int64(1)
	if suf := m[2]; suf != "" {
		base := int64(1000)
		if strings.HasSuffix(suf, "i") {
			base = 1024
		}
		exp := strings.IndexByte("kmgt", strings.ToLower(suf[:1])[0]) + 1
		for range exp {
			mult *= base
		}
	}
	if n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

var durationRe = regexp.MustCompile(`^(-?\d+)(h|m|s|ms)?$`)

// duration reads a duration as MaxScale 6.4 does: a number in unit (each
// parameter says whether a bare number is seconds or milliseconds), or a
// number with one of the suffixes h, m, s, ms.
func duration(v any, unit time.Duration) (time.Duration, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	m := durationRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Hour) || n < -math.MaxInt64/int64(time.Hour) {
		return 0, false
	}
	u := unit
	switch m[2] {
	case "h":
		u = time.Hour
	case "m":
		u = time.Minute
	case "s":
		u = time.Second
	case "ms":
		u = time.Millisecond
	}
	if u == 0 {
		u = time.Millisecond
	}
	return time.Duration(n) * u, true
}

var hostnameRe = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?))*\.?$`)

// validHost reports whether s is an IP address or a hostname, as
// MaxScale's check of a server's address (a path belongs in socket).
func validHost(s string) bool {
	if net.ParseIP(strings.Trim(s, "[]")) != nil {
		return true
	}
	return len(s) <= 253 && hostnameRe.MatchString(s)
}
