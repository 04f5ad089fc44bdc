package market

// Tests check every choice of the offer index against a walk over every
// provider.
func init() { verifyChoose = true }

// SetVerifyChoose turns that check on or off (a test that counts reads
// turns it off), and returns a function that puts it back.
func SetVerifyChoose(on bool) (restore func()) {
	was := verifyChoose
	verifyChoose = on
	return func() { verifyChoose = was }
}
