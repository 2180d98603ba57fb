package web

import (
	"bytes"
	"html/template"
	"strconv"
)

// indexData is what templates/index.html renders.
type indexData struct {
	Page
	Count1, Count2 int64
	Token          string // the form's vote token
}

// indexPage is the vote page rendered once, around its token and its two
// counts: between requests only they change, and this page answers every
// vote. Counts are integers and tokens base32, so writing them between the
// parts needs no escaping.
type indexPage struct {
	head, afterToken, afterCount1, tail []byte
}

// Values no request can hold, rendered in place of the real ones to find
// where the real ones go.
const (
	mark1     int64 = -9_000_000_000_000_000_001
	mark2     int64 = -9_000_000_000_000_000_002
	markToken       = "tokenmark7x9q2w4e6r8t0y"
)

// prerenderIndex renders the page with the marks and cuts it at them. It
// returns nil, and the page is then rendered per request, if the marks are
// not each found exactly once, in order (say, a title that contains one).
func prerenderIndex(pages *template.Template, p Page) (*indexPage, error) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "index.html", indexData{Page: p, Count1: mark1, Count2: mark2, Token: markToken}); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	marks := [][]byte{[]byte(markToken), []byte(strconv.FormatInt(mark1, 10)), []byte(strconv.FormatInt(mark2, 10))}
	for _, m := range marks {
		if bytes.Count(out, m) != 1 {
			return nil, nil
		}
	}
	parts := make([][]byte, 0, len(marks))
	for _, m := range marks {
		before, after, ok := bytes.Cut(out, m)
		if !ok {
			return nil, nil
		}
		parts, out = append(parts, before), after
	}
	return &indexPage{head: parts[0], afterToken: parts[1], afterCount1: parts[2], tail: out}, nil
}

// appendTo appends the page with the given token and counts to b.
func (p *indexPage) appendTo(b []byte, token string, count1, count2 int64) []byte {
	b = append(b, p.head...)
	b = append(b, token...)
	b = append(b, p.afterToken...)
	b = strconv.AppendInt(b, count1, 10)
	b = append(b, p.afterCount1...)
	b = strconv.AppendInt(b, count2, 10)
	return append(b, p.tail...)
}
