package client

import (
	"context"
	"fmt"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// SendOptions adjust a transaction built by Send.
type SendOptions struct {
	// Fee in ustr; 0 pays the chain's minimum.
	Fee  uint64
	Memo string
}

// Send builds a transaction for msg with the chain id, minimum fee and the
// signer's next nonce as the node reports them, signs it with key, submits it
// and waits for the commit. A transaction that is committed but fails is an
// error with its kind, returned with its result.
func (c *Client) Send(ctx context.Context, key *identity.Key, msg ledger.Msg, o SendOptions) (api.TxResult, error) {
	if err := msg.Validate(); err != nil {
		return api.TxResult{}, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return api.TxResult{}, err
	}
	acct, err := c.Account(ctx, key.Address().String())
	if err != nil {
		return api.TxResult{}, err
	}
	fee := o.Fee
	if fee == 0 {
		if fee, err = money.ParseUstr(st.MinFee); err != nil {
			return api.TxResult{}, err
		}
	}
	tx := &ledger.Tx{ChainID: st.ChainID, Nonce: acct.Nonce, Fee: fee, Memo: o.Memo, Msg: msg}
	if err := tx.Sign(key); err != nil {
		return api.TxResult{}, err
	}
	res, err := c.SubmitTx(ctx, tx.Bytes(), true)
	if err != nil {
		return res, err
	}
	if res.Code != ledger.CodeOK {
		return res, &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: fmt.Sprintf("transaction %s failed in block %d: %s", res.Hash, res.Height, res.Log)}
	}
	return res, nil
}
