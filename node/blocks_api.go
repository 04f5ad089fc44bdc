package node

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
)

// maxBlocksPage bounds GET /v1/blocks?limit=: each block is read from
// CometBFT's block store, so a page costs more than an index scan.
const maxBlocksPage = 100

// mountBlocks adds GET /v1/blocks, the latest blocks newest first, for the
// dashboard's block list and its transactions-per-second figure.
func (n *Node) mountBlocks() {
	b := &backend{n: n}
	n.api.HandleJSON("GET /v1/blocks", func(r *http.Request) (any, error) {
		limit, after, err := api.PageParams(r)
		if err != nil {
			return nil, err
		}
		if r.URL.Query().Get("limit") == "" {
			limit = 20
		}
		if limit > maxBlocksPage {
			return nil, errs.E(errs.Invalid, "limit %d is more than %d blocks: page back with ?after= and the next cursor", limit, maxBlocksPage)
		}
		bs := n.comet.BlockStore()
		top, base := bs.Height(), max(bs.Base(), 1)
		if after != "" {
			h, err := strconv.ParseInt(after, 10, 64)
			if err != nil || h < 1 {
				return nil, badCursor(after, "a block height")
			}
			top = min(top, h-1)
		}
		page := api.Page[api.Block]{Items: []api.Block{}}
		h := top
		for ; h >= base && len(page.Items) < limit; h-- {
			blk, err := b.Block(r.Context(), h)
			if err != nil {
				return nil, err
			}
			page.Items = append(page.Items, blk)
		}
		if h >= base && len(page.Items) > 0 {
			page.Next = strconv.FormatInt(page.Items[len(page.Items)-1].Height, 10)
		}
		return page, nil
	})
}
