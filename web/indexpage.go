package web

import (
	"bytes"
	"html/template"
	"strconv"
)

// indexPage is the vote page rendered once, around its two counts: between
// requests only the counts change, and this page answers every vote. Counts
// are integers, so writing them between the parts needs no escaping.
type indexPage struct {
	head, mid, tail []byte
}

// Counts no store can hold, rendered in place of the real ones to find
// where the real ones go.
const (
	mark1 int64 = -9_000_000_000_000_000_001
	mark2 int64 = -9_000_000_000_000_000_002
)

// prerenderIndex renders the page with the marks and cuts it at them. It
// returns nil, and the page is then rendered per request, if the marks are
// not each found exactly once, in order (say, a title that contains one).
func prerenderIndex(pages *template.Template, p Page) (*indexPage, error) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "index.html", indexData{Page: p, Count1: mark1, Count2: mark2}); err != nil {
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
	return &indexPage{head: head, mid: mid, tail: tail}, nil
}

// appendTo appends the page with the given counts to b.
func (p *indexPage) appendTo(b []byte, count1, count2 int64) []byte {
	b = append(b, p.head...)
	b = strconv.AppendInt(b, count1, 10)
	b = append(b, p.mid...)
	b = strconv.AppendInt(b, count2, 10)
	return append(b, p.tail...)
}
