package main

import "github.com/spf13/cobra"

// newAuditCmd groups the audit trail's commands: offline proofs and their
// verification (audit_verify.go), and compliance export (audit_export.go).
func newAuditCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Prove, verify, watch and export the audit log (docs/audit.md)",
	}
	c.AddCommand(
		newAuditProofCmd(g), newAuditValidatorsCmd(g), newAuditVerifyCmd(g), newAuditWatchCmd(g),
		newAuditExportCmd(g),
	)
	return c
}
