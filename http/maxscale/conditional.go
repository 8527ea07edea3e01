package maxscale

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HTTP semantics MaxScale 6.4's REST API adds to every GET (resource.cc,
// httpresponse.cc): Last-Modified, conditional requests, sparse fieldsets
// and pagination.

// errPrecondition means an If-Match or If-Unmodified-Since did not hold:
// 412, with no change made.
var errPrecondition = errors.New("precondition failed")

// etagOf is the ETag of a document: the quoted SHA-1 of its compact JSON,
// as MaxScale's.
func etagOf(b []byte) string {
	sum := sha1.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// lastModifiedOf is the time a document's objects last changed: the
// newest of their updates (the zone's clock when the write was proposed).
func lastModifiedOf(objs ...*object) time.Time {
	var t time.Time
	for _, o := range objs {
		if o != nil && o.updated.After(t) {
			t = o.updated
		}
	}
	return t
}

// httpTime parses an HTTP date header; ok is false when it is absent or
// malformed (then the condition is ignored, as RFC 9110 says).
func httpTime(h string) (time.Time, bool) {
	if h == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(h)
	return t, err == nil
}

// modifiedAfter compares at the second granularity HTTP dates have.
func modifiedAfter(mod, since time.Time) bool {
	return mod.Truncate(time.Second).After(since)
}

// checkPreconditions applies If-Match and If-Unmodified-Since to the
// current state of what a request reads or changes: etag is the ETag its
// GET would carry, mod when it last changed.
func checkPreconditions(r *http.Request, etag string, mod time.Time) error {
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && !etagListHas(im, etag) {
		return errPrecondition
	}
	if t, ok := httpTime(r.Header.Get("If-Unmodified-Since")); ok && !mod.IsZero() && modifiedAfter(mod, t) {
		return errPrecondition
	}
	return nil
}

func etagListHas(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
		if e == etag {
			return true
		}
	}
	return false
}

// checkWrite applies a write's preconditions against o as it stands in
// this transaction: the ETag of the GET of the same path, and o's last
// change. Run inside the transaction, so the check and the write see one
// state (the command carries o's version as a precondition).
func checkWrite(t *txn, r *http.Request, o *object) error {
	if r.Header.Get("If-Match") == "" && r.Header.Get("If-Unmodified-Since") == "" {
		return nil
	}
	base := baseURL(r)
	var doc any
	if i := strings.Index(r.URL.Path, "/relationships/"); i >= 0 {
		rel := strings.Trim(r.URL.Path[i+len("/relationships/"):], "/")
		d, err := relationshipDoc(t, base, o, rel)
		if err != nil {
			return err
		}
		doc = d
	} else {
		ro, err := render(t, base, o)
		if err != nil {
			return err
		}
		doc = document{Links: links{Self: ro.Links.Self}, Data: ro}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return checkPreconditions(r, etagOf(b), lastModifiedOf(o))
}

// shape applies the query's sparse fieldsets and pagination to a
// document, as MaxScale does to every GET: fields[TYPE]=a/b,c keeps, in
// each resource object of that type, only those attributes (paths split
// by '/') and relationships; page[size]=N&page[number]=K (from 0) keeps
// one page of a collection and adds links self, first, last, next, prev
// and meta.total.
func shape(r *http.Request, b []byte) []byte {
	q := r.URL.Query()
	fields := map[string][]string{}
	for k, v := range q {
		if strings.HasPrefix(k, "fields[") && strings.HasSuffix(k, "]") && len(v) > 0 {
			var fs []string
			for _, f := range strings.Split(v[len(v)-1], ",") {
				if f = strings.TrimSpace(f); f != "" {
					fs = append(fs, f)
				}
			}
			if len(fs) > 0 {
				fields[k[len("fields["):len(k)-1]] = fs
			}
		}
	}
	size, _ := strconv.ParseInt(q.Get("page[size]"), 10, 64)
	number := int64(0)
	if s := q.Get("page[number]"); s != "" {
		number, _ = strconv.ParseInt(s, 10, 64)
	}
	paginate := size > 0 && number >= 0
	if len(fields) == 0 && !paginate {
		return b
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc map[string]any
	if d.Decode(&doc) != nil {
		return b
	}
	if len(fields) > 0 {
		switch data := doc["data"].(type) {
		case []any:
			for _, o := range data {
				keepFields(o, fields)
			}
		case map[string]any:
			keepFields(data, fields)
		}
	}
	if data, ok := doc["data"].([]any); ok && paginate {
		total := int64(len(data))
		if total > size {
			var page []any
			for i := number * size; i < (number+1)*size && i < total; i++ {
				page = append(page, data[i])
			}
			if page == nil {
				page = []any{}
			}
			doc["data"] = page
		}
		if l, ok := doc["links"].(map[string]any); ok {
			if self, ok := l["self"].(string); ok {
				base := self + "?page%5Bsize%5D=" + strconv.FormatInt(size, 10) + "&page%5Bnumber%5D="
				l["self"] = base + strconv.FormatInt(number, 10)
				l["first"] = base + "0"
				l["last"] = base + strconv.FormatInt(max((total+size-1)/size-1, 0), 10)
				if (number+1)*size < total {
					l["next"] = base + strconv.FormatInt(number+1, 10)
				}
				if number > 0 && number*size < total {
					l["prev"] = base + strconv.FormatInt(number-1, 10)
				}
			}
		}
		meta, _ := doc["meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["total"] = total
		doc["meta"] = meta
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return b
	}
	return out
}

// keepFields applies fields to one resource object (remove_fields_from_resource).
func keepFields(obj any, fields map[string][]string) {
	o, ok := obj.(map[string]any)
	if !ok {
		return
	}
	typ, _ := o["type"].(string)
	fs, ok := fields[typ]
	if !ok {
		return
	}
	sort.Strings(fs)
	for _, member := range []string{"attributes", "relationships"} {
		src, ok := o[member].(map[string]any)
		if !ok {
			continue
		}
		kept := map[string]any{}
		for _, f := range fs {
			mergeInto(kept, pick(src, strings.Split(f, "/")))
		}
		if len(kept) == 0 {
			delete(o, member)
		} else {
			o[member] = kept
		}
	}
}

// pick returns the part of src that path names, nested as in src; nil if
// src has no such member.
func pick(src map[string]any, path []string) map[string]any {
	if len(path) == 0 {
		return src
	}
	v, ok := src[path[0]]
	if !ok {
		return nil
	}
	if len(path) == 1 {
		return map[string]any{path[0]: v}
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if p := pick(sub, path[1:]); p != nil {
		return map[string]any{path[0]: p}
	}
	return nil
}

// mergeInto merges src into dst recursively (json_object_update_recursive).
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// relLinks are the links of relationship rel of the object at self, as
// MaxScale 6.4 gives them: self the relationship's own URL, related the
// collection of the related type.
func relLinks(base, objSelf, rel string) links {
	return links{Self: objSelf + "/relationships/" + rel + "/", Related: base + "/" + rel + "/"}
}
