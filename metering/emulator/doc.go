// Package emulator is an in-process stand-in for the Azure Marketplace
// Metering Service API (api-version 2018-08-31), strict enough to test a
// metering client against before it meets the real service, and able to
// fail the way a real network does.
//
// # Using it
//
// An Emulator is an http.Handler. In a Go test, serve it and point the
// client's endpoint at <server>/api:
//
//	emu := emulator.New(emulator.Options{
//		Plans: map[string][]string{"basic": {"pervote"}},
//		Now:   clock.Now, // an injected clock makes the 24-hour window testable
//	})
//	srv := httptest.NewServer(emu)
//	defer srv.Close()
//	client := newClient(srv.URL + "/api") // any client of the API
//	// ... exercise the client, then assert on emu.Events() and emu.Stats().
//
// It matches any path ending in /api/usageEvent, /api/batchUsageEvent or
// /api/usageEvents, so it can also be mounted on a mux at "/api/" or under
// a prefix. Outside Go, run it as a server with
//
//	azure-vote emulator -addr :8090
//
// and send requests to http://localhost:8090/api, with any non-empty
// bearer token.
//
// # What it enforces
//
//   - api-version=2018-08-31 (400 otherwise) and "Authorization: Bearer
//     <token>" (403 otherwise; tokens are not validated unless
//     Options.Tokens is set);
//   - x-ms-requestid and x-ms-correlationid echoed, or generated;
//   - a JSON body (415 for another content type, 413 above 1 MiB, 400 when
//     malformed);
//   - each event: exactly one of resourceId (a GUID) and resourceUri (an
//     ARM id); a known resource, plan and dimension when Options lists
//     them; a quantity above 0; an effectiveStartTime neither in the future
//     nor more than 24 hours old;
//   - one event per resource, dimension and UTC calendar hour: the first
//     accepted wins, later ones are duplicates (409 with the accepted event,
//     or a Duplicate item in a batch), whatever their quantity or plan;
//   - batches of 1 to 25 events in {"request":[...]}, each answered with its
//     own status;
//   - GET usageEvents aggregating what was accepted per day, resource,
//     dimension and plan.
//
// Answers use the service's bodies and messages verbatim, including the
// zone-less "0001-01-01T00:00:00" messageTime of items it did not accept.
//
// What the documentation does not say, the emulator offers both ways of, so
// that a client can be tested against each:
//   - the order of the window and duplicate checks: by default the window
//     comes first, as the documentation implies (the time is validated with
//     the request), so a resend of a billed event after its window is
//     answered Expired; Options.DuplicateBeforeWindow answers it Duplicate;
//   - the order of a batch's results: as sent, or shuffled (ShuffleBatch);
//   - how soon GET usageEvents counts an event as processed
//     (ProcessingDelay: until then its row is reconStatus Submitted).
//
// Options.StateFile, with Open, keeps the accepted events across restarts.
//
// The emulator keys resources by their text (ignoring case): it cannot know
// that a resourceId and a resourceUri name the same resource, as the real
// service can.
//
// # Faults
//
// Options.Faults (or SetFaults at run time) injects 500 and 503 answers,
// 429 with Retry-After, latency, and dropped connections. Half of the drops
// (and all of DropAfterRate) happen after the event was recorded, so a
// client sees an error for an event that was billed and must never carry it. Draws come from a
// generator seeded with Faults.Seed, so a sequential test is reproducible.
package emulator
