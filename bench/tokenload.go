package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a voter's retries: an answer that does not come within
// voterTimeout is an error like any other, and a vote not acknowledged
// within voterGiveUp is given up.
const (
	voterTimeout = 5 * time.Second
	voterGiveUp  = 30 * time.Second
	retryFirst   = 100 * time.Millisecond
	retryMost    = time.Second
)

// tokenInput finds the vote form's one-time token:
// <input type="hidden" name="token" value="...">.
var (
	tokenInput = regexp.MustCompile(`<input[^>]*\bname="token"[^>]*>`)
	tokenValue = regexp.MustCompile(`\bvalue="([^"]*)"`)
)

// formToken is the token of the vote form on page, "" when it has none.
func formToken(page []byte) string {
	in := tokenInput.Find(page)
	if in == nil {
		return ""
	}
	m := tokenValue.FindSubmatch(in)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

// voterLoad is a crowd of voters as a careful browser client behaves: each
// reads the page for a token, posts its vote with it and, on an error or a
// timeout, sends the same vote with the same token again until it is
// acknowledged, which the token makes safe. A page without a token is voted
// on once: sending it again could count it twice.
type voterLoad struct {
	base    string
	client  *http.Transport
	stopped atomic.Bool
	wg      sync.WaitGroup

	acked     atomic.Int64
	gaveUp    atomic.Int64 // not acknowledged within voterGiveUp, or tokenless and failed
	retries   atomic.Int64
	withToken atomic.Int64
	noToken   atomic.Int64
	lastSent  atomic.Int64 // unix ns at which the latest acknowledged vote was first sent
	lastAck   atomic.Int64 // unix ns of the latest acknowledgement
	maxGap    atomic.Int64 // longest time between acknowledgements since the fault
	firstErr  atomic.Pointer[string]
}

func startVoterLoad(base string, voters int) *voterLoad {
	l := &voterLoad{base: base, client: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: voters,
		DisableCompression:  true,
	}}
	for i := range voters {
		choice := []string{vote1, vote2}[i%2]
		l.wg.Go(func() { l.voter(choice) })
	}
	return l
}

func (l *voterLoad) voter(choice string) {
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &http.Client{Transport: l.client, Jar: jar, Timeout: voterTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for !l.stopped.Load() {
		page, err := l.send(c, http.MethodGet, nil)
		if err != nil {
			time.Sleep(retryFirst) // the page is unavailable; no vote is pending
			continue
		}
		token := formToken(page)
		form := url.Values{"vote": {choice}}
		if token != "" {
			form.Set("token", token)
			l.withToken.Add(1)
		} else {
			l.noToken.Add(1)
		}
		l.vote(c, []byte(form.Encode()), token != "")
	}
}

// vote posts one vote until it is acknowledged, or gives it up.
func (l *voterLoad) vote(c *http.Client, body []byte, retry bool) {
	first := time.Now()
	wait := retryFirst
	for {
		_, err := l.send(c, http.MethodPost, body)
		if err == nil {
			l.acked.Add(1)
			storeMax(&l.lastSent, first.UnixNano())
			now := time.Now().UnixNano()
			if prev := l.lastAck.Swap(now); prev > 0 {
				storeMax(&l.maxGap, now-prev)
			}
			return
		}
		if !retry || time.Since(first) > voterGiveUp {
			l.gaveUp.Add(1)
			return
		}
		l.retries.Add(1)
		time.Sleep(wait)
		wait = min(2*wait, retryMost)
	}
}

// send makes one request and reads the whole answer; anything but 200 is an
// error.
func (l *voterLoad) send(c *http.Client, method string, form []byte) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(string(form))
	}
	req, err := http.NewRequestWithContext(context.Background(), method, l.base+"/", body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err == nil {
		var page []byte
		page, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			return page, nil
		}
		if err == nil {
			err = fmt.Errorf("%s /: %s", method, resp.Status)
		}
	}
	msg := err.Error()
	l.firstErr.CompareAndSwap(nil, &msg)
	return nil, err
}

// fault marks the start of a fault: the longest gap is measured from here.
func (l *voterLoad) fault() { l.maxGap.Store(0) }

// recovered waits until a vote first sent after ready has been acknowledged
// and returns the longest time without an acknowledgement since the fault.
func (l *voterLoad) recovered(ctx context.Context, ready time.Time, within time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(within)
	for l.lastSent.Load() <= ready.UnixNano() {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no vote acknowledged within %s of the fault's end (first error: %s)", within, l.firstError())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Duration(l.maxGap.Load()), nil
}

func (l *voterLoad) firstError() string {
	if p := l.firstErr.Load(); p != nil {
		return *p
	}
	return "none"
}

// stop lets every voter finish the vote it is sending, retries included,
// and waits for them.
func (l *voterLoad) stop() {
	l.stopped.Store(true)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
