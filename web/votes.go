package web

import (
	"net/http"
	"strings"
	"time"
)

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	counts, err := s.opts.Store.Counts(s.deadlines.context(time.Now()))
	if err != nil {
		s.writeError(w, r, unavailable("The vote store is unavailable; try again in a moment.", err))
		return
	}
	s.renderIndex(w, r, counts, time.Time{})
}

// vote handles every button of the form: a choice counts, reset zeroes the
// display, the usage button leads to the usage page. Anything else is
// refused before it reaches the store, so no form value can name a key.
func (s *Server) vote(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	choice := r.PostForm.Get("vote")
	token, err := voteToken(r.PostForm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := s.opts.Page
	ctx := s.deadlines.context(time.Now())
	var counts map[string]int64
	var votedAt time.Time
	switch choice {
	case p.Vote1, p.Vote2:
		votedAt = s.opts.Now()
		var counted bool
		counts, counted, err = s.opts.Store.VoteOnce(ctx, choice, token, votedAt)
		if err != nil {
			s.opts.Metrics.storeError()
			s.writeError(w, r, unconfirmedVote(token, err))
			return
		}
		if counted { // a token sent again is answered, not counted
			s.opts.Metrics.countVote(choice)
		}
	case "reset":
		counts, err = s.opts.Store.Reset(ctx)
	case "": // before GetValue, which is empty when the usage page is private
		s.writeError(w, r, badRequest(`missing form field "vote"`))
		return
	case p.GetValue:
		http.Redirect(w, r, "/usage", http.StatusSeeOther)
		return
	default:
		s.writeError(w, r, badRequest("unknown vote "+quote(choice)+"; choose "+quote(p.Vote1)+" or "+quote(p.Vote2)))
		return
	}
	if err != nil {
		s.opts.Metrics.storeError()
		s.writeError(w, r, unavailable("We could not confirm the reset: the vote store did not answer. Try again in a moment.", err))
		return
	}
	s.renderIndex(w, r, counts, votedAt)
}

// quote shortens and quotes user input for an error message.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
