package main

import (
	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
)

// Placeholder, replaced by the compliance export.
func newAuditExportCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "export", Hidden: true, RunE: func(*cobra.Command, []string) error { return errs.E(errs.Invalid, "not built yet") }}
}
