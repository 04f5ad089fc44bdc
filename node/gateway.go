package node

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/storeclient"
)

// The object gateway: GET /v1/objects/{id}/content reads a public object
// from its providers, verified shard by shard against the manifest on the
// ledger, with single byte ranges. Anyone may use it; the node does the
// reading for clients that speak only HTTP. It never serves a private
// object (403): only the reader's own client can decrypt one.

type gateway struct {
	n    *Node
	once sync.Once
	sc   *storeclient.Client
}

func (g *gateway) client() *storeclient.Client {
	g.once.Do(func() {
		g.sc = storeclient.New(client.New(g.n.apiURL))
		g.sc.SetLogger(g.n.log.With("component", "gateway"))
	})
	return g.sc
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	sc := g.client()
	id := r.PathValue("id")
	v, m, err := sc.Object(r.Context(), id)
	if err != nil {
		g.n.api.Fail(w, r, err)
		return
	}
	if !v.Public {
		// The gateway holds no reader's key and logs no reader's request:
		// a private object is read by its reader's own client.
		g.n.api.Fail(w, r, errs.E(errs.Forbidden, "object %s is private and the gateway never serves it: read it with `stratus store get %s --from KEY`, where KEY is its owner's key or one the owner granted access (`stratus store grant`)", v.ID, v.ID))
		return
	}
	hdr := w.Header()
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("ETag", `"`+v.ID+`"`)
	// The ID names the bytes, so they never change.
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	if inm := r.Header.Get("If-None-Match"); inm == `"`+v.ID+`"` || inm == "*" {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	off, n, partial, err := shardserver.ParseRange(r.Header.Get("Range"), m.Size)
	if err != nil {
		hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(m.Size, 10))
		p := api.ProblemFor(errs.E(errs.Invalid, "object %s is %d bytes: %v", v.ID, m.Size, err))
		p.Status, p.Title = http.StatusRequestedRangeNotSatisfiable, http.StatusText(http.StatusRequestedRangeNotSatisfiable)
		hdr.Set("Content-Type", api.ProblemContentType)
		w.WriteHeader(p.Status)
		json.NewEncoder(w).Encode(p)
		return
	}
	if r.Method == http.MethodHead || n == 0 {
		g.header(w, partial, off, n, m.Size)
		return
	}
	lw := &lazyWriter{w: w, header: func() { g.header(w, partial, off, n, m.Size) }}
	if _, err := sc.Get(r.Context(), id, lw, storeclient.GetOptions{Offset: off, Length: n}); err != nil {
		if !lw.started {
			g.n.api.Fail(w, r, err)
			return
		}
		// The status is sent: cut the response short so the client sees
		// a truncated body, not a complete-looking wrong one.
		g.n.log.Warn("gateway read failed mid-stream", "id", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (g *gateway) header(w http.ResponseWriter, partial bool, off, n, size int64) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	if partial {
		hdr.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusPartialContent)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// lazyWriter sends the response header on the first write, so that an
// error before any byte is read can still be a problem response.
type lazyWriter struct {
	w       http.ResponseWriter
	header  func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
	}
	return l.w.Write(p)
}
