package wagi

import (
	"bytes"
	"net"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
)

// ServerSoftware is the SERVER_SOFTWARE a function sees.
const ServerSoftware = "Stratus-WAGI/1"

// Env returns the environment of a call as sorted KEY=VALUE pairs: the
// deployment's env first, then the CGI/1.1 meta-variables of RFC 3875 and
// WAGI's extensions, which win over deployment variables of the same name.
//
// Headers become HTTP_* (upper case, '-' as '_', repeated values joined with
// ", "), except Content-Type and Content-Length, which are CONTENT_TYPE and
// CONTENT_LENGTH, and Proxy, dropped against httpoxy. A header whose name
// has anything but letters, digits and '-' is dropped, as nginx does: an
// '_' (or '.') would map to the same variable as the header a gateway sets
// (X_Forwarded_For and X-Forwarded-For are both HTTP_X_FORWARDED_FOR), and
// which one the function saw would be left to chance.
func (req *Request) Env(body int) []string {
	env := map[string]string{}
	for k, v := range req.DeploymentEnv {
		env[k] = v
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	host := req.Host
	if host == "" {
		host = req.Header.Get("Host")
	}
	serverName, serverPort := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		serverName, serverPort = h, p
	}
	scheme := "http"
	if req.TLS {
		scheme = "https"
	}
	if serverPort == "" {
		serverPort = "80"
		if req.TLS {
			serverPort = "443"
		}
	}
	remoteHost, remotePort := req.RemoteAddr, ""
	if h, p, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		remoteHost, remotePort = h, p
	}
	proto := req.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	fullPath := req.ScriptName + path
	requestURI := fullPath
	if req.RawQuery != "" {
		requestURI += "?" + req.RawQuery
	}
	cgi := map[string]string{
		"AUTH_TYPE":         "",
		"GATEWAY_INTERFACE": "CGI/1.1",
		"PATH_INFO":         path,
		"PATH_TRANSLATED":   path,
		"QUERY_STRING":      req.RawQuery,
		"REMOTE_ADDR":       remoteHost,
		"REMOTE_HOST":       remoteHost,
		"REMOTE_USER":       "",
		"REQUEST_METHOD":    method,
		"REQUEST_URI":       requestURI,
		"SCRIPT_NAME":       req.ScriptName,
		"SERVER_NAME":       serverName,
		"SERVER_PORT":       serverPort,
		"SERVER_PROTOCOL":   proto,
		"SERVER_SOFTWARE":   ServerSoftware,
		"X_MATCHED_ROUTE":   req.MatchedRoute,
		"X_FULL_URL":        scheme + "://" + host + requestURI,
		"X_RAW_PATH_INFO":   path,
		"HTTP_HOST":         host,
	}
	if remotePort != "" {
		cgi["REMOTE_PORT"] = remotePort
	}
	if req.TLS {
		cgi["HTTPS"] = "on"
	}
	if body > 0 || req.Header.Get("Content-Length") != "" {
		cgi["CONTENT_LENGTH"] = strconv.Itoa(body)
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		cgi["CONTENT_TYPE"] = ct
	}
	for k, vs := range req.Header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch ck {
		case "Content-Type", "Content-Length", "Proxy", "Host":
			continue
		}
		if !CGISafeHeader(ck) {
			continue
		}
		cgi["HTTP_"+strings.ToUpper(strings.ReplaceAll(ck, "-", "_"))] = strings.Join(vs, ", ")
	}
	for k, v := range cgi {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + env[k]
	}
	return out
}

// parseCGI turns a function's stdout into a status, headers and body.
//
// A CGI response is header lines, a blank line and the body. It must carry
// Content-Type, Location or Status; Status is "NNN reason"; a Location without
// a Status means 302. Output that does not start with a header block at all is
// served as a 200 text/plain body, as WAGI does.
func parseCGI(out []byte) (int, http.Header, []byte, error) {
	if len(out) == 0 {
		return 0, nil, nil, fail(ErrBadResponse, nil, "function wrote nothing to stdout; print a CGI response (headers, a blank line, the body)")
	}
	header := http.Header{}
	rest := out
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return plain(out)
		}
		line := strings.TrimSuffix(string(rest[:i]), "\r")
		rest = rest[i+1:]
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) {
			return plain(out)
		}
		header.Add(name, strings.TrimSpace(value))
	}
	status := http.StatusOK
	if s := header.Get("Status"); s != "" {
		code, _, _ := strings.Cut(s, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 || len(code) != 3 {
			return 0, nil, nil, fail(ErrBadResponse, nil, "function wrote an invalid Status header %q; use e.g. \"Status: 404 Not Found\"", s)
		}
		status = n
		header.Del("Status")
	} else if header.Get("Location") != "" {
		status = http.StatusFound
	} else if header.Get("Content-Type") == "" {
		return 0, nil, nil, fail(ErrBadResponse, nil, "function's CGI headers have none of Content-Type, Location or Status")
	}
	return status, header, rest, nil
}

func plain(out []byte) (int, http.Header, []byte, error) {
	return http.StatusOK, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, out, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// CGISafeHeader reports whether a header named name keeps its own CGI
// variable: it is non-empty and has only ASCII letters, digits and '-'. Such
// names map to HTTP_* one to one (up to case, which HTTP ignores); a name
// with '_' or other characters could pass for another header once mapped,
// so Env drops it, and a gateway should too.
func CGISafeHeader(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
