package emulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

// A client's test serves the emulator and points the client at <server>/api.
func Example() {
	emu := emulator.New(emulator.Options{
		Plans: map[string][]string{"basic": {"pervote"}},
		Now:   func() time.Time { return time.Date(2026, 11, 22, 10, 17, 0, 0, time.UTC) },
	})
	srv := httptest.NewServer(emu)
	defer srv.Close()

	hour := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	ev := metering.NewUsageEvent("/subscriptions/1f2e3d4c-0000-4000-8000-00000000abcd/resourceGroups/rg", "basic", "pervote", hour, 42)
	body, err := json.Marshal(ev)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 { // the second send of the same hour is a duplicate
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/usageEvent?api-version="+metering.APIVersion, bytes.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		req.Header.Set("Authorization", "Bearer any-token")
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		res.Body.Close()
		fmt.Println(res.Status)
	}
	fmt.Println(len(emu.Events()), "event billed")
	// Output:
	// 200 OK
	// 409 Conflict
	// 1 event billed
}
