package web

import (
	"crypto/rand"
	"net/url"
)

// Vote tokens make a vote safe to send again. Every rendered vote form
// carries a fresh one, and the store counts a token at most once: a voter
// who saw no answer (a timeout, a lost connection) resends the form, and
// the vote is counted once.
const (
	minTokenLen = 16
	maxTokenLen = 64 // the store's MaxTokenLen
)

// newVoteToken returns a random token of 26 base32 characters (130 bits).
func newVoteToken() string { return rand.Text() }

// voteToken returns the form's token, "" if it has none. A token that is
// not 16 to 64 letters, digits, '-' or '_' is refused (readForm has
// already refused a field given twice).
func voteToken(form url.Values) (string, error) {
	t := form.Get("token")
	if t == "" {
		return "", nil
	}
	if len(t) < minTokenLen || len(t) > maxTokenLen {
		return "", badRequest(`form field "token" must be 16 to 64 characters`)
	}
	for i := range len(t) {
		if c := t[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", badRequest(`form field "token" may hold only letters, digits, '-' and '_'`)
		}
	}
	return t, nil
}
