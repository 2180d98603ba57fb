package web

import (
	"bytes"
	"html/template"
	"slices"
	"strconv"
	"time"
)

// indexPage is the vote page rendered once, around its two counts: between
// requests only the counts change, and this page answers every vote. Counts
// are integers, so writing them between the parts needs no escaping.
type indexPage struct {
	head, mid, tail []byte
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
)

// prerenderIndex renders the page with the marks and cuts it at them. It
// returns nil, and the page is then rendered per request, if the marks are
// not each found exactly once, in order (say, a title that contains one).
func prerenderIndex(pages *template.Template, p Page) (*indexPage, error) {
	plain, err := cutIndex(pages, indexData{Page: p, Count1: mark1, Count2: mark2})
	if err != nil || plain == nil {
		return nil, err
	}
	voted, err := cutIndex(pages, indexData{Page: p, Count1: mark1, Count2: mark2, Note: markHour})
	if err != nil || voted == nil || !bytes.Equal(voted[0], plain[0]) || !bytes.Equal(voted[1], plain[1]) {
		return nil, err
	}
	noteHead, noteTail, ok := bytes.Cut(voted[2], []byte(markHour))
	if !ok || bytes.Contains(noteTail, []byte(markHour)) || bytes.Contains(plain[2], []byte(markHour)) {
		return nil, nil
	}
	return &indexPage{head: plain[0], mid: plain[1], tail: plain[2], noteHead: noteHead, noteTail: noteTail}, nil
}

// cutIndex renders the page with the marks and cuts it at the counts' marks
// into head, mid and tail; nil if the marks are not each found once, in
// order.
func cutIndex(pages *template.Template, data indexData) ([][]byte, error) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "index.html", data); err != nil {
		return nil, err
	}
	m1, m2 := []byte(strconv.FormatInt(mark1, 10)), []byte(strconv.FormatInt(mark2, 10))
	out := buf.Bytes()
	if bytes.Count(out, m1) != 1 || bytes.Count(out, m2) != 1 {
		return nil, nil
	}
	head, rest, _ := bytes.Cut(out, m1)
	mid, tail, ok := bytes.Cut(rest, m2)
	if !ok {
		return nil, nil
	}
	return [][]byte{head, mid, tail}, nil
}

// appendTo appends the page with the given counts to b and, when votedAt
// is set, the line saying which UTC hour the vote was counted in.
func (p *indexPage) appendTo(b []byte, count1, count2 int64, votedAt time.Time) []byte {
	// One allocation of the right size, not a doubling per part.
	b = slices.Grow(b, len(p.head)+len(p.mid)+max(len(p.tail), len(p.noteHead)+len(hourSpan)+len(p.noteTail))+40)
	b = append(b, p.head...)
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
