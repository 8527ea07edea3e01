package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"cairn/node"

	"gopkg.in/yaml.v3"
)

// The agent's config file (-config) is YAML: one mapping whose keys are
// the agent's flag names without the dash, with the values the flags take
// (a list for -join and -retry-join). YAML because gopkg.in/yaml.v3, which
// the build has already, reports the line of every key and value, so a
// mistake is refused naming the file, the line and the key. Flags and
// CAIRN_* variables win over the file; see applySettings.

// settingSource is a place settings come from besides the command line:
// the environment, or the -config file.
type settingSource struct {
	// lookup returns the value the source gives a flag, if any.
	lookup func(flagName string) (string, bool)
	// origin names where the value came from, for errors
	// (CAIRN_NODE_ID="x", or /etc/cairn/cairn.yaml:3: key node-id).
	origin func(flagName, value string) string
}

// applySettings sets every flag not set yet (on the command line, or by a
// source applied before) from src. Sources are applied in precedence
// order, so the first that names a flag wins; origins records where each
// value came from.
func applySettings(fs *flag.FlagSet, src settingSource, origins settingOrigins) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v, ok := src.lookup(f.Name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: invalid value %q: %w (-%s: %s)", src.origin(f.Name, v), v, e, f.Name, f.Usage)
				return
			}
			origins[f.Name] = src.origin(f.Name, v)
		}
	})
	return err
}

// settingOrigins records, by flag name, where the settings not given on
// the command line came from.
type settingOrigins map[string]string

// annotate adds to a validation error (which starts with the flag's name,
// "-max-body-bytes must be ...") where that setting came from, when it was
// not the command line.
func (o settingOrigins) annotate(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "-") {
		return err
	}
	name, _, _ := strings.Cut(msg[1:], " ")
	name = strings.TrimRight(name, ":")
	if origin, ok := o[name]; ok {
		return fmt.Errorf("%s: %w", origin, err)
	}
	return err
}

// configFile is a parsed -config file: each key's value and line.
type configFile struct {
	path   string
	values map[string]configValue
}

type configValue struct {
	value string
	line  int
}

// listKeys take a YAML list as well as a comma-separated string.
var listKeys = map[string]bool{"join": true, "retry-join": true}

// fileOnlyNot are flags that have no meaning in the file itself.
var fileOnlyNot = map[string]bool{"config": true, "config-check": true}

// readConfigFile reads and checks path against fs's flags: an unknown key,
// a key given twice, or a value that is not a single scalar (a list, for
// listKeys) is refused naming the file, the line and the key. The values'
// own syntax is checked when applySettings sets them.
func readConfigFile(path string, fs *flag.FlagSet) (*configFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	cf := &configFile{path: path, values: map[string]configValue{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cf, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:%d: only one YAML document is read; remove the others (---)", path, more.Line)
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return cf, nil // comments only
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the file must be a mapping of settings (key: value), one per line", path, top.Line)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		key := k.Value
		at := fmt.Sprintf("%s:%d: key %s", path, k.Line, key)
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: a key must be a flag's name", path, k.Line)
		}
		if fs.Lookup(key) == nil || fileOnlyNot[key] {
			return nil, fmt.Errorf("%s: unknown key%s", at, suggestKey(key, fs))
		}
		if prev, dup := cf.values[key]; dup {
			return nil, fmt.Errorf("%s: given twice (first on line %d)", at, prev.line)
		}
		val, err := scalarValue(v, listKeys[key])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %s: %v", path, v.Line, key, err)
		}
		cf.values[key] = configValue{value: val, line: v.Line}
	}
	return cf, nil
}

// scalarValue returns a value node's text: a scalar as written (null is
// empty), a list of scalars joined with commas when list is set.
func scalarValue(v *yaml.Node, list bool) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case yaml.SequenceNode:
		if !list {
			return "", errors.New("takes one value, not a list")
		}
		parts := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return "", errors.New("a list of addresses (host:port), one per item")
			}
			parts = append(parts, e.Value)
		}
		return strings.Join(parts, ","), nil
	case yaml.AliasNode:
		return scalarValue(v.Alias, list)
	}
	return "", errors.New("takes a single value, not a mapping")
}

// suggestKey names the flag a mistyped key probably meant.
func suggestKey(key string, fs *flag.FlagSet) string {
	try := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(strings.TrimLeft(key, "-")))
	if f := fs.Lookup(try); f != nil && !fileOnlyNot[try] {
		return fmt.Sprintf(" (did you mean %s?)", try)
	}
	return " (keys are cairn agent's flag names without the dash, e.g. http-addr; cairn agent -h lists them)"
}

// source is the file as a settingSource.
func (cf *configFile) source() settingSource {
	return settingSource{
		lookup: func(flagName string) (string, bool) {
			v, ok := cf.values[flagName]
			return v.value, ok
		},
		origin: func(flagName, _ string) string {
			return fmt.Sprintf("%s:%d: key %s", cf.path, cf.values[flagName].line, flagName)
		},
	}
}

// checkConfig is -config-check: the settings parsed and passed every check
// of parseAgentFlags; the node id, otherwise checked at start, is checked
// here too. Nothing is opened or bound.
func checkConfig(f *agentFlags, out io.Writer) error {
	if f.nodeID != "" {
		if err := node.ValidNodeID(f.nodeID); err != nil {
			return fmt.Errorf("-node-id: %w", err)
		}
	}
	src := "flags and environment"
	if f.configPath != "" {
		src = "flags, environment and " + f.configPath
	}
	fmt.Fprintf(out, "cairn agent: the settings (%s) are valid\n", src)
	return nil
}
