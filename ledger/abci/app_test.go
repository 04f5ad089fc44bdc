package abci_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/pebblestore"
)

const (
	testChain = "test"
	balance   = 1000 * money.UstrPerSTR
	nAccounts = 4
)

var (
	t0     = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx    = context.Background()
	params = func() ledger.Params {
		p := ledger.DefaultParams()
		// Pay fees out every other block, so EndBlock moves money too.
		p.FeeEpochBlocks = 2
		// One gas a transaction at a price of 1000: transfer's fee
		// argument is then exactly what it pays (ledger's gas tests
		// cover the real table).
		p.Gas, p.MinGasPrice = ledger.GasTable{TxBase: 1}, 1000
		return p
	}()
	minFee = params.MinGasPrice
)

// testKey derives a key from name, so tests are repeatable and fast.
func testKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("stratus-test-key/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// keys are the funded accounts of every test chain.
var keys = func() []*identity.Key {
	var out []*identity.Key
	for i := range nAccounts {
		out = append(out, testKey(fmt.Sprintf("acct%d", i)))
	}
	return out
}()

// appState is the genesis app_state of every test chain: nAccounts funded
// accounts and one validator.
func appState(t testing.TB) []byte {
	t.Helper()
	g := ledger.Genesis{Params: params}
	for _, k := range keys {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: balance})
	}
	cons := testKey("cons0")
	g.Validators = []ledger.Validator{{
		Name: "val0", Operator: testKey("op0").Address(),
		ConsPubKey: cons.Priv.Public().(ed25519.PublicKey), Power: 1,
	}}
	raw, err := g.MarshalAppState(nil)
	if err != nil {
		t.Fatalf("MarshalAppState: %v", err)
	}
	return raw
}

const genesisSupply = nAccounts * balance

func initChainRequest(t testing.TB) *abcitypes.RequestInitChain {
	return &abcitypes.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: t0, AppStateBytes: appState(t)}
}

// blockRequest is the FinalizeBlock request for height h: its time and hash
// depend on h only, so two nodes fed the same heights agree.
func blockRequest(h int64, txs ...[]byte) *abcitypes.RequestFinalizeBlock {
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("block"), uint64(h)))
	return &abcitypes.RequestFinalizeBlock{Height: h, Time: t0.Add(time.Duration(h) * time.Second), Hash: hash[:], Txs: txs}
}

// node is an App over a Pebble store in a folder that outlives the App, so
// tests can crash and restart it.
type node struct {
	t    testing.TB
	dir  string
	st   *pebblestore.Store
	app  *abci.App
	opts abci.Options
}

func newNode(t testing.TB, opts abci.Options) *node {
	t.Helper()
	n := &node{t: t, dir: t.TempDir(), opts: opts}
	n.open()
	t.Cleanup(func() {
		if n.st != nil {
			n.st.Close()
		}
	})
	return n
}

// open opens the store and makes a new App over it, as a restarted process
// would; like StartComet it tells the App its chain id.
func (n *node) open() {
	n.t.Helper()
	st, err := pebblestore.Open(n.dir)
	if err != nil {
		n.t.Fatalf("open store: %v", err)
	}
	n.st = st
	app, err := abci.NewApp(ledger.New(ledger.DefaultRegistry()), st, n.opts)
	if err != nil {
		n.t.Fatalf("NewApp: %v", err)
	}
	app.SetChainID(testChain)
	n.app = app
}

// restart drops the App without any further call, as a crash would, and
// opens the store again.
func (n *node) restart() {
	n.t.Helper()
	n.app = nil
	if err := n.st.Close(); err != nil {
		n.t.Fatalf("close store: %v", err)
	}
	n.st = nil
	n.open()
}

func (n *node) initChain() []byte {
	n.t.Helper()
	res, err := n.app.InitChain(ctx, initChainRequest(n.t))
	if err != nil {
		n.t.Fatalf("InitChain: %v", err)
	}
	if len(res.AppHash) == 0 {
		n.t.Fatal("InitChain returned no app hash")
	}
	return res.AppHash
}

func (n *node) finalize(h int64, txs ...[]byte) *abcitypes.ResponseFinalizeBlock {
	n.t.Helper()
	res, err := n.app.FinalizeBlock(ctx, blockRequest(h, txs...))
	if err != nil {
		n.t.Fatalf("FinalizeBlock %d: %v", h, err)
	}
	if len(res.TxResults) != len(txs) {
		n.t.Fatalf("FinalizeBlock %d: %d results for %d txs", h, len(res.TxResults), len(txs))
	}
	return res
}

func (n *node) commit() *abcitypes.ResponseCommit {
	n.t.Helper()
	res, err := n.app.Commit(ctx, &abcitypes.RequestCommit{})
	if err != nil {
		n.t.Fatalf("Commit: %v", err)
	}
	return res
}

// block finalizes and commits height h, checks conservation and returns the
// FinalizeBlock response.
func (n *node) block(h int64, txs ...[]byte) *abcitypes.ResponseFinalizeBlock {
	n.t.Helper()
	res := n.finalize(h, txs...)
	n.commit()
	n.wantInfo(h, res.AppHash)
	n.checkConservation()
	return res
}

func (n *node) info() *abcitypes.ResponseInfo {
	n.t.Helper()
	res, err := n.app.Info(ctx, &abcitypes.RequestInfo{})
	if err != nil {
		n.t.Fatalf("Info: %v", err)
	}
	return res
}

func (n *node) wantInfo(h int64, appHash []byte) {
	n.t.Helper()
	res := n.info()
	if res.LastBlockHeight != h || !bytes.Equal(res.LastBlockAppHash, appHash) {
		n.t.Errorf("Info: height %d app hash %x; want height %d app hash %x", res.LastBlockHeight, res.LastBlockAppHash, h, appHash)
	}
	if gh, gapp := n.app.Height(); gh != h || !bytes.Equal(gapp, appHash) {
		n.t.Errorf("Height() = %d, %x; want %d, %x", gh, gapp, h, appHash)
	}
}

func (n *node) checkTx(raw []byte, typ abcitypes.CheckTxType) *abcitypes.ResponseCheckTx {
	n.t.Helper()
	res, err := n.app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: raw, Type: typ})
	if err != nil {
		n.t.Fatalf("CheckTx: %v", err)
	}
	return res
}

func (n *node) account(k *identity.Key) ledger.Account {
	n.t.Helper()
	a, err := ledger.ReadAccount(n.st, k.Address())
	if err != nil {
		n.t.Fatal(err)
	}
	return a
}

// checkConservation checks, over committed state, that accounts add up to
// the balances bucket, buckets add up to the supply, and the supply is what
// genesis minted.
func (n *node) checkConservation() {
	n.t.Helper()
	var sum uint64
	err := n.st.IterateState([]byte(ledger.AccountPrefix), func(_, v []byte) error {
		var err error
		sum, err = money.Add(sum, ledger.DecodeAccountValue(v).Balance)
		return err
	})
	if err != nil {
		n.t.Fatalf("sum accounts: %v", err)
	}
	bal, err := ledger.ReadBucket(n.st, ledger.BucketBalances)
	if err != nil {
		n.t.Fatal(err)
	}
	if sum != bal {
		n.t.Errorf("accounts hold %d but the balances bucket says %d", sum, bal)
	}
	var total uint64
	for _, b := range n.app.Machine().Buckets() {
		v, err := ledger.ReadBucket(n.st, b)
		if err != nil {
			n.t.Fatal(err)
		}
		if total, err = money.Add(total, v); err != nil {
			n.t.Fatal(err)
		}
	}
	supply, err := ledger.ReadSupply(n.st)
	if err != nil {
		n.t.Fatal(err)
	}
	if total != supply || supply != genesisSupply {
		n.t.Errorf("buckets hold %d, supply is %d, genesis minted %d", total, supply, genesisSupply)
	}
}

// transfer is a signed bank/transfer of amount from k to to.
func transfer(t testing.TB, k *identity.Key, to identity.Address, amount, nonce, fee uint64) []byte {
	t.Helper()
	return signed(t, k, testChain, nonce, fee, &ledger.Transfer{To: to, Amount: amount})
}

func signed(t testing.TB, k *identity.Key, chain string, nonce, fee uint64, msg ledger.Msg) []byte {
	t.Helper()
	tx := &ledger.Tx{ChainID: chain, Nonce: nonce, GasLimit: 1, GasPrice: fee, Msg: msg}
	if err := tx.Sign(k); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tx.Bytes()
}

// flipSig returns raw with a bit of its signature flipped.
func flipSig(raw []byte) []byte {
	out := bytes.Clone(raw)
	out[len(out)-1] ^= 0x01
	return out
}

func codes(res *abcitypes.ResponseFinalizeBlock) []uint32 {
	out := make([]uint32, len(res.TxResults))
	for i, r := range res.TxResults {
		out[i] = r.Code
	}
	return out
}

func TestInfoFollowsCommits(t *testing.T) {
	n := newNode(t, abci.Options{})
	res := n.info()
	if res.LastBlockHeight != 0 || len(res.LastBlockAppHash) != 0 {
		t.Errorf("Info of an empty store: height %d app hash %x, want 0 and none", res.LastBlockHeight, res.LastBlockAppHash)
	}
	if res.Version != abci.Version || res.AppVersion != abci.AppVersion {
		t.Errorf("Info: version %q app version %d, want %q and %d", res.Version, res.AppVersion, abci.Version, abci.AppVersion)
	}

	genesis := n.initChain()
	n.wantInfo(0, genesis)
	n.checkConservation()

	b1 := n.block(1, transfer(t, keys[0], keys[1].Address(), 5, 0, minFee))
	if bytes.Equal(b1.AppHash, genesis) {
		t.Error("block 1 did not change the app hash")
	}
	b2 := n.block(2)
	if bytes.Equal(b2.AppHash, b1.AppHash) {
		t.Error("an empty block 2 did not change the app hash")
	}

	n.restart()
	n.wantInfo(2, b2.AppHash)
	n.block(3, transfer(t, keys[0], keys[1].Address(), 5, 1, minFee))
	if got := n.account(keys[0]).Nonce; got != 2 {
		t.Errorf("after restart, sender nonce is %d, want 2", got)
	}
}

// TestCrashBetweenFinalizeAndCommit is the CometBFT pitfall: a crash after
// FinalizeBlock and before Commit is answered by replaying the block, which
// must give the same app hash.
func TestCrashBetweenFinalizeAndCommit(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	b1 := n.block(1, transfer(t, keys[0], keys[1].Address(), 100, 0, minFee))

	txs := [][]byte{
		transfer(t, keys[0], keys[2].Address(), 7, 1, minFee),
		transfer(t, keys[1], keys[3].Address(), 11, 0, minFee),
		transfer(t, keys[2], keys[3].Address(), 1, 9, minFee), // wrong nonce
	}
	// The first node saw the transactions in its mempool; the restarted one
	// has an empty signature cache.
	for _, raw := range txs[:2] {
		if res := n.checkTx(raw, abcitypes.CheckTxType_New); res.Code != 0 {
			t.Fatalf("CheckTx: code %d %s", res.Code, res.Log)
		}
	}
	first := n.finalize(2, txs...)
	n.restart()

	n.wantInfo(1, b1.AppHash)
	if got := n.account(keys[0]); got.Nonce != 1 || got.Balance != balance-100-minFee {
		t.Errorf("after the crash, block 2's sender is %+v: the uncommitted block left state behind", got)
	}
	if _, err := n.app.Commit(ctx, &abcitypes.RequestCommit{}); err == nil {
		t.Error("Commit with no finalized block after restart succeeded")
	}
	n.wantInfo(1, b1.AppHash)

	again := n.finalize(2, txs...)
	if !bytes.Equal(again.AppHash, first.AppHash) {
		t.Fatalf("replayed block 2 has app hash %x, first execution had %x", again.AppHash, first.AppHash)
	}
	if fmt.Sprint(codes(again)) != fmt.Sprint(codes(first)) {
		t.Errorf("replayed block 2 codes %v, first execution %v", codes(again), codes(first))
	}
	if want := []uint32{0, 0, ledger.CodeBadNonce}; fmt.Sprint(codes(again)) != fmt.Sprint(want) {
		t.Errorf("block 2 codes %v, want %v", codes(again), want)
	}
	n.commit()
	n.wantInfo(2, first.AppHash)
	n.checkConservation()

	for _, tc := range []struct {
		key     *identity.Key
		balance uint64
		nonce   uint64
	}{
		{keys[0], balance - 100 - 7 - 2*minFee, 2},
		{keys[1], balance + 100 - 11 - minFee, 1},
		{keys[2], balance + 7, 0},
		{keys[3], balance + 11, 0},
	} {
		if got := n.account(tc.key); got.Balance != tc.balance || got.Nonce != tc.nonce {
			t.Errorf("%s: %+v, want balance %d nonce %d", tc.key.Name, got, tc.balance, tc.nonce)
		}
	}
	rec, err := n.app.LookupTx(ledger.HashTx(txs[1]))
	if err != nil || rec.Height != 2 || rec.Index != 1 || rec.Code != 0 {
		t.Errorf("LookupTx of a replayed tx: %+v, %v; want height 2 index 1 code 0", rec, err)
	}
	n.block(3)
}

// TestInitChainTwice: a crash before block 1 makes CometBFT call InitChain
// again on a store that already holds genesis.
func TestInitChainTwice(t *testing.T) {
	n := newNode(t, abci.Options{})
	first := n.initChain()
	n.restart()
	n.wantInfo(0, first)
	second := n.initChain()
	if !bytes.Equal(first, second) {
		t.Fatalf("second InitChain app hash %x, first %x", second, first)
	}
	n.wantInfo(0, first)
	n.checkConservation()
	for _, k := range keys {
		if got := n.account(k); got.Balance != balance {
			t.Errorf("%s has %d after InitChain twice, want %d", k.Name, got.Balance, balance)
		}
	}
	// And the chain goes on from there.
	n.block(1, transfer(t, keys[0], keys[1].Address(), 1, 0, minFee))
}

// TestInitChainRejectsBadGenesis: a genesis that does not validate fails and
// writes nothing.
func TestInitChainRejectsBadGenesis(t *testing.T) {
	n := newNode(t, abci.Options{})
	for _, tc := range []struct {
		name  string
		state string
	}{
		{"not json", "{"},
		{"no validators", `{"params":{"min_fee":"1000","treasury_fee_bps":0,"fee_epoch_blocks":1,"max_tx_bytes":1024},"accounts":[],"validators":[]}`},
	} {
		_, err := n.app.InitChain(ctx, &abcitypes.RequestInitChain{ChainId: testChain, InitialHeight: 1, Time: t0, AppStateBytes: []byte(tc.state)})
		if err == nil {
			t.Errorf("%s: InitChain succeeded", tc.name)
		}
		n.wantInfo(0, nil)
	}
}

// TestSameBlocksSameHashes feeds two independent nodes the same blocks: one
// has seen the transactions in CheckTx and skips their verification, the
// other has not. Their app hashes must agree at every height.
func TestSameBlocksSameHashes(t *testing.T) {
	a := newNode(t, abci.Options{})
	b := newNode(t, abci.Options{RetainBlocks: 3})
	ga, gb := a.initChain(), b.initChain()
	if !bytes.Equal(ga, gb) {
		t.Fatalf("genesis app hashes differ: %x and %x", ga, gb)
	}
	nonces := make([]uint64, nAccounts)
	for h := int64(1); h <= 6; h++ {
		var txs [][]byte
		for i := range int(h) {
			from, to := keys[i%nAccounts], keys[(i+int(h))%nAccounts]
			raw := transfer(t, from, to.Address(), uint64(1000*h+int64(i)), nonces[i%nAccounts], minFee+uint64(i))
			if res := a.checkTx(raw, abcitypes.CheckTxType_New); res.Code != 0 {
				t.Fatalf("height %d: CheckTx %d: code %d %s", h, i, res.Code, res.Log)
			}
			nonces[i%nAccounts]++
			txs = append(txs, raw)
		}
		// Some that fail: a replay, a bad signature, an overdraft, garbage.
		txs = append(txs,
			txs[0],
			flipSig(transfer(t, keys[3], keys[0].Address(), 1, nonces[3], minFee)),
			transfer(t, keys[2], keys[0].Address(), 10*balance, nonces[2], minFee),
			[]byte("not a transaction"),
		)
		nonces[2]++ // the overdraft still pays its fee

		ra, rb := a.block(h, txs...), b.block(h, txs...)
		if !bytes.Equal(ra.AppHash, rb.AppHash) {
			t.Fatalf("height %d: app hashes differ: %x and %x", h, ra.AppHash, rb.AppHash)
		}
		if fmt.Sprint(codes(ra)) != fmt.Sprint(codes(rb)) {
			t.Errorf("height %d: codes differ: %v and %v", h, codes(ra), codes(rb))
		}
		for i, r := range ra.TxResults[:h] {
			if r.Code != 0 {
				t.Errorf("height %d tx %d: code %d %s", h, i, r.Code, r.Log)
			}
		}
		tail := codes(ra)[h:]
		if want := []uint32{ledger.CodeBadNonce, ledger.CodeUnauthorized, ledger.CodeInsufficient, ledger.CodeInvalid}; fmt.Sprint(tail) != fmt.Sprint(want) {
			t.Errorf("height %d: failing txs got codes %v, want %v", h, tail, want)
		}
	}
}

func TestCheckTx(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	sender, to := keys[1], keys[0].Address()
	for _, tc := range []struct {
		name string
		raw  []byte
		want uint32
	}{
		{"bad signature", flipSig(transfer(t, sender, to, 1, 0, minFee)), ledger.CodeUnauthorized},
		{"wrong nonce", transfer(t, sender, to, 1, 1, minFee), ledger.CodeBadNonce},
		{"low fee", transfer(t, sender, to, 1, 0, minFee-1), ledger.CodeFee},
		{"overdraft", transfer(t, sender, to, balance, 0, minFee), ledger.CodeInsufficient},
		{"garbage", []byte("garbage"), ledger.CodeInvalid},
		{"empty", nil, ledger.CodeInvalid},
		{"wrong chain", signed(t, sender, "other-chain", 0, minFee, &ledger.Transfer{To: to, Amount: 1}), ledger.CodeWrongChain},
		{"zero amount", transfer(t, sender, to, 0, 0, minFee), ledger.CodeInvalid},
		{"valid", transfer(t, sender, to, 1, 0, minFee), ledger.CodeOK},
	} {
		res := n.checkTx(tc.raw, abcitypes.CheckTxType_New)
		if res.Code != tc.want {
			t.Errorf("%s: code %d (%s), want %d", tc.name, res.Code, res.Log, tc.want)
		}
		if (res.Code == 0) != (res.Log == "") {
			t.Errorf("%s: code %d with log %q", tc.name, res.Code, res.Log)
		}
	}
}

// TestCheckTxBeforeGenesis: the mempool may ask before InitChain; the answer
// is an error code, not a panic.
func TestCheckTxBeforeGenesis(t *testing.T) {
	n := newNode(t, abci.Options{})
	res := n.checkTx(transfer(t, keys[0], keys[1].Address(), 1, 0, minFee), abcitypes.CheckTxType_New)
	if res.Code == 0 {
		t.Error("CheckTx before genesis accepted a transaction")
	}
	n.initChain()
	if res := n.checkTx(transfer(t, keys[0], keys[1].Address(), 1, 0, minFee), abcitypes.CheckTxType_New); res.Code != 0 {
		t.Errorf("CheckTx after genesis: code %d %s", res.Code, res.Log)
	}
}

func TestCheckTxPendingNoncesAndRecheck(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	k, to := keys[2], keys[3].Address()
	txs := make([][]byte, 3)
	for i := range txs {
		txs[i] = transfer(t, k, to, 10, uint64(i), minFee)
		if res := n.checkTx(txs[i], abcitypes.CheckTxType_New); res.Code != 0 {
			t.Fatalf("CheckTx nonce %d: code %d %s", i, res.Code, res.Log)
		}
	}
	// The mempool's view includes the three pending ones.
	if res := n.checkTx(transfer(t, k, to, 10, 1, minFee), abcitypes.CheckTxType_New); res.Code != ledger.CodeBadNonce {
		t.Errorf("CheckTx of a second nonce 1: code %d, want %d", res.Code, ledger.CodeBadNonce)
	}
	// An overdraft counting what is pending is refused.
	left := balance - 3*(10+minFee)
	if res := n.checkTx(transfer(t, k, to, left, 3, minFee), abcitypes.CheckTxType_New); res.Code != ledger.CodeInsufficient {
		t.Errorf("CheckTx of an overdraft given pending txs: code %d, want %d", res.Code, ledger.CodeInsufficient)
	}

	n.block(1, txs[0])
	if res := n.checkTx(txs[1], abcitypes.CheckTxType_Recheck); res.Code != 0 {
		t.Errorf("recheck of nonce 1 after nonce 0 committed: code %d %s", res.Code, res.Log)
	}
	if res := n.checkTx(txs[2], abcitypes.CheckTxType_Recheck); res.Code != 0 {
		t.Errorf("recheck of nonce 2 after nonce 0 committed: code %d %s", res.Code, res.Log)
	}
	if res := n.checkTx(txs[0], abcitypes.CheckTxType_Recheck); res.Code != ledger.CodeBadNonce {
		t.Errorf("recheck of the committed tx: code %d (%s), want %d", res.Code, res.Log, ledger.CodeBadNonce)
	}
}

func TestPreVerify(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	good := transfer(t, keys[0], keys[1].Address(), 1, 0, minFee)
	tx, err := n.app.PreVerify(good)
	if err != nil {
		t.Fatalf("PreVerify of a good tx: %v", err)
	}
	if tx.Hash() != ledger.HashTx(good) || tx.Signer != keys[0].Address() || tx.Nonce != 0 {
		t.Errorf("PreVerify returned a tx from %s nonce %d hash %s", tx.Signer, tx.Nonce, tx.Hash())
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		kind errs.Kind
	}{
		{"bad signature", flipSig(good), errs.Unauthorized},
		{"garbage", []byte("garbage"), errs.Invalid},
	} {
		_, err := n.app.PreVerify(tc.raw)
		if !errs.Is(err, tc.kind) {
			t.Errorf("PreVerify of %s: %v (kind %s), want kind %s", tc.name, err, errs.KindOf(err), tc.kind)
		}
		if tc.name == "bad signature" && !errors.Is(err, ledger.ErrBadSignature) {
			t.Errorf("PreVerify of a bad signature: %v, want ledger.ErrBadSignature", err)
		}
	}
	// What PreVerify refused was not cached: CheckTx still refuses it.
	if res := n.checkTx(flipSig(good), abcitypes.CheckTxType_New); res.Code != ledger.CodeUnauthorized {
		t.Errorf("CheckTx after a failed PreVerify: code %d, want %d", res.Code, ledger.CodeUnauthorized)
	}
	if res := n.checkTx(good, abcitypes.CheckTxType_New); res.Code != 0 {
		t.Errorf("CheckTx after PreVerify: code %d %s", res.Code, res.Log)
	}
}

// TestFinalizeBlockVerifiesUncached: transactions this node never checked
// are verified when the block executes, in parallel when there are several,
// and a bad signature fails with code 2 and changes no account.
func TestFinalizeBlockVerifiesUncached(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()

	// The good version of this one was verified and cached; its corrupted
	// copy has another hash and must be verified anew.
	seen := transfer(t, keys[0], keys[1].Address(), 3, 0, minFee)
	if _, err := n.app.PreVerify(seen); err != nil {
		t.Fatal(err)
	}

	var txs [][]byte
	var want []uint32
	for i := range 12 {
		k := keys[i%nAccounts]
		raw := transfer(t, k, keys[(i+1)%nAccounts].Address(), uint64(i+1), uint64(i/nAccounts), minFee)
		if i%nAccounts == 0 {
			// Every fourth is corrupted, and leaves its sender's nonce
			// alone, so the next from that sender uses the same nonce.
			raw = transfer(t, k, keys[1].Address(), 1, 0, minFee)
			raw = flipSig(raw)
			want = append(want, ledger.CodeUnauthorized)
		} else {
			want = append(want, ledger.CodeOK)
		}
		txs = append(txs, raw)
	}
	txs = append(txs, flipSig(seen))
	want = append(want, ledger.CodeUnauthorized)

	res := n.block(1, txs...)
	if fmt.Sprint(codes(res)) != fmt.Sprint(want) {
		t.Errorf("codes %v, want %v", codes(res), want)
	}
	if got := n.account(keys[0]); got.Nonce != 0 || got.Balance < balance {
		t.Errorf("keys[0] sent only corrupted txs but is now %+v", got)
	}
	for i, r := range res.TxResults {
		if r.Code == ledger.CodeUnauthorized && !strings.Contains(r.Log, "signature") {
			t.Errorf("tx %d: log %q does not mention the signature", i, r.Log)
		}
	}

	// A single uncached corrupted tx, the sequential case.
	res = n.block(2, flipSig(transfer(t, keys[1], keys[2].Address(), 1, 3, minFee)))
	if res.TxResults[0].Code != ledger.CodeUnauthorized {
		t.Errorf("lone corrupted tx: code %d, want %d", res.TxResults[0].Code, ledger.CodeUnauthorized)
	}
}

func TestCommitNotifiesAndIndexes(t *testing.T) {
	n := newNode(t, abci.Options{})
	var infos []abci.CommitInfo
	n.app.OnCommit = func(c abci.CommitInfo) { infos = append(infos, c) }
	n.initChain()

	if _, err := n.app.Commit(ctx, &abcitypes.RequestCommit{}); err == nil {
		t.Error("Commit without FinalizeBlock succeeded")
	}

	bad := flipSig(transfer(t, keys[0], keys[1].Address(), 1, 0, minFee))
	good := transfer(t, keys[0], keys[1].Address(), 42, 0, minFee)
	gh, bh := ledger.HashTx(good), ledger.HashTx(bad)
	goodCh, stopGood := n.app.WaitTx(gh)
	defer stopGood()
	goodCh2, stopGood2 := n.app.WaitTx(gh)
	defer stopGood2()
	badCh, stopBad := n.app.WaitTx(bh)
	defer stopBad()
	gone, stopGone := n.app.WaitTx(gh)
	stopGone()

	if _, err := n.app.LookupTx(gh); !errs.Is(err, errs.NotFound) {
		t.Errorf("LookupTx before commit: %v, want kind NotFound", err)
	}
	res := n.finalize(1, bad, good)
	select {
	case r := <-goodCh:
		t.Errorf("waiter told before Commit: %+v", r)
	default:
	}
	n.commit()

	wantTime := t0.Add(time.Second)
	for _, tc := range []struct {
		name  string
		ch    <-chan abci.TxRecord
		raw   []byte
		index int
		code  uint32
	}{
		{"good", goodCh, good, 1, 0},
		{"good, second waiter", goodCh2, good, 1, 0},
		{"bad", badCh, bad, 0, ledger.CodeUnauthorized},
	} {
		var rec abci.TxRecord
		select {
		case rec = <-tc.ch:
		default:
			t.Errorf("%s: waiter not told at Commit", tc.name)
			continue
		}
		if rec.Height != 1 || rec.Index != tc.index || rec.Code != tc.code || !rec.Time.Equal(wantTime) || !bytes.Equal(rec.Tx, tc.raw) {
			t.Errorf("%s: record height %d index %d code %d time %v, want 1 %d %d %v and the tx", tc.name, rec.Height, rec.Index, rec.Code, rec.Time, tc.index, tc.code, wantTime)
		}
		got, err := n.app.LookupTx(ledger.HashTx(tc.raw))
		if err != nil {
			t.Errorf("%s: LookupTx: %v", tc.name, err)
			continue
		}
		if got.Height != 1 || got.Index != tc.index || got.Code != tc.code || got.Log != rec.Log || !got.Time.Equal(wantTime) || !bytes.Equal(got.Tx, tc.raw) {
			t.Errorf("%s: LookupTx = %+v, waiter got %+v", tc.name, got, rec)
		}
		if tc.code == 0 {
			if len(got.Events) != 1 || got.Events[0].Type != "bank.transfer" || got.Events[0].Get("amount") != "42" {
				t.Errorf("%s: events %+v, want one bank.transfer of 42", tc.name, got.Events)
			}
			if ev := res.TxResults[tc.index].Events; len(ev) != 1 || ev[0].Type != "bank.transfer" {
				t.Errorf("%s: FinalizeBlock events %+v, want one bank.transfer", tc.name, ev)
			}
		} else if got.Log == "" {
			t.Errorf("%s: failed tx has no log", tc.name)
		}
	}
	select {
	case r, ok := <-gone:
		t.Errorf("a cancelled waiter was told: %+v %v", r, ok)
	default:
	}

	unknown := sha256.Sum256([]byte("never submitted"))
	if _, err := n.app.LookupTx(unknown); !errs.Is(err, errs.NotFound) {
		t.Errorf("LookupTx of an unknown hash: %v, want kind NotFound", err)
	}

	if len(infos) != 1 {
		t.Fatalf("OnCommit called %d times, want 1", len(infos))
	}
	if c := infos[0]; c.Height != 1 || c.NumTxs != 2 || c.Failed != 1 || !bytes.Equal(c.AppHash, res.AppHash) || !c.Time.Equal(wantTime) {
		t.Errorf("OnCommit got %+v, want height 1, 2 txs, 1 failed, app hash %x", c, res.AppHash)
	}
	// What metrics read: the gas of both transactions (the failed one took
	// none), the audit log as the block left it, and only the good
	// transaction's events.
	if c := infos[0]; c.GasUsed != uint64(res.TxResults[0].GasUsed+res.TxResults[1].GasUsed) || c.GasUsed == 0 ||
		c.AuditSize == 0 || len(c.Events) != 1 || c.Events[0].Type != "bank.transfer" || c.ChainID == "" {
		t.Errorf("OnCommit got gas %d, audit size %d, events %+v, chain %q; want gas %d+%d, a logged block, one bank.transfer",
			c.GasUsed, c.AuditSize, c.Events, c.ChainID, res.TxResults[0].GasUsed, res.TxResults[1].GasUsed)
	}

	// The index survives a restart.
	n.restart()
	if rec, err := n.app.LookupTx(gh); err != nil || rec.Height != 1 || rec.Index != 1 {
		t.Errorf("LookupTx after restart: %+v, %v", rec, err)
	}
}

func TestRetainHeight(t *testing.T) {
	for _, tc := range []struct {
		retain int64
		want   []int64 // RetainHeight after heights 1, 2, ...
	}{
		{0, []int64{0, 0, 0, 0, 0}},
		{2, []int64{0, 0, 1, 2, 3}},
		{1, []int64{0, 1, 2, 3, 4}},
	} {
		t.Run(fmt.Sprint(tc.retain), func(t *testing.T) {
			n := newNode(t, abci.Options{RetainBlocks: tc.retain})
			n.initChain()
			for i, want := range tc.want {
				h := int64(i + 1)
				n.finalize(h)
				if got := n.commit().RetainHeight; got != want {
					t.Errorf("RetainBlocks %d, height %d: RetainHeight %d, want %d", tc.retain, h, got, want)
				}
			}
		})
	}
}

func TestQuery(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	n.block(1, transfer(t, keys[0], keys[1].Address(), 250, 0, minFee))

	query := func(path string) *abcitypes.ResponseQuery {
		t.Helper()
		res, err := n.app.Query(ctx, &abcitypes.RequestQuery{Path: path})
		if err != nil {
			t.Fatalf("Query(%s): %v", path, err)
		}
		return res
	}

	var acct struct {
		Address string `json:"address"`
		Balance string `json:"balance"`
		Nonce   uint64 `json:"nonce"`
	}
	res := query("/account/" + keys[0].Address().String())
	if res.Code != 0 {
		t.Fatalf("account query: code %d %s", res.Code, res.Log)
	}
	if err := json.Unmarshal(res.Value, &acct); err != nil {
		t.Fatalf("account query answered %q: %v", res.Value, err)
	}
	if want := fmt.Sprint(balance - 250 - minFee); acct.Address != keys[0].Address().String() || acct.Balance != want || acct.Nonce != 1 {
		t.Errorf("account query = %+v, want %s with balance %s nonce 1", acct, keys[0].Address(), want)
	}
	if res.Height != 1 {
		t.Errorf("account query height %d, want 1", res.Height)
	}

	// An account nobody funded is the zero account.
	stranger := testKey("stranger").Address()
	res = query("/account/" + stranger.String())
	if err := json.Unmarshal(res.Value, &acct); res.Code != 0 || err != nil || acct.Balance != "0" || acct.Nonce != 0 {
		t.Errorf("query of an unfunded account: code %d %q", res.Code, res.Value)
	}

	var sup struct {
		Supply string `json:"supply"`
	}
	res = query("/supply")
	if err := json.Unmarshal(res.Value, &sup); res.Code != 0 || err != nil || sup.Supply != fmt.Sprint(genesisSupply) {
		t.Errorf("supply query: code %d %q, want supply %d", res.Code, res.Value, genesisSupply)
	}

	for _, path := range []string{"/nope", "", "/account/", "/account/did:key:zBogus", "/supply/extra"} {
		if res := query(path); res.Code == 0 || res.Log == "" {
			t.Errorf("Query(%q): code %d log %q, want a failure that says why", path, res.Code, res.Log)
		}
	}
	if res := query("/nope"); res.Code != ledger.CodeNotFound {
		t.Errorf("unknown query path: code %d, want %d", res.Code, ledger.CodeNotFound)
	}
}

// TestPrepareProposalBounds: a proposal stops at the block's byte limit
// and at the chain's block gas limit (the transactions' gas limits added
// up), and leaves out what could never run.
func TestPrepareProposalBounds(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	withGas := func(k *identity.Key, limit uint64) []byte {
		tx := &ledger.Tx{ChainID: testChain, GasLimit: limit, GasPrice: minFee, Msg: &ledger.Transfer{To: keys[0].Address(), Amount: 1}}
		if err := tx.Sign(k); err != nil {
			t.Fatal(err)
		}
		return tx.Bytes()
	}
	third := params.MaxBlockGas / 3
	txs := [][]byte{withGas(keys[0], third), withGas(keys[1], third), withGas(keys[2], third), withGas(keys[3], third)}
	size := int64(len(txs[0]))
	for _, tc := range []struct {
		name string
		txs  [][]byte
		max  int64
		want int
	}{
		{"all fit the bytes, three the gas", txs, 100 * size, 3},
		{"bytes for two", txs, 2*size + 1, 2},
		{"bytes for none", txs, size - 1, 0},
		{"garbage and a limit over the block's are left out", [][]byte{{1, 2, 3}, withGas(keys[0], params.MaxBlockGas+1), txs[1]}, 100 * size, 1},
	} {
		res, err := n.app.PrepareProposal(ctx, &abcitypes.RequestPrepareProposal{Txs: tc.txs, MaxTxBytes: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Txs) != tc.want {
			t.Errorf("%s: %d txs, want %d", tc.name, len(res.Txs), tc.want)
		}
	}
	res, err := n.app.ProcessProposal(ctx, &abcitypes.RequestProcessProposal{Txs: txs})
	if err != nil || res.Status != abcitypes.ResponseProcessProposal_ACCEPT {
		t.Errorf("ProcessProposal: %v, %v; want ACCEPT", res, err)
	}
}

// TestReplayedTxKeepsItsIndexEntry: a proposer may put an already committed
// transaction in a later block (or twice in one); it fails there with a
// nonce error, and the node's index must still report the execution that
// counted.
func TestReplayedTxKeepsItsIndexEntry(t *testing.T) {
	n := newNode(t, abci.Options{})
	n.initChain()
	tx := transfer(t, keys[0], keys[1].Address(), 9, 0, minFee)
	h := ledger.HashTx(tx)

	res := n.block(1, tx, tx)
	if got := codes(res); fmt.Sprint(got) != fmt.Sprint([]uint32{0, ledger.CodeBadNonce}) {
		t.Fatalf("block 1 codes %v, want the first to pass and the duplicate to fail", got)
	}
	if rec, err := n.app.LookupTx(h); err != nil || rec.Height != 1 || rec.Index != 0 || rec.Code != 0 {
		t.Errorf("after a duplicate in the same block, LookupTx = %+v, %v; want height 1 index 0 code 0", rec, err)
	}

	res = n.block(2, tx)
	if res.TxResults[0].Code != ledger.CodeBadNonce {
		t.Fatalf("replay in block 2: code %d, want %d", res.TxResults[0].Code, ledger.CodeBadNonce)
	}
	if rec, err := n.app.LookupTx(h); err != nil || rec.Height != 1 || rec.Index != 0 || rec.Code != 0 {
		t.Errorf("after a replay in block 2, LookupTx = %+v, %v; want height 1 index 0 code 0", rec, err)
	}
}
