// Package dashboard is the web dashboard every node serves at /: one HTML
// page, a stylesheet and plain JavaScript modules, embedded in the binary,
// with no build step. The pages read the node's REST API from the browser;
// this package serves files and nothing else, so it holds no state and
// answers no question about the ledger.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// Prefix is where the dashboard's assets are served; the index is at /.
const Prefix = "/ui/"

// csp allows only the node's own scripts, styles and API: no inline script,
// no third-party origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Mounter is what the dashboard needs from an API server: a way to add a
// route. *api.Server is one.
type Mounter interface {
	Mount(pattern string, h http.Handler)
}

// Mount adds the dashboard's routes to m: GET / for the page and GET
// /ui/{path...} for its assets. Anything else, /v1/... included, stays the
// API's.
func Mount(m Mounter) {
	h := Handler()
	m.Mount("GET /{$}", h)
	m.Mount("GET "+Prefix+"{path...}", h)
}

// asset is one embedded file with what its answers need.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler returns the handler of the dashboard's routes: / serves
// index.html, /ui/NAME serves the file NAME, and any other path is 404.
// Answers carry an ETag and Cache-Control: no-cache, so a browser
// revalidates each load and gets 304 until the node is upgraded.
func Handler() http.Handler {
	assets := map[string]asset{}
	root, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		if path.Ext(p) == ".js" {
			// Module scripts need a JavaScript type whatever the
			// system's MIME table says.
			ct = "text/javascript; charset=utf-8"
		}
		assets[p] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(r.URL.Path, Prefix)
		}
		a, ok := assets[name]
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", csp)
		if !ok || name == "index.html" && r.URL.Path != "/" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("404: the dashboard has no file " + r.URL.Path + "; open / for the dashboard\n"))
			return
		}
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
