package mrf

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SCAContributionPath is where a Fabric3 contribution names its
// deployable composites (SCA 1.1 assembly: <contribution> with
// <deployable composite="prefix:Name"/>). Each composite is a *.composite
// file of the archive (<composite name="..." targetNamespace="...">) whose
// <component name="..."> elements, with those of the composites it
// <include>s, are the components a deployment of it runs.
//
// Elements are matched by local name, whatever their namespace (SCA 1.1's
// http://docs.oasis-open.org/ns/opencsa/sca/200912, or Fabric3's own).
const SCAContributionPath = "META-INF/sca-contribution.xml"

// maxSCAFileBytes bounds one SCA XML file read out of an archive, and
// maxSCAFiles how many composites one archive may hold.
const (
	maxSCAFileBytes = 1 << 20
	maxSCAFiles     = 1000
)

// composite is one parsed *.composite file.
type composite struct {
	file       string
	qname      string // {targetNamespace}name
	components []string
	includes   []string // qnames
}

// readSCA reads the SCA view of an archive: the deployables
// META-INF/sca-contribution.xml names and the components of those
// composites. ok is false when the archive has no sca-contribution.xml
// (it is not a Fabric3 contribution, or declares nothing to deploy).
// Whatever is wrong is gathered per artifact in ve.
func readSCA(zr *zip.Reader, ve *validationError) (deployables, components []string, ok bool) {
	var manifest *zip.File
	var files []*zip.File
	for _, f := range zr.File {
		switch {
		case f.Name == SCAContributionPath:
			manifest = f
		case strings.HasSuffix(f.Name, ".composite") && !strings.HasSuffix(f.Name, "/"):
			files = append(files, f)
		}
	}
	if manifest == nil {
		return nil, nil, false
	}
	deployables, err := readSCAContribution(manifest)
	if err != nil {
		ve.add(SCAContributionPath, err.Error())
		return nil, nil, true
	}
	if len(files) > maxSCAFiles {
		ve.add(SCAContributionPath, fmt.Sprintf("the archive holds %d composites, over the %d Cairn reads", len(files), maxSCAFiles))
		return nil, nil, true
	}
	byName := map[string]*composite{}
	for _, f := range files {
		c, err := readComposite(f)
		if err != nil {
			ve.add(f.Name, err.Error())
			continue
		}
		if other := byName[c.qname]; other != nil {
			ve.add(f.Name, fmt.Sprintf("composite %s is also declared in %s", c.qname, other.file))
			continue
		}
		byName[c.qname] = c
	}
	seen := map[string]string{} // lower-cased component name → composite
	for i, d := range deployables {
		c := byName[d]
		if c == nil {
			// An unprefixed name resolves to the default namespace, which
			// in sca-contribution.xml is usually SCA's own: accept the
			// one composite of that local name, if there is just one.
			c = byLocalName(byName, d)
			if c != nil {
				deployables[i] = c.qname
			}
		}
		if c == nil {
			ve.add(SCAContributionPath, fmt.Sprintf("Composite not found: deployable %s is not a composite of the contribution", d))
			continue
		}
		for _, name := range componentsOf(c, byName, map[string]bool{}, ve) {
			if where, dup := seen[strings.ToLower(name)]; dup {
				ve.add(c.file, fmt.Sprintf("component %s is declared in deployable %s and in %s: a domain runs one component of a name", name, d, where))
				continue
			}
			seen[strings.ToLower(name)] = d
			components = append(components, name)
		}
	}
	return deployables, components, true
}

// byLocalName returns the only composite whose local name is qname's,
// or nil.
func byLocalName(byName map[string]*composite, qname string) *composite {
	local := qname[strings.LastIndex(qname, "}")+1:]
	var found *composite
	for q, c := range byName {
		if q[strings.LastIndex(q, "}")+1:] == local {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// componentsOf returns the components of c and of the composites it
// includes (SCA 1.1 §5.6: an include merges the included composite's
// contents into the including one).
func componentsOf(c *composite, byName map[string]*composite, visiting map[string]bool, ve *validationError) []string {
	if visiting[c.qname] {
		ve.add(c.file, fmt.Sprintf("composite %s includes itself", c.qname))
		return nil
	}
	visiting[c.qname] = true
	defer delete(visiting, c.qname)
	out := append([]string{}, c.components...)
	for _, inc := range c.includes {
		ic := byName[inc]
		if ic == nil {
			ve.add(c.file, fmt.Sprintf("included composite %s is not a composite of the contribution", inc))
			continue
		}
		out = append(out, componentsOf(ic, byName, visiting, ve)...)
	}
	return out
}

// xmlScope resolves QName prefixes (in attribute values such as
// composite="calc:Calculator") against the namespace declarations in
// scope.
type xmlScope []map[string]string

func (s *xmlScope) push(attrs []xml.Attr) {
	m := map[string]string{}
	for _, a := range attrs {
		switch {
		case a.Name.Space == "xmlns":
			m[a.Name.Local] = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			m[""] = a.Value
		}
	}
	*s = append(*s, m)
}

func (s *xmlScope) pop() { *s = (*s)[:len(*s)-1] }

// qname turns prefix:local into {namespace}local; an unprefixed name
// takes the default namespace, as Fabric3's QName parsing does.
func (s xmlScope) qname(v string) (string, error) {
	v = strings.TrimSpace(v)
	prefix, local, found := strings.Cut(v, ":")
	if !found {
		prefix, local = "", v
	}
	if local == "" {
		return "", fmt.Errorf("%q is not a qualified name", v)
	}
	for i := len(s) - 1; i >= 0; i-- {
		if ns, ok := s[i][prefix]; ok {
			return "{" + ns + "}" + local, nil
		}
	}
	if prefix != "" {
		return "", fmt.Errorf("the prefix of %q is not declared", v)
	}
	return local, nil
}

// scaDecoder is a bounded XML decoder of an archive entry. Entities
// beyond XML's own are refused (Strict), so nothing expands.
func scaDecoder(f *zip.File) (*xml.Decoder, io.Closer, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open it: %v", err)
	}
	d := xml.NewDecoder(io.LimitReader(rc, maxSCAFileBytes))
	d.Strict = true
	return d, rc, nil
}

// xmlErr words a decoding error, naming the bound when it was hit.
func xmlErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("it is not well-formed XML or is over %d bytes", maxSCAFileBytes)
	}
	return fmt.Errorf("it is not well-formed XML: %v", err)
}

// readSCAContribution returns the deployables sca-contribution.xml names,
// as {namespace}name.
func readSCAContribution(f *zip.File) ([]string, error) {
	d, c, err := scaDecoder(f)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var scope xmlScope
	var out []string
	depth := 0
	rootSeen := false
	for {
		tok, err := d.RawToken()
		if err == io.EOF && rootSeen && depth == 0 {
			return out, nil
		}
		if err != nil {
			return nil, xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			scope.push(t.Attr)
			if depth == 0 {
				if t.Name.Local != "contribution" || rootSeen {
					return nil, fmt.Errorf("its root element is <%s>, not an SCA <contribution>", t.Name.Local)
				}
				rootSeen = true
			}
			depth++
			if depth == 2 && t.Name.Local == "deployable" {
				v, ok := attr(t, "composite")
				if !ok {
					return nil, errors.New("a <deployable> has no composite attribute")
				}
				q, err := scope.qname(v)
				if err != nil {
					return nil, fmt.Errorf("deployable: %v", err)
				}
				out = append(out, q)
			}
		case xml.EndElement:
			scope.pop()
			depth--
		}
	}
}

// readComposite reads a composite's name and its top-level components
// and includes. A component's own children (an implementation.composite,
// say) are not components of the domain composite.
func readComposite(f *zip.File) (*composite, error) {
	d, c, err := scaDecoder(f)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var scope xmlScope
	out := &composite{file: f.Name}
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF && out.qname != "" && depth == 0 {
			return out, nil
		}
		if err != nil {
			return nil, xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			scope.push(t.Attr)
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "composite" || out.qname != "" {
					return nil, fmt.Errorf("its root element is <%s>, not an SCA <composite>", t.Name.Local)
				}
				name, ok := attr(t, "name")
				if !ok || checkName(name) != nil {
					return nil, errors.New("the <composite> has no valid name attribute")
				}
				ns, _ := attr(t, "targetNamespace")
				out.qname = name
				if ns != "" {
					out.qname = "{" + ns + "}" + name
				}
			case depth == 2 && t.Name.Local == "component":
				name, ok := attr(t, "name")
				if !ok {
					return nil, errors.New("a <component> has no name attribute")
				}
				if err := checkComponentName(name); err != nil {
					return nil, fmt.Errorf("component %q: %v", name, err)
				}
				out.components = append(out.components, name)
			case depth == 2 && t.Name.Local == "include":
				v, ok := attr(t, "name")
				if !ok {
					return nil, errors.New("an <include> has no name attribute")
				}
				q, err := scope.qname(v)
				if err != nil {
					return nil, fmt.Errorf("include: %v", err)
				}
				out.includes = append(out.includes, q)
			}
		case xml.EndElement:
			scope.pop()
			depth--
		}
	}
}

// attr returns the value of the unprefixed attribute name of t.
func attr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// mergeNames appends to base the names of more not already in it
// (case-insensitively), keeping base's order.
func mergeNames(base, more []string) []string {
	seen := map[string]bool{}
	for _, n := range base {
		seen[strings.ToLower(n)] = true
	}
	for _, n := range more {
		if !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			base = append(base, n)
		}
	}
	return base
}
