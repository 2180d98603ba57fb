package web

import (
	"bytes"
	"html/template"
	"slices"
	"strconv"
	"time"
)

// indexPage is the vote page rendered once, around its token and its two
// counts: between requests only they change, and this page answers every
// vote. Counts are integers and tokens base32, so writing them between the
// parts needs no escaping.
type indexPage struct {
	head, afterToken, mid, tail []byte
	// noteHead and noteTail are the tail of the page after a vote, around
	// the vote's hour.
	noteHead, noteTail []byte
}

// Counts no store can hold, rendered in place of the real ones to find
// where the real ones go.
const (
	mark1 int64 = -9_000_000_000_000_000_001
	mark2 int64 = -9_000_000_000_000_000_002
	// markHour stands for the hour of a vote's note.
	markHour = "-9000000000000000003"
	// markToken stands for the form's vote token.
	markToken = "tokenmark7x9q2w4e6r8t0y"
)

// prerenderIndex renders the page with the marks and cuts it at them. It
// returns nil, and the page is then rendered per request, if the marks are
// not each found exactly once, in order (say, a title that contains one).
func prerenderIndex(pages *template.Template, p Page) (*indexPage, error) {
	plain, err := cutIndex(pages, indexData{Page: p, Count1: mark1, Count2: mark2, Token: markToken})
	if err != nil || plain == nil {
		return nil, err
	}
	voted, err := cutIndex(pages, indexData{Page: p, Count1: mark1, Count2: mark2, Token: markToken, Note: markHour})
	if err != nil || voted == nil {
		return nil, err
	}
	for i := range 3 {
		if !bytes.Equal(voted[i], plain[i]) {
			return nil, nil
		}
	}
	noteHead, noteTail, ok := bytes.Cut(voted[3], []byte(markHour))
	if !ok || bytes.Contains(noteTail, []byte(markHour)) || bytes.Contains(plain[3], []byte(markHour)) {
		return nil, nil
	}
	return &indexPage{head: plain[0], afterToken: plain[1], mid: plain[2], tail: plain[3], noteHead: noteHead, noteTail: noteTail}, nil
}

// cutIndex renders the page with the marks and cuts it at the token's and
// the counts' marks into head, afterToken, mid and tail; nil if the marks
// are not each found once, in order.
func cutIndex(pages *template.Template, data indexData) ([][]byte, error) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "index.html", data); err != nil {
		return nil, err
	}
	marks := [][]byte{[]byte(markToken), []byte(strconv.FormatInt(mark1, 10)), []byte(strconv.FormatInt(mark2, 10))}
	out := buf.Bytes()
	for _, m := range marks {
		if bytes.Count(out, m) != 1 {
			return nil, nil
		}
	}
	parts := make([][]byte, 0, len(marks)+1)
	for _, m := range marks {
		before, after, ok := bytes.Cut(out, m)
		if !ok {
			return nil, nil
		}
		parts, out = append(parts, before), after
	}
	return append(parts, out), nil
}

// appendTo appends the page with the given token and counts to b and, when
// votedAt is set, the line saying which UTC hour the vote was counted in.
func (p *indexPage) appendTo(b []byte, token string, count1, count2 int64, votedAt time.Time) []byte {
	// One allocation of the right size, not a doubling per part.
	b = slices.Grow(b, len(p.head)+len(token)+len(p.afterToken)+len(p.mid)+max(len(p.tail), len(p.noteHead)+len(hourSpan)+len(p.noteTail))+40)
	b = append(b, p.head...)
	b = append(b, token...)
	b = append(b, p.afterToken...)
	b = strconv.AppendInt(b, count1, 10)
	b = append(b, p.mid...)
	b = strconv.AppendInt(b, count2, 10)
	if votedAt.IsZero() {
		return append(b, p.tail...)
	}
	b = append(b, p.noteHead...)
	b = appendVoteHour(b, votedAt)
	return append(b, p.noteTail...)
}

// hourSpan is what appendVoteHour writes, for its length.
const hourSpan = "00:00–01:00"

// appendVoteHour names the UTC hour of a vote for its note, as
// "09:00–10:00": digits, colons and a dash, which HTML takes as they are.
func appendVoteHour(b []byte, at time.Time) []byte {
	h := at.UTC().Hour()
	two := func(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
	b = append(two(b, h), ":00–"...)
	return append(two(b, (h+1)%24), ":00"...)
}

// voteHour is appendVoteHour's text, for the page rendered per request.
func voteHour(at time.Time) string { return string(appendVoteHour(nil, at)) }
