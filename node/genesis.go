package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
)

// ConsensusKeys creates (or loads) a validator's CometBFT consensus key and
// p2p node key under cometDir, and returns the consensus public key and the
// node id.
func ConsensusKeys(cometDir string) (pub []byte, nodeID string, err error) {
	if err := os.MkdirAll(filepath.Join(cometDir, "config"), 0o700); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(filepath.Join(cometDir, "data"), 0o700); err != nil {
		return nil, "", err
	}
	pv := privval.LoadOrGenFilePV(abci.PrivValidatorKeyFile(cometDir), filepath.Join(cometDir, "data", "priv_validator_state.json"))
	nk, err := p2p.LoadOrGenNodeKey(abci.NodeKeyFile(cometDir))
	if err != nil {
		return nil, "", err
	}
	return pv.Key.PubKey.Bytes(), string(nk.ID()), nil
}

// WriteGenesis writes one genesis document into each of cometDirs. The
// validators in g must carry their consensus keys.
func WriteGenesis(cometDirs []string, chainID string, g ledger.Genesis, modules map[string]any, at time.Time) error {
	if err := g.Validate(); err != nil {
		return err
	}
	appState, err := g.MarshalAppState(modules)
	if err != nil {
		return err
	}
	doc := &cmttypes.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     at.UTC(),
		InitialHeight:   1,
		ConsensusParams: cmttypes.DefaultConsensusParams(),
		AppState:        json.RawMessage(appState),
	}
	// Leave room in a block for a burst of transactions, but bound it so a
	// block is executed in well under a second.
	doc.ConsensusParams.Block.MaxBytes = 8 << 20
	for _, v := range g.Validators {
		pk := cmted25519.PubKey(v.ConsPubKey)
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{Address: pk.Address(), PubKey: pk, Power: v.Power, Name: v.Name})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	for _, dir := range cometDirs {
		if err := doc.SaveAs(abci.GenesisFile(dir)); err != nil {
			return err
		}
	}
	return nil
}
