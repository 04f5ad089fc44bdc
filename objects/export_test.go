package objects

// SetMaxExpiriesPerBlock changes the cap on expiries per block for a test
// and returns a function that puts it back.
func SetMaxExpiriesPerBlock(n int) func() {
	old := maxExpiriesPerBlock
	maxExpiriesPerBlock = n
	return func() { maxExpiriesPerBlock = old }
}
