package main

// vCenter's event history collector answers the events of its filter's time window
// (filter.time.beginTime, endTime); govmomi 0.24.2's collector ignores the time (a TODO in
// its eventMatches) and always answers its whole page. This handler, in front of the SDK,
// remembers each collector's window when it is created (CreateCollectorForEvents) and drops
// the events created outside it from what ReadNextEvents and ReadPreviousEvents answer, so
// a reader that asks from the wrong time misses events as it would against vCenter.
//
// vCenter's filter matches an EventEx by its eventTypeId (com.vmware.vc.vm.
// VmStateRevertedToSnapshot), govmomi 0.24.2's only by the Go type's name: a collector whose
// filter names ids that are no vim25 type is created here with EventEx added to its filter,
// and of its EventEx events only those of the ids named are answered.
//
// What stays govmomi's: the manager keeps the newest 1000 events (vCenter keeps
// event.maxAge days), a collector's page is the newest events of its filter, newest first
// (vCenter reads the history oldest first after RewindCollector).

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

var (
	reTypeID    = regexp.MustCompile(`<eventTypeId>([^<]+)</eventTypeId>`)
	reFilterEnd = regexp.MustCompile(`</filter>`)
	reEventEx   = regexp.MustCompile(`(?s)^<returnval\b[^>]*type="EventEx"`)
	reBegin     = regexp.MustCompile(`<beginTime>([^<]+)</beginTime>`)
	reEnd       = regexp.MustCompile(`<endTime>([^<]+)</endTime>`)
	reReturnRef = regexp.MustCompile(`<returnval[^>]*>([^<]+)</returnval>`)
	reThis      = regexp.MustCompile(`<_this[^>]*>([^<]+)</_this>`)
	reEvent     = regexp.MustCompile(`(?s)<returnval\b[^>]*>.*?</returnval>`)
	reCreated   = regexp.MustCompile(`<createdTime>([^<]+)</createdTime>`)
)

// window is a collector's time filter (a zero bound is open) and, when its filter names
// EventEx ids, those ids.
type window struct {
	begin, end time.Time
	exIDs      map[string]bool
}

func (w window) holds(t time.Time) bool {
	return (w.begin.IsZero() || !t.Before(w.begin)) && (w.end.IsZero() || !t.After(w.end))
}

// answers is whether an event of the collector's page is answered: created in its window
// and, an EventEx, of an id its filter names.
func (w window) answers(ev []byte) bool {
	if m := reCreated.FindSubmatch(ev); m != nil {
		if t, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil && !w.holds(t) {
			return false
		}
	}
	if w.exIDs != nil && reEventEx.Match(ev) {
		m := reTypeID.FindSubmatch(ev)
		return m != nil && w.exIDs[string(m[1])]
	}
	return true
}

// eventExIDs are the ids of a collector's filter that are no vim25 type (nil: none), and the
// request with EventEx added to its filter when there are some.
func eventExIDs(body []byte) (map[string]bool, []byte) {
	var ids map[string]bool
	for _, m := range reTypeID.FindAllSubmatch(body, -1) {
		if _, known := types.TypeFunc()(string(m[1])); !known {
			if ids == nil {
				ids = map[string]bool{}
			}
			ids[string(m[1])] = true
		}
	}
	if ids == nil {
		return nil, body
	}
	loc := reFilterEnd.FindIndex(body)
	if loc == nil {
		return ids, body
	}
	out := append([]byte{}, body[:loc[0]]...)
	out = append(out, "<eventTypeId>EventEx</eventTypeId>"...)
	return ids, append(out, body[loc[0]:]...)
}

type eventWindow struct {
	next http.Handler
	mu   sync.Mutex
	win  map[string]window // by collector moref value
}

func newEventWindow(next http.Handler) *eventWindow {
	return &eventWindow{next: next, win: map[string]window{}}
}

func (h *eventWindow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
		h.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch soapMethod(body) {
	case "CreateCollectorForEvents":
		ids, asked := eventExIDs(body)
		r.Body = io.NopCloser(bytes.NewReader(asked))
		r.ContentLength = int64(len(asked))
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		if m := reReturnRef.FindSubmatch(rec.Body.Bytes()); m != nil && rec.Code == http.StatusOK {
			h.mu.Lock()
			h.win[string(m[1])] = window{begin: timeIn(reBegin, body), end: timeIn(reEnd, body), exIDs: ids}
			h.mu.Unlock()
		}
		copyResponse(w, rec, rec.Body.Bytes())
	case "ReadNextEvents", "ReadPreviousEvents":
		win, ok := h.collector(body)
		if !ok {
			h.next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		if rec.Header().Get("Content-Encoding") != "" {
			copyResponse(w, rec, rec.Body.Bytes())
			return
		}
		out := reEvent.ReplaceAllFunc(rec.Body.Bytes(), func(ev []byte) []byte {
			if !win.answers(ev) {
				return nil
			}
			return ev
		})
		copyResponse(w, rec, out)
	case "DestroyCollector":
		if m := reThis.FindSubmatch(body); m != nil {
			h.mu.Lock()
			delete(h.win, string(m[1]))
			h.mu.Unlock()
		}
		eventMu.Lock() // see events.go
		defer eventMu.Unlock()
		h.next.ServeHTTP(w, r)
	case "Login", "LoginByToken", "Logout":
		eventMu.Lock() // they post an event: see events.go
		defer eventMu.Unlock()
		h.next.ServeHTTP(w, r)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// collector is the window of the collector a request is made on.
func (h *eventWindow) collector(body []byte) (window, bool) {
	m := reThis.FindSubmatch(body)
	if m == nil {
		return window{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	win, ok := h.win[string(m[1])]
	return win, ok
}

// timeIn is the time the first group of re holds in doc (zero: none, or not a time).
func timeIn(re *regexp.Regexp, doc []byte) time.Time {
	m := re.FindSubmatch(doc)
	if m == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(m[1]))
	if err != nil {
		return time.Time{}
	}
	return t
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
