package main

// What stands in front of vCenter's PerformanceManager, as a collector meets it (vcollect
// issue 18):
//
//   - vpxd's SOAP parser refuses a request of more than 500,000 XML elements, nested ones
//     included, with a SOAP fault (faultcode ServerFaultCode) whose faultstring is "XML
//     document element count exceeds configured maximum 500000" followed by "while parsing
//     ..." lines; and a body over 20,000,000 bytes with "Length of HTTP request body exceeds
//     configured maximum; N > 20000000". Both figures and messages were measured against a
//     vCenter with RetrieveProperties (166,664 objectSets = 3n+9 elements, the first call
//     refused; a blog post "vCenterの小ネタ: APIリクエストのXMLサイズ上限", 2022) and are
//     what Telegraf #5041, vsphere-graphite #65, SexiGraf #287 and icingaweb2-module-vspheredb
//     #554 report for QueryPerf. No report shows a typed fault detail, so none is sent: a
//     client sees only the faultcode and the text. The limits count start tags (a
//     self-closing element is one), as the 3n+9 measurement does;
//   - vCenter's reverse proxy (envoy since vCenter 7, rhttpproxy before) answers HTTP 503
//     when its upstream is saturated; envoy's circuit breaker answers with the body
//     "upstream connect error or disconnect/reset before headers. reset reason: overflow"
//     and the header x-envoy-overloaded. -max-concurrent-calls caps the QueryPerf calls
//     served at once this way (the calls a collector runs concurrently; the simulator does
//     not cap the few discovery and login calls, which a collector makes one at a time).
//
// /vcsim/calls reports what was refused ("Front": {"refused_503": N, "refused_elements": N,
// "refused_bytes": N}), and of the QueryPerf calls: how many, their request and response
// bytes, the most elements one asked ("Front": {"requests": N, "request_bytes": N,
// "response_bytes": N, "max_elements": N}).

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// vCenter's request limits (see above).
const (
	defaultMaxRequestElements = 500000
	defaultMaxRequestBytes    = 20000000
)

// front wraps the simulator's HTTP handler.
type front struct {
	next        http.Handler
	maxCalls    int   // QueryPerf calls served at once; beyond: 503 (0: no cap)
	maxElements int   // XML elements per request (0: no limit)
	maxBytes    int64 // request body bytes (0: no limit)

	mu       sync.Mutex
	inflight int
	stats    map[string]int
}

func newFront(next http.Handler, maxCalls, maxElements int, maxBytes int64) *front {
	return &front{next: next, maxCalls: maxCalls, maxElements: maxElements, maxBytes: maxBytes, stats: map[string]int{}}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
		f.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	method := soapMethod(body)
	perf := method == "QueryPerf"
	if f.maxBytes > 0 && int64(len(body)) > f.maxBytes {
		f.note("refused_bytes", 1)
		writeServerFault(w, fmt.Sprintf("Length of HTTP request body exceeds configured maximum; %d > %d", len(body), f.maxBytes))
		return
	}
	n := elements(body)
	if perf {
		f.mu.Lock()
		f.stats["requests"]++
		f.stats["request_bytes"] += len(body)
		if n > f.stats["max_elements"] {
			f.stats["max_elements"] = n
		}
		f.mu.Unlock()
	}
	if f.maxElements > 0 && n > f.maxElements {
		f.note("refused_elements", 1)
		writeServerFault(w, fmt.Sprintf("XML document element count exceeds configured maximum %d\n\n"+
			"while parsing call information for method %s\nat line 1, column 0\n\n"+
			"while parsing SOAP body\nat line 1, column 0\n\nwhile parsing SOAP envelope\nat line 1, column 0\n\n"+
			"while parsing HTTP request for method queryStats\non object of type vim.PerformanceManager\nat line 1, column 0",
			f.maxElements, method))
		return
	}
	if perf && f.maxCalls > 0 {
		if !f.enter() {
			f.note("refused_503", 1)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("x-envoy-overloaded", "true")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "upstream connect error or disconnect/reset before headers. reset reason: overflow")
			return
		}
		defer f.leave()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if !perf {
		f.next.ServeHTTP(w, r)
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	f.next.ServeHTTP(cw, r)
	f.note("response_bytes", cw.n)
}

// countingWriter counts the bytes of a response body.
type countingWriter struct {
	http.ResponseWriter
	n int
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += n
	return n, err
}

func (f *front) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inflight >= f.maxCalls {
		return false
	}
	f.inflight++
	return true
}

func (f *front) leave() {
	f.mu.Lock()
	f.inflight--
	f.mu.Unlock()
}

func (f *front) note(key string, n int) {
	f.mu.Lock()
	f.stats[key] += n
	f.mu.Unlock()
}

// snapshot is the "Front" entry of /vcsim/calls.
func (f *front) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.stats))
	for k, v := range f.stats {
		out[k] = v
	}
	return out
}

// elements counts the start tags of an XML document (a self-closing tag is one element),
// not the declaration, comments or end tags.
func elements(doc []byte) int {
	return bytes.Count(doc, []byte("<")) - bytes.Count(doc, []byte("</")) -
		bytes.Count(doc, []byte("<?")) - bytes.Count(doc, []byte("<!"))
}

// soapMethod is the local name of the first element in the SOAP Body.
func soapMethod(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			if inBody {
				return se.Name.Local
			}
			inBody = se.Name.Local == "Body"
		}
	}
}

// writeServerFault answers a SOAP fault without a typed detail, as vpxd's parser does.
func writeServerFault(w http.ResponseWriter, message string) {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(message))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
		`<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode>`+
		`<faultstring>%s</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, esc.String())
}
