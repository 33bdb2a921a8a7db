package main

// The vSphere Automation (REST) API, for vSphere tags.
//
// govmomi's vapi simulator serves it under /rest as vCenter 6.5-7.0 do: importing the
// package registers its endpoint (its init calls simulator.RegisterEndpoint; main sets
// Service.RegisterEndpoints). It holds categories, tags and their attachments in memory;
// tests create and attach them through the API itself (POST
// /rest/com/vmware/cis/tagging/category, .../tag, .../tag-association/id:<tag>?~action=attach),
// as an administrator's script would.
//
// vCenter 7.0 U2 and later also serve /api (plain JSON answers, ?action=, ids without the
// id: prefix, list-tags-for-category taking the category in the body). govmomi 0.24.2 does
// not; apiShim serves it by translating each call to /rest, once a test switched it on
// (GET /vcsim/api?serve=1; GET /vcsim/api answers {"served": <calls through /api>}). Off,
// /api answers 404 as on a 6.7, and vcollect falls back to /rest. Shapes guessed rather
// than taken from a vCenter: an empty list, which the simulator's /rest omits ({}), is
// answered [] through /api.
//
// Not like vCenter: any non-empty user name and password open a REST session, not only
// -user's.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if !r.IsVPX() {
			return
		}
		a := &apiShim{mux: s.ServeMux}
		s.Handle("/api/", a)
		s.Handle("/vcsim/api", http.HandlerFunc(a.control))
	})
}

type apiShim struct {
	mux    *http.ServeMux
	on     int32
	served int64
}

func (a *apiShim) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("serve") {
	case "1":
		atomic.StoreInt32(&a.on, 1)
	case "0":
		atomic.StoreInt32(&a.on, 0)
	}
	fmt.Fprintf(w, `{"served": %d}`, atomic.LoadInt64(&a.served))
}

// restPath is the /rest path of an /api one, "" for what the shim does not serve.
func restPath(p string, r *http.Request) string {
	p = strings.TrimPrefix(p, "/api")
	if p == "/session" {
		return "/rest/com/vmware/cis/session"
	}
	rest := strings.TrimPrefix(p, "/cis/tagging/")
	if rest == p || rest == "" {
		return ""
	}
	parts := strings.SplitN(rest, "/", 2)
	out := "/rest/com/vmware/cis/tagging/" + parts[0]
	if len(parts) == 2 && parts[1] != "" {
		out += "/id:" + parts[1]
	}
	if parts[0] == "tag" && r.URL.Query().Get("action") == "list-tags-for-category" {
		var body struct {
			CategoryID string `json:"category_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		r.Body = io.NopCloser(strings.NewReader("{}"))
		out += "/id:" + body.CategoryID
	}
	return out
}

func (a *apiShim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := restPath(r.URL.Path, r)
	if atomic.LoadInt32(&a.on) == 0 || path == "" {
		http.NotFound(w, r)
		return
	}
	atomic.AddInt64(&a.served, 1)
	u := *r.URL
	u.Path = path
	u.RawQuery = ""
	if action := r.URL.Query().Get("action"); action != "" {
		u.RawQuery = url.Values{"~action": {action}}.Encode()
	}
	r2 := r.Clone(r.Context())
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	rec := httptest.NewRecorder()
	a.mux.ServeHTTP(rec, r2)
	body := rec.Body.Bytes()
	var wrapped map[string]json.RawMessage
	if rec.Code == http.StatusOK && json.Unmarshal(body, &wrapped) == nil {
		if v, ok := wrapped["value"]; ok {
			body = v
		} else if len(wrapped) == 0 {
			body = []byte("[]")
		}
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
