package main

import (
	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
)

// Placeholders, replaced by the offline verification commands.

func newAuditProofCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "proof", Hidden: true, RunE: func(*cobra.Command, []string) error { return errs.E(errs.Invalid, "not built yet") }}
}

func newAuditValidatorsCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "validators", Hidden: true, RunE: func(*cobra.Command, []string) error { return errs.E(errs.Invalid, "not built yet") }}
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "verify", Hidden: true, RunE: func(*cobra.Command, []string) error { return errs.E(errs.Invalid, "not built yet") }}
}

func newAuditWatchCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "watch", Hidden: true, RunE: func(*cobra.Command, []string) error { return errs.E(errs.Invalid, "not built yet") }}
}
