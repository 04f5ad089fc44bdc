package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
)

// sent is a transfer the test made.
type sent struct {
	to     identity.Address
	amount uint64
	memo   string
	res    api.TxResult
}

func sendTransfers(ctx context.Context, t *testing.T, d devnet, tos []identity.Address) []sent {
	t.Helper()
	var out []sent
	for i, to := range tos {
		s := sent{to: to, amount: uint64(1000 + i), memo: "invoice " + strconv.Itoa(i)}
		var err error
		if s.res, err = d.c.Send(ctx, d.demo, &ledger.Transfer{To: to, Amount: s.amount}, client.SendOptions{Memo: s.memo}); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// waitIndexed waits until the audit index holds the transaction hash: the
// index trails the commit the send waited for.
func waitIndexed(ctx context.Context, t *testing.T, c *client.Client, hash string) {
	t.Helper()
	for ctx.Err() == nil {
		items, err := c.AuditEvents(ctx, client.AuditQuery{Kind: auditindex.KindTx})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(items, func(it auditindex.Item) bool { return it.Tx == hash }) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("transaction %s never reached the audit index", hash)
}

// queryAnswers is what a node answers to a fixed set of queries, to compare
// before and after a rebuild.
func queryAnswers(ctx context.Context, t *testing.T, c *client.Client, qs []client.AuditQuery) [][]auditindex.Item {
	t.Helper()
	var out [][]auditindex.Item
	for _, q := range qs {
		items, err := c.AuditEvents(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		out = append(out, items)
	}
	return out
}

// TestAuditQueries makes transfers with memos, then queries the audit log
// by account, kind and range, pages through one item at a time, reads the
// accounts' histories, and rebuilds the index from nothing to the same
// answers.
func TestAuditQueries(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, _, _ := identity.GenerateKey()
	bob, _, _ := identity.GenerateKey()
	txs := sendTransfers(ctx, t, d, []identity.Address{alice.Address(), bob.Address(), alice.Address()})
	waitIndexed(ctx, t, d.c, txs[2].res.Hash)

	// By account: alice is named by two transfers' events, and signed none.
	got, err := d.c.AuditEvents(ctx, client.AuditQuery{Account: alice.Address().String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Tx != txs[0].res.Hash || got[1].Tx != txs[2].res.Hash {
		t.Fatalf("alice's leaves = %+v, want the events of transfers 0 and 2", got)
	}
	for _, it := range got {
		if it.Kind != auditindex.KindEvent || it.Type != "bank.transfer" || it.Get("to") != alice.Address().String() || it.Time.IsZero() {
			t.Errorf("alice's leaf = %+v, want a bank.transfer to her with a time", it)
		}
	}
	// Filters AND: alice's transfers from the demo key, as events of kind
	// bank.transfer, and none of kind tx (she signed nothing).
	if got, err := d.c.AuditEvents(ctx, client.AuditQuery{Account: alice.Address().String(), Kind: "bank.transfer"}); err != nil || len(got) != 2 {
		t.Errorf("alice AND bank.transfer = %d items, %v; want 2", len(got), err)
	}
	if got, err := d.c.AuditEvents(ctx, client.AuditQuery{Account: alice.Address().String(), Kind: "tx"}); err != nil || len(got) != 0 {
		t.Errorf("alice AND tx = %+v, %v; want none", got, err)
	}
	// The demo key signed all three: its tx leaves carry signer and code.
	demoTxs, err := d.c.AuditEvents(ctx, client.AuditQuery{Account: d.demo.Address().String(), Kind: "tx", From: strconv.FormatInt(txs[0].res.Height, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(demoTxs) != 3 {
		t.Fatalf("the demo key's transactions from height %d = %+v, want 3", txs[0].res.Height, demoTxs)
	}
	for i, it := range demoTxs {
		if it.Tx != txs[i].res.Hash || it.Signer != d.demo.Address().String() || it.Code == nil || *it.Code != 0 || it.MsgType == "" {
			t.Errorf("tx leaf %d = %+v, want transfer %s signed by the demo key, code 0", i, it, txs[i].res.Hash)
		}
	}

	// Range: [height of transfer 1, height of transfer 2) by height, and
	// the same by time, holds transfer 1 (and 0 if in the same block).
	in := func(items []auditindex.Item, hash string) bool {
		return slices.ContainsFunc(items, func(it auditindex.Item) bool { return it.Tx == hash })
	}
	if txs[1].res.Height < txs[2].res.Height {
		q := client.AuditQuery{Kind: "tx", From: strconv.FormatInt(txs[1].res.Height, 10), To: strconv.FormatInt(txs[2].res.Height, 10)}
		items, err := d.c.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !in(items, txs[1].res.Hash) || in(items, txs[2].res.Hash) {
			t.Errorf("%+v = %+v: want transfer 1 in, transfer 2 out", q, items)
		}
		for _, it := range items {
			if it.Height < txs[1].res.Height || it.Height >= txs[2].res.Height {
				t.Errorf("%+v holds height %d", q, it.Height)
			}
		}
		// By time: from transfer 1's block time, inclusive, to transfer
		// 2's, exclusive.
		b1, b2 := blockTime(ctx, t, d.c, txs[1].res.Height), blockTime(ctx, t, d.c, txs[2].res.Height)
		qt := client.AuditQuery{Kind: "tx", From: b1.Format(time.RFC3339Nano), To: b2.Format(time.RFC3339Nano)}
		byTime, err := d.c.AuditEvents(ctx, qt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(byTime, items, func(a, b auditindex.Item) bool { return a.Index == b.Index }) {
			t.Errorf("by time %+v = %+v, by height %+v", qt, byTime, items)
		}
	}

	// By resource: a lease's events, opened then active (acknowledged by
	// its provider), each naming the lease; and AND the account of its
	// provider.
	prov, lease := storageLease(ctx, t, &d, "storage0")
	res := "lease:" + strconv.FormatUint(lease, 10)
	var leaseEvents []auditindex.Item
	for ctx.Err() == nil {
		if leaseEvents, err = d.c.AuditEvents(ctx, client.AuditQuery{Resource: res}); err != nil {
			t.Fatal(err)
		}
		if len(leaseEvents) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(leaseEvents) < 2 || leaseEvents[0].Type != "lease.opened" || leaseEvents[1].Type != "lease.active" {
		t.Fatalf("%s's events = %+v, want lease.opened then lease.active", res, leaseEvents)
	}
	for _, it := range leaseEvents {
		if it.Get("lease") != strconv.FormatUint(lease, 10) {
			t.Errorf("%s's event %+v names another lease", res, it)
		}
	}
	if got, err := d.c.AuditEvents(ctx, client.AuditQuery{Resource: res, Account: prov.String(), Kind: "lease.active"}); err != nil || len(got) != 1 || got[0].Index != leaseEvents[1].Index {
		t.Errorf("%s AND its provider AND lease.active = %+v, %v; want the one lease.active", res, got, err)
	}
	if got, err := d.c.AuditEvents(ctx, client.AuditQuery{Resource: res, Account: alice.Address().String()}); err != nil || len(got) != 0 {
		t.Errorf("%s AND alice = %+v, %v; want none", res, got, err)
	}

	// Paging with limit 1 gives every item once, in order.
	all, err := d.c.AuditEvents(ctx, client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var paged []auditindex.Item
	o := client.PageOptions{Limit: 1}
	for {
		p, err := d.c.AuditEventsPage(ctx, client.AuditQuery{}, o)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Items...)
		if p.Next == "" || len(paged) >= len(all) {
			break
		}
		o.After = p.Next
	}
	if len(paged) < len(all) {
		t.Fatalf("paging by 1 gave %d items, all at once %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].Index != all[i].Index || i > 0 && paged[i].Index <= paged[i-1].Index {
			t.Fatalf("paged item %d = leaf %d, want %d, in increasing order", i, paged[i].Index, all[i].Index)
		}
	}
	if all[0].Index != 0 || all[0].Height != 0 || !slices.ContainsFunc(all, func(it auditindex.Item) bool { return it.Type == "chain.genesis" }) {
		t.Errorf("first leaf = %+v, want leaf 0 of genesis, and the chain.genesis event among them", all[0])
	}

	// Account history: newest first, memos shown, roles given.
	hist, err := d.c.AccountTxs(ctx, alice.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Hash != txs[2].res.Hash || hist[1].Hash != txs[0].res.Hash {
		t.Fatalf("alice's history = %+v, want transfers 2 then 0", hist)
	}
	for i, h := range hist {
		want := txs[2-2*i]
		if h.Memo != want.memo || !slices.Equal(h.Roles, []string{"to"}) || h.Signer != d.demo.Address().String() || h.Fee == 0 || h.GasUsed == 0 || h.Code != 0 {
			t.Errorf("alice's history %d = %+v, want memo %q, role to, the demo key as signer, a fee", i, h, want.memo)
		}
		if len(h.Events) != 1 || h.Events[0].Type != "bank.transfer" {
			t.Errorf("history %d events = %+v, want the transfer", i, h.Events)
		}
	}
	demoHist, err := d.c.AccountTxs(ctx, d.demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the lease it opened, then transfer 2.
	if len(demoHist) < 4 || demoHist[0].MsgType != "market/open_lease" || !slices.Equal(demoHist[0].Roles, []string{"signer", "consumer"}) ||
		demoHist[1].Hash != txs[2].res.Hash || !slices.Equal(demoHist[1].Roles, []string{"signer", "from"}) {
		t.Fatalf("the demo key's newest = %+v, want its lease (signer, consumer) then transfer 2 (signer, from)", demoHist[:min(len(demoHist), 2)])
	}
	// And page by page, newest first.
	p1, err := d.c.AccountTxsPage(ctx, alice.Address().String(), client.PageOptions{Limit: 1})
	if err != nil || len(p1.Items) != 1 || p1.Next == "" {
		t.Fatalf("alice's first page = %+v, %v", p1, err)
	}
	p2, err := d.c.AccountTxsPage(ctx, alice.Address().String(), client.PageOptions{Limit: 1, After: p1.Next})
	if err != nil || len(p2.Items) != 1 || p2.Items[0].Hash != txs[0].res.Hash || p2.Next != "" {
		t.Fatalf("alice's second page = %+v, %v; want transfer 0 and no next", p2, err)
	}

	// Delete the index and restart: it rebuilds to the same answers.
	qs := []client.AuditQuery{{}, {Account: alice.Address().String()}, {Kind: "tx"}, {Kind: "bank.transfer", From: strconv.FormatInt(txs[1].res.Height, 10)}}
	before := queryAnswers(ctx, t, d.c, qs)
	beforeHist, _ := d.c.AccountTxs(ctx, alice.Address().String())
	cfg, err := node.LoadConfig(d.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	if err := d.n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(node.AuditIndexDir(d.home)); err != nil {
		t.Fatal(err)
	}
	n2, _ := startNode(t, d.home, cfg)
	c2 := client.New(n2.APIURL())
	waitIndexed(ctx, t, c2, txs[2].res.Hash)
	after := queryAnswers(ctx, t, c2, qs)
	for i := range qs {
		// The chain went on: compare the leaves that existed before.
		got := after[i]
		if len(got) > len(before[i]) {
			got = got[:len(before[i])]
		}
		a, _ := json.Marshal(before[i])
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("after the rebuild %+v =\n%s\nbefore:\n%s", qs[i], b, a)
		}
	}
	afterHist, err := c2.AccountTxs(ctx, alice.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(beforeHist)
	b, _ := json.Marshal(afterHist)
	if string(a) != string(b) {
		t.Errorf("alice's history after the rebuild =\n%s\nbefore:\n%s", b, a)
	}
}

func blockTime(ctx context.Context, t *testing.T, c *client.Client, h int64) time.Time {
	t.Helper()
	b, err := c.Block(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	return b.Time
}

// TestAuditQueriesRefuseBadInput: a stranger's malformed queries get 400
// with a message that says what is wrong.
func TestAuditQueriesRefuseBadInput(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	did := d.demo.Address().String()
	for _, tc := range []struct{ path, want string }{
		{"/v1/audit/events?account=did:key:zNOPE", "not a did:key"},
		{"/v1/audit/events?account=alice", "not a did:key"},
		{"/v1/audit/events?from=yesterday", "neither a block height nor an RFC 3339 time"},
		{"/v1/audit/events?to=2026-13-45T00:00:00Z", "neither a block height nor an RFC 3339 time"},
		{"/v1/audit/events?from=99999999999999999999999", "too large"},
		{"/v1/audit/events?from=10&to=5", "before from"},
		{"/v1/audit/events?limit=1001", "limit"},
		{"/v1/audit/events?limit=0", "limit"},
		{"/v1/audit/events?after=18446744073709551615", "past the"},
		{"/v1/audit/events?after=-1", "not an audit leaf index"},
		{"/v1/audit/events?resource=7", "not KIND:ID"},
		{"/v1/audit/events?resource=wallet:7", "not KIND:ID"},
		{"/v1/audit/events?kind=" + url.QueryEscape("bank.transfer\x00x"), "not an event type"},
		{"/v1/audit/events?kind=" + strings.Repeat("a", 200), "not an event type"},
		{"/v1/accounts/did:key:zNOPE/txs", "not a did:key"},
		{"/v1/accounts/" + did + "/txs?limit=5000", "limit"},
		{"/v1/accounts/" + did + "/txs?after=18446744073709551615", "past the"},
		{"/v1/events?account=nobody", "not a did:key"},
	} {
		var out any
		err := d.c.Get(ctx, tc.path, &out)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("GET %s: %v; want Invalid saying %q", tc.path, err, tc.want)
		}
	}
	// Last-Event-ID that is not a leaf index is refused too.
	req, _ := http.NewRequestWithContext(ctx, "GET", d.n.APIURL()+"/v1/events", nil)
	req.Header.Set("Last-Event-ID", "tomorrow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("Last-Event-ID tomorrow: status %d, want 400", resp.StatusCode)
	}
	// An unknown account has an empty history, not an error.
	nobody, _, _ := identity.GenerateKey()
	if h, err := d.c.AccountTxsPage(ctx, nobody.Address().String(), client.PageOptions{}); err != nil || len(h.Items) != 0 || h.Next != "" {
		t.Errorf("a fresh account's history = %+v, %v; want an empty last page", h, err)
	}
}

// sseEvent is one event read off a stream.
type sseEvent struct {
	id, event, data string
}

// readSSE sends the events of an event stream to a channel until it ends.
func readSSE(body io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func openStream(ctx context.Context, t *testing.T, base, query, lastID string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET /v1/events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan sseEvent, 1024)
	go readSSE(resp.Body, ch)
	return ch
}

// TestEventStream reads GET /v1/events with a real HTTP client: it sees
// blocks and the audit event of a transfer made during the test that names
// the filtered account, and not one that does not; reconnecting with
// Last-Event-ID replays what came after.
func TestEventStream(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, _, _ := identity.GenerateKey()
	bob, _, _ := identity.GenerateKey()
	stream := openStream(ctx, t, d.n.APIURL(), "account="+url.QueryEscape(alice.Address().String()), "")
	txs := sendTransfers(ctx, t, d, []identity.Address{bob.Address(), alice.Address()})

	var sawBlock bool
	var got auditindex.Item
	var gotID string
	for got.Tx == "" {
		select {
		case ev, ok := <-stream:
			if !ok {
				t.Fatal("the stream ended")
			}
			switch ev.event {
			case "block":
				var b auditindex.BlockEvent
				if err := json.Unmarshal([]byte(ev.data), &b); err != nil || b.Height <= 0 || b.Time.IsZero() || len(b.AppHash) != 64 || b.AuditSize == 0 {
					t.Fatalf("block event %q: %+v, %v", ev.data, b, err)
				}
				sawBlock = true
			case "audit":
				if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
					t.Fatal(err)
				}
				gotID = ev.id
				if got.Tx == txs[0].res.Hash {
					t.Fatalf("the stream for alice sent bob's transfer: %+v", got)
				}
			}
		case <-ctx.Done():
			t.Fatal("no audit event for alice's transfer")
		}
	}
	if got.Tx != txs[1].res.Hash || got.Type != "bank.transfer" || got.Get("to") != alice.Address().String() || gotID != strconv.FormatUint(got.Index, 10) {
		t.Fatalf("audit event %s = %+v, want alice's transfer %s with id its index", gotID, got, txs[1].res.Hash)
	}
	if !sawBlock {
		t.Error("no block event before the transfer's audit event")
	}

	// Reconnecting with Last-Event-ID before alice's event replays it
	// from the index, and only it.
	replay := openStream(ctx, t, d.n.APIURL(), "account="+url.QueryEscape(alice.Address().String()), strconv.FormatUint(got.Index-1, 10))
	for {
		select {
		case ev := <-replay:
			if ev.event != "audit" {
				continue
			}
			if ev.id != gotID {
				t.Fatalf("replay sent %s, want %s first", ev.id, gotID)
			}
			return
		case <-ctx.Done():
			t.Fatal("no replay of alice's event")
		}
	}
}
