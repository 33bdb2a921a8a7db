package main

// vCenter's event history collector answers the events of its filter's time window
// (filter.time.beginTime, endTime); govmomi 0.24.2's collector ignores the time (a TODO in
// its eventMatches) and always answers its whole page. This handler, in front of the SDK,
// remembers each collector's window when it is created (CreateCollectorForEvents) and drops
// the events created outside it from what ReadNextEvents and ReadPreviousEvents answer, so
// a reader that asks from the wrong time misses events as it would against vCenter.
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
)

var (
	reBegin     = regexp.MustCompile(`<beginTime>([^<]+)</beginTime>`)
	reEnd       = regexp.MustCompile(`<endTime>([^<]+)</endTime>`)
	reReturnRef = regexp.MustCompile(`<returnval[^>]*>([^<]+)</returnval>`)
	reThis      = regexp.MustCompile(`<_this[^>]*>([^<]+)</_this>`)
	reEvent     = regexp.MustCompile(`(?s)<returnval\b[^>]*>.*?</returnval>`)
	reCreated   = regexp.MustCompile(`<createdTime>([^<]+)</createdTime>`)
)

// window is a collector's time filter; a zero bound is open.
type window struct{ begin, end time.Time }

func (w window) holds(t time.Time) bool {
	return (w.begin.IsZero() || !t.Before(w.begin)) && (w.end.IsZero() || !t.After(w.end))
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
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		if m := reReturnRef.FindSubmatch(rec.Body.Bytes()); m != nil && rec.Code == http.StatusOK {
			h.mu.Lock()
			h.win[string(m[1])] = window{begin: timeIn(reBegin, body), end: timeIn(reEnd, body)}
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
			if m := reCreated.FindSubmatch(ev); m != nil {
				if t, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil && !win.holds(t) {
					return nil
				}
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
