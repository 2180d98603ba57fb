package metering_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
)

// An endpoint that refuses connections is named as such even when the
// caller's deadline ends the call while it waits to retry: the error says
// "connection refused", not only "context deadline exceeded".
func TestRefusedEndpointSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	client, err := metering.NewClient("http://"+addr+"/api", metering.StaticToken(secretToken), &metering.ClientOptions{
		ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 4, RetryDelay: time.Minute, MaxRetryDelay: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = client.UsageEvents(ctx, metering.UsageQuery{Start: time.Now().Add(-time.Hour)})
	var te *metering.TransportError
	if !errors.As(err, &te) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	for _, part := range []string{"connection refused", "after 1 try", "stopped waiting to retry"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error text %q lacks %q", err, part)
		}
	}
}
