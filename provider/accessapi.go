package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// GET /access?object=ID&since=MS: the access records of an object's shards
// on this provider, to its owner only. Who read a private object is the
// owner's business: a grantee, or anyone else, gets 403, and an unsigned
// request 401.

// accessHandler serves GET /access, checking signatures with v.
func (a *AccessLog) accessHandler(v *httpsig.Verifier, now func() time.Time, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := a.serveAccess(r, v, now)
		if err != nil {
			p := api.ProblemFor(err)
			if p.Status >= 500 {
				log.Error("access log", "path", r.URL.Path, "err", err)
			}
			b, _ := json.Marshal(p)
			w.Header().Set("Content-Type", api.ProblemContentType)
			w.WriteHeader(p.Status)
			w.Write(append(b, '\n'))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
	})
}

func (a *AccessLog) serveAccess(r *http.Request, v *httpsig.Verifier, now func() time.Time) (*AccessPage, error) {
	q := r.URL.Query()
	id := q.Get("object")
	if id == "" {
		return nil, errs.E(errs.Invalid, "name the object: GET /access?object=ID")
	}
	var since int64
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = strconv.ParseInt(s, 10, 64); err != nil || since < 0 {
			return nil, errs.E(errs.Invalid, "since=%q is not a time in unix milliseconds", s)
		}
	}
	// The signature first, so that a stranger's bad request costs no
	// question to the ledger; a refused signer's request keeps no nonce
	// and may come again, so the ledger's answer is cached (objectInfo).
	var obj objectInfo
	if _, err := v.Verify(r, now(), func(signer identity.Address) error {
		var err error
		if obj, err = a.objectInfo(r.Context(), id); err != nil {
			return err
		}
		if signer != obj.owner {
			return errs.E(errs.Forbidden, "only the owner of object %s sees who read it: %s is not its owner", id, signer)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	page := &AccessPage{Provider: a.provider.String(), Object: obj.id, Records: []AccessEntry{}}
	var err error
	page.Records, page.More, err = a.entries(obj.shards, since, obj.id)
	if page.Records == nil {
		page.Records = []AccessEntry{}
	}
	return page, err
}

// objectInfo is what GET /access needs of an object: its owner and the
// shards it places here.
type objectInfo struct {
	at     time.Time
	id     string
	owner  identity.Address
	shards []storage.Hash
	err    error
}

// objectTTL is how long GET /access uses an answer about an object, and
// maxObjectInfo how many it keeps.
const (
	objectTTL     = 2 * time.Second
	maxObjectInfo = 1024
)

// objectInfo asks the ledger about object id, at most once per objectTTL
// (an unknown object's NotFound included).
func (a *AccessLog) objectInfo(ctx context.Context, id string) (objectInfo, error) {
	now := a.now()
	a.objMu.Lock()
	o, ok := a.objects[id]
	a.objMu.Unlock()
	if ok && now.Sub(o.at) < objectTTL && now.Sub(o.at) >= 0 {
		return o, o.err
	}
	view, err := a.ledger.Object(ctx, id)
	o = objectInfo{at: now, id: view.ID, owner: view.Owner, err: err}
	switch {
	case err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid):
		return o, err // not cached: the ledger may answer next time
	case err == nil && view.Decoded != nil:
		o.shards = shardsHere(view.Decoded, a.provider.String())
	}
	a.objMu.Lock()
	defer a.objMu.Unlock()
	if a.objects == nil || len(a.objects) >= maxObjectInfo {
		a.objects = map[string]objectInfo{}
	}
	a.objects[id] = o
	return o, err
}

// FetchAccess asks the provider at baseURL for object id's access records
// served at or after since (unix ms), signed by key (the owner's), page by
// page. Errors: Forbidden if key is not the object's owner, the provider's
// other errors with their kinds, Unavailable or Timeout for transport
// failures.
func FetchAccess(ctx context.Context, hc *http.Client, baseURL string, key *identity.Key, id string, since int64) ([]AccessEntry, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var out []AccessEntry
	for range 1 << 20 {
		u := strings.TrimRight(baseURL, "/") + "/access?object=" + url.QueryEscape(id) + "&since=" + strconv.FormatInt(since, 10)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, errs.E(errs.Invalid, "provider URL %q: %w", baseURL, err)
		}
		nonce, err := httpsig.NewNonce()
		if err != nil {
			return nil, err
		}
		if err := httpsig.Sign(req, key, time.Now(), nonce); err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, "+api.ProblemContentType)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, errs.E(errs.Unavailable, "asking the provider at %s for the access log: %w", baseURL, err)
		}
		if resp.StatusCode != http.StatusOK {
			err := api.ErrorFromResponse(resp, "the provider at "+baseURL)
			resp.Body.Close()
			return nil, err
		}
		var page AccessPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, errs.E(errs.Internal, "the provider at %s sent an access log that is not JSON: %v", baseURL, err)
		}
		out = appendNew(out, page.Records)
		if !page.More || len(page.Records) == 0 {
			return out, nil
		}
		next := page.Records[len(page.Records)-1].ServedMs
		if next <= since {
			// A page of one millisecond's reads: step past it.
			next = since + 1
		}
		since = next
	}
	return out, nil
}

// appendNew appends the entries of page not already in out (pages asked
// from the last record's time overlap by that millisecond).
func appendNew(out, page []AccessEntry) []AccessEntry {
	type pos struct{ e, i uint64 }
	seen := map[pos]bool{}
	for _, e := range out {
		seen[pos{e.Epoch, e.Index}] = true
	}
	for _, e := range page {
		if !seen[pos{e.Epoch, e.Index}] {
			out = append(out, e)
		}
	}
	return out
}

// Checked is an access record as `stratus store access` shows it: what it
// says, and what the checks found.
type Checked struct {
	AccessEntry
	// SignatureOK: the reader's signature over the recorded request is
	// good. AnchorOK: the record is in the root the ledger holds for its
	// provider and epoch. Problem says what failed, "" if nothing did; an
	// unanchored record (its epoch not anchored yet) is not a failure.
	SignatureOK bool `json:"signature_ok"`
	AnchorOK    bool `json:"anchor_ok"`
	// AnchorFailed: the record's epoch is anchored on the ledger and the
	// record is not in that anchor (or the provider claims an anchor the
	// ledger does not have).
	AnchorFailed bool   `json:"anchor_failed,omitempty"`
	Problem      string `json:"problem,omitempty"`
	// AnchorHeight is the block that anchored the record's epoch.
	AnchorHeight int64 `json:"anchor_height,omitempty"`
	// Overdue: the record is unanchored although its epoch ended more
	// than a whole epoch ago, when its provider's agent should have
	// anchored it. Not a failure of the record (its signature may be
	// good), but of the provider's duty to anchor.
	Overdue bool `json:"overdue,omitempty"`
}

// Failed reports whether a check failed (not merely unanchored).
func (c *Checked) Failed() bool { return c.Problem != "" }

// CheckEntry checks one record from the provider at provider: the
// reader's signature, that the record is the provider's, and its inclusion
// proof against anchor (the ledger's, nil if the ledger has none for its
// epoch). It never fails: what is wrong is in the result.
func CheckEntry(e AccessEntry, provider identity.Address, anchor *objects.AnchorRecord) Checked {
	c := Checked{AccessEntry: e}
	var problems []string
	if err := VerifyAccessSignature(&e.AccessRecord); err != nil {
		problems = append(problems, "signature: "+err.Error())
	} else {
		c.SignatureOK = true
	}
	if e.Provider != provider.String() {
		problems = append(problems, fmt.Sprintf("the record names provider %s but %s served it", e.Provider, provider))
	}
	switch {
	case anchor != nil:
		if err := VerifyAccessProof(&e.AccessRecord, anchor.Root, anchor.Count, e.Proof); err != nil {
			problems = append(problems, "anchor: "+err.Error())
			c.AnchorFailed = true
		} else {
			c.AnchorOK, c.AnchorHeight = true, anchor.Height
		}
	case e.Anchored:
		problems = append(problems, fmt.Sprintf("anchor: the provider says epoch %d is anchored, but the ledger has no anchor of it", e.Epoch))
		c.AnchorFailed = true
	}
	c.Problem = strings.Join(problems, "; ")
	return c
}

// AccessReport is what GatherAccess found: every record, checked, in the
// order they were served, and the providers that could not be asked.
type AccessReport struct {
	Object  string    `json:"object"`
	Records []Checked `json:"records"`
	// Unreachable are the providers of the object's shards that did not
	// answer; their records are missing from Records.
	Unreachable []ProviderProblem `json:"unreachable,omitempty"`
	// Receipts are the readers' receipts checked against Records, if
	// CheckReceipts was given any.
	Receipts []ReceiptCheck `json:"receipts,omitempty"`

	shards map[storage.Hash]bool // the object's shards
}

// ReceiptCheck is one signed read a reader kept (storeclient.Receipt),
// looked for in the providers' logs.
type ReceiptCheck struct {
	Reader string       `json:"reader"`
	Shard  storage.Hash `json:"shard"`
	// Authority is the provider's host:port the reader signed for.
	Authority string `json:"authority"`
	SignedMs  int64  `json:"signed_ms"`
	// Logged: a record holds this signed request; Anchored: that record
	// is in its provider's anchor on the ledger.
	Logged   bool   `json:"logged"`
	Anchored bool   `json:"anchored"`
	Problem  string `json:"problem,omitempty"`
}

// CheckReceipts looks for each of a reader's signed requests to this
// object's shards in the records gathered, and adds the results to
// r.Receipts. A request whose signature does not verify proves nothing and
// is marked so; one with no record is a read the provider served (the
// reader has its answer) and kept out of its log, or withheld from the
// owner; either way its provider must account for it. Requests for other
// objects' shards are skipped.
func (r *AccessReport) CheckReceipts(reqs []httpsig.Recorded) {
	bySig := map[string]*Checked{}
	for i := range r.Records {
		bySig[r.Records[i].Request.Signature] = &r.Records[i]
	}
	for _, q := range reqs {
		var h storage.Hash
		hexHash, ok := strings.CutPrefix(q.Path, "/shards/")
		if !ok || h.UnmarshalText([]byte(hexHash)) != nil || !r.shards[h] {
			continue
		}
		c := ReceiptCheck{Shard: h, Authority: q.Authority}
		signer, at, err := q.Verify()
		if err != nil {
			c.Problem = "the receipt's signature does not verify, so it proves nothing: " + err.Error()
			r.Receipts = append(r.Receipts, c)
			continue
		}
		c.Reader, c.SignedMs = signer.String(), at.UnixMilli()
		rec := bySig[q.Signature]
		switch {
		case rec == nil:
			c.Problem = fmt.Sprintf("not logged: %s signed this read of shard %s for the provider at %s, but no provider's log holds it", signer, h, q.Authority)
		default:
			c.Logged, c.Anchored = true, rec.AnchorOK
		}
		r.Receipts = append(r.Receipts, c)
	}
}

// ProviderProblem is a provider that could not be asked, and why.
type ProviderProblem struct {
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

// Failed returns the records whose checks failed. Receipts found wanting
// are in Unlogged.
func (r *AccessReport) Failed() []Checked {
	var out []Checked
	for _, c := range r.Records {
		if c.Failed() {
			out = append(out, c)
		}
	}
	return out
}

// Unlogged returns the receipts that no record accounts for, or that do
// not verify.
func (r *AccessReport) Unlogged() []ReceiptCheck {
	var out []ReceiptCheck
	for _, c := range r.Receipts {
		if c.Problem != "" {
			out = append(out, c)
		}
	}
	return out
}

// GatherAccess asks every provider of object id's shards (from its
// manifest on the ledger, at the endpoint the market lists) for the records
// served at or after since (unix ms), signed by key, the owner's, and
// checks each against its provider's anchor on the ledger. Errors: those of
// reading the object; Forbidden or Unauthorized when a provider refuses key
// (it is not the owner). A provider that cannot be reached is listed in
// Unreachable, not an error.
func GatherAccess(ctx context.Context, c *client.Client, hc *http.Client, key *identity.Key, id string, since int64) (*AccessReport, error) {
	obj, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	rep := &AccessReport{Object: obj.ID, Records: []Checked{}, shards: map[storage.Hash]bool{}}
	if obj.Owner != key.Address() {
		return nil, errs.E(errs.Forbidden, "only the owner of object %s sees who read it: it is %s's, not %s's", obj.ID, obj.Owner, key.Address())
	}
	if obj.Decoded == nil {
		return rep, nil
	}
	var provs []string
	seen := map[string]bool{}
	for _, seg := range obj.Decoded.Segments {
		for _, sh := range seg.Shards {
			rep.shards[sh.Hash] = true
			if !seen[sh.Provider] {
				seen[sh.Provider] = true
				provs = append(provs, sh.Provider)
			}
		}
	}
	type anchorKey struct {
		p string
		e uint64
	}
	anchors := map[anchorKey]*objects.AnchorRecord{}
	window, err := c.AnchorWindow(ctx)
	if err != nil {
		return nil, err
	}
	for _, did := range provs {
		addr, err := identity.ParseDID(did)
		if err != nil {
			rep.Unreachable = append(rep.Unreachable, ProviderProblem{did, err.Error()})
			continue
		}
		p, err := c.Provider(ctx, did)
		if err != nil {
			rep.Unreachable = append(rep.Unreachable, ProviderProblem{did, err.Error()})
			continue
		}
		entries, err := FetchAccess(ctx, hc, p.Endpoint, key, obj.ID, since)
		switch {
		case errs.Is(err, errs.Forbidden), errs.Is(err, errs.Unauthorized):
			return nil, err
		case err != nil:
			rep.Unreachable = append(rep.Unreachable, ProviderProblem{did, err.Error()})
			continue
		}
		for _, e := range entries {
			k := anchorKey{did, e.Epoch}
			a, ok := anchors[k]
			if !ok {
				got, err := c.AccessAnchor(ctx, did, e.Epoch)
				switch {
				case err == nil:
					a = &got
				case !errs.Is(err, errs.NotFound):
					return nil, err
				}
				anchors[k] = a
			}
			ch := CheckEntry(e, addr, a)
			ch.Overdue = a == nil && !ch.AnchorFailed && e.Epoch+2 <= window.Current
			rep.Records = append(rep.Records, ch)
		}
	}
	slices.SortStableFunc(rep.Records, func(a, b Checked) int { return cmpU64(uint64(a.ServedMs), uint64(b.ServedMs)) })
	markReplays(rep.Records)
	return rep, nil
}

// markReplays fails every record whose signed request an earlier record
// already holds: a reader's signature is good for one read (its nonce is
// used once), so a provider that records it twice invents a read.
func markReplays(rs []Checked) {
	seen := map[string]bool{}
	for i := range rs {
		sig := rs[i].Request.Signature
		if !seen[sig] {
			seen[sig] = true
			continue
		}
		const p = "replay: the same signed request is recorded more than once, and a signed request is served once"
		if rs[i].Problem == "" {
			rs[i].Problem = p
		} else {
			rs[i].Problem += "; " + p
		}
	}
}
