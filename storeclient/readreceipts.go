package storeclient

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/shardserver"
)

// Receipt is a signed shard read as its reader keeps it: the request it
// signed (enough to check the signature offline, see httpsig.Recorded) and
// what came back. A provider records every signed read of a private shard
// in its access log and anchors it on the ledger; a reader that keeps its
// receipts can show a read the provider served but left out of its log
// (docs/storage.md "Access logs").
type Receipt struct {
	Request httpsig.Recorded `json:"request"`
	Status  int              `json:"status"`
	// Bytes and SHA256 are the body received (hex), ReceivedMs when its
	// end arrived.
	Bytes      int64  `json:"bytes"`
	SHA256     string `json:"sha256"`
	ReceivedMs int64  `json:"received_ms"`
}

// KeepReceipts makes c call keep with a Receipt of each signed shard read
// that a provider answered with bytes (200 or 206), once the body is read
// or closed. keep may be called from several goroutines at once. Call it
// before the reads.
func (c *Client) KeepReceipts(keep func(Receipt)) {
	hc := http.Client{}
	if c.shards.HTTP != nil {
		hc = *c.shards.HTTP
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &receiptTransport{base: base, keep: keep}
	c.shards = &shardserver.Client{HTTP: &hc, Now: c.shards.Now}
}

// receiptTransport passes requests through to base and makes receipts of
// the signed shard reads.
type receiptTransport struct {
	base http.RoundTripper
	keep func(Receipt)
}

func (t *receiptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("Signature") == "" || !strings.HasPrefix(req.URL.Path, "/shards/") {
		return t.base.RoundTrip(req)
	}
	rec, recErr := httpsig.Record(req, "")
	resp, err := t.base.RoundTrip(req)
	if err != nil || recErr != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent) {
		return resp, err
	}
	resp.Body = &receiptBody{rc: resp.Body, h: sha256.New(), r: Receipt{Request: rec, Status: resp.StatusCode}, keep: t.keep}
	return resp, nil
}

// receiptBody hashes a body as it is read and hands over the receipt at
// its end or close, whichever comes first.
type receiptBody struct {
	rc   io.ReadCloser
	h    hash.Hash
	r    Receipt
	keep func(Receipt)
	once sync.Once
}

func (b *receiptBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	b.r.Bytes += int64(n)
	if err == io.EOF {
		b.done()
	}
	return n, err
}

func (b *receiptBody) Close() error {
	b.done()
	return b.rc.Close()
}

func (b *receiptBody) done() {
	b.once.Do(func() {
		b.r.SHA256 = hex.EncodeToString(b.h.Sum(nil))
		b.r.ReceivedMs = time.Now().UnixMilli()
		b.keep(b.r)
	})
}
